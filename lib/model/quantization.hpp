#pragma once
// What makes a model file int8 (DESIGN.md section 5, "Precision"): s8 weights per output channel
// and one scale per activation tensor, symmetric (real = q * scale, zero point 0).
//  - `X.weight` holds the s8 values (stored as I8 and held as s8, model/weights.hpp; integer-
//    valued floats are accepted too) and `X.weight_scale` (F32, [out]) each output channel's step;
//  - `__metadata__.quantization` is JSON: {"scheme", "method", "activation_scales": {"input": s,
//    "conv1": s, "norm1": s, ...}} with the step of each layer's output (u8 after ReLU, s8 for
//    signed tensors such as the network input) as measured on calibration images.
// A conv/fc layer without `X.weight_scale` stays float.
#include <map>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet {

constexpr int kWeightLevels = 127;  // s8 weights in [-127, 127]

struct Quantization {
    std::string method;                          // how the activation scales were chosen
    std::map<std::string, float> activation_scale;  // tensor ("input" or a layer name) -> step
    bool empty() const { return activation_scale.empty(); }
    // The step of `tensor`; throws Error naming the file's metadata when it is missing.
    float scale_of(const std::string& tensor) const;
};

// The metadata key and its JSON.
constexpr const char* kQuantizationKey = "quantization";
std::string to_json(const Quantization& q);
Quantization parse_quantization(const std::string& where, const std::string& json);

// The model's quantization (empty for a float model); checks every X.weight_scale against its
// layer and every quantized weight for integer values in [-127, 127].
Quantization read_quantization(const std::string& where, const ModelSpec& spec, const Weights& w);
// The index of the first value that is not an integer in [-127, 127] (NaN included; -128 for s8),
// or -1.
int64_t first_non_int8(const float* x, int64_t n);
int64_t first_non_int8(const int8_t* x, int64_t n);

// Per output channel: step = max|w| / 127 over the channel's weights, q = round(w / step).
// Writes the s8 values into `q` and the steps into `scale` (1 for an all-zero channel).
void quantize_per_channel(const float* w, int64_t out_channels, int64_t per_channel, int8_t* q, float* scale);

// Quantized layer `l`'s real weights, q * step per output channel (X.weight s8 or integer-valued
// floats, X.weight_scale its steps).
std::vector<float> dequantized(const LayerSpec& l, const Weights& w);

// The int8 layers' weights back to floats (q * step) and the scales removed, so a quantized model
// runs in fp32 or bf16 ("what the int8 weights alone cost").
void dequantize_weights(const ModelSpec& spec, Weights& w);

}  // namespace alexnet
