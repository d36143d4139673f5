#pragma once
// Inference precisions (DESIGN.md section 5) and the per-layer plan both the oneDNN network and
// its naive reference twin follow, so the two compute the same thing:
//  - fp32: everything in f32 (the default, exact against PyTorch);
//  - bf16: conv/fc read and write bf16 with bf16 weights and f32 accumulation, LRN and pooling in
//    bf16, the last layer writes f32;
//  - int8: conv/fc layers with s8 weights (a quantized model) read u8 (after ReLU) or s8 (signed
//    tensors, conv only) and write u8 when ReLU feeds another int8 consumer (requantisation and
//    ReLU fused), else f32; max pooling runs on what it is given; LRN, uneven adaptive pooling and
//    any layer that cannot be int8 run in f32.
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/quantization.hpp"
#include "model/weights.hpp"

namespace alexnet {

enum class Precision { fp32, bf16, int8 };
const char* to_string(Precision p);
Precision parse_precision(const std::string& where, const std::string& text);  // throws Error

// oneDNN's effective ISA on this CPU, e.g. "avx2", "avx512_core_bf16" (ONEDNN_MAX_CPU_ISA caps it).
std::string cpu_isa_name();
// The CPU's model name ("AMD EPYC 9R45", from /proc/cpuinfo), or "unknown CPU".
std::string cpu_model_name();
// Throws Error when this CPU cannot run `p`: bf16 needs AVX512-BF16, int8 at least AVX2.
void require_precision_support(Precision p);
bool precision_supported(Precision p);
// Without VNNI, oneDNN's u8 x s8 kernels add pairs of products in 16 bits with saturation, so
// int8 weights are halved to 7 bits ([-64, 64]) there (oneDNN does the same itself for s8 inputs).
bool cpu_has_vnni();

enum class DType { f32, bf16, u8, s8 };
const char* to_string(DType t);
inline bool is_int8(DType t) { return t == DType::u8 || t == DType::s8; }

struct LayerPlan {
    DType src = DType::f32, dst = DType::f32;  // what the layer reads and writes
    float src_scale = 1, dst_scale = 1;        // real = stored * scale (1 for float types)
    bool int8_weights = false;                 // conv/fc on s8 weights
    bool halve_weights = false;                // 7-bit weights (no VNNI)
    std::string note;                          // why a conv/fc layer stayed float
};

// Whether each tensor is known to be >= 0 by the rules the plan uses (index 0: the network input,
// i + 1: layer i's output): after ReLU or sigmoid, through LRN and pooling. Such tensors are u8.
std::vector<bool> known_nonnegative(const ModelSpec& spec);

// Layers 0..last of `spec` at `precision`; for int8, `w` must hold a quantized model (`q` its
// activation scales; a conv/fc without X.weight_scale stays float, noted).
std::vector<LayerPlan> plan_precision(const ModelSpec& spec, int last, const Weights& w, const Quantization& q,
                                      Precision precision, bool halve_weights);

// One line per precision for the user: "int8: conv1 s8->f32, norm1 f32, ..., fc8 u8->f32 (fc7 stays f32: ...)".
std::string describe(const ModelSpec& spec, const std::vector<LayerPlan>& plan);

// An int8 conv/fc layer's f32 bias in accumulator units (bias / (src_scale * step)) and its output
// scales (src_scale * step / dst_scale) per channel, the step doubled where the weights are halved.
struct Int8Layer {
    std::vector<float> bias;
    std::vector<float> output_scale;
};
// `w` has passed read_quantization (its int8 layers' weights are integers in [-127, 127]).
Int8Layer int8_layer(const LayerSpec& l, const Weights& w, const LayerPlan& plan);
// Values [begin, begin + n) of an int8 layer's weight tensor `t` (PyTorch layout) into `out` as
// the layer runs them: halved with ties to even when `halve`. `t` holds s8 values or
// integer-valued floats (both checked by read_quantization).
void int8_weights(const Tensor& t, int64_t begin, int64_t n, bool halve, int8_t* out);

// The number with which a tensor stored with scale `from` is multiplied to be stored with scale
// `to` (real = stored * scale; float types have scale 1).
inline float rescale(float from, float to) { return from / to; }

// Round to nearest even and saturate into `t` (u8 or s8), as oneDNN stores int8 results.
float saturate_round(float x, DType t);
// Round to the nearest bf16, ties to even (what oneDNN's f32 -> bf16 conversion does).
float round_to_bf16(float x);

}  // namespace alexnet
