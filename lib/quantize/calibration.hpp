#pragma once
// Post-training quantization (DESIGN.md section 5): per-output-channel s8 weights, and one step
// per activation tensor chosen from that tensor's values on calibration images by one of several
// methods (as TensorRT's and oneDNN's calibrators do): the largest value, a percentile of |x|, or
// the clipping threshold whose 8-bit histogram loses the least information (KL divergence).
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/quantization.hpp"
#include "model/weights.hpp"

namespace alexnet {

// |x| of one tensor over the calibration images: its largest value, then a histogram of
// kHistogramBins bins over [0, max].
struct TensorHistogram {
    static constexpr int kBins = 2048;
    std::string name;   // "input" or a layer name
    bool nonnegative = false;  // stored as u8 (255 levels) rather than s8 (127)
    float max_abs = 0;
    std::vector<double> counts;
    void add_max(const float* x, size_t n);
    void add_counts(const float* x, size_t n);  // after every add_max
    double total() const;
};

// The tensors' values over `inputs` (n images of spec.input), computed in fp32 layer by layer
// (two passes: ranges, then histograms).
std::vector<TensorHistogram> collect_histograms(const ModelSpec& spec, Weights& weights, const std::vector<float>& inputs,
                                                int n, int batch);

// "minmax", "percentile-99.99" (any percentile), "entropy".
float clip_threshold(const TensorHistogram& h, const std::string& method);
const std::vector<std::string>& calibration_methods();  // the candidates alexnet-quantize tries

// Steps (threshold / 255 for u8 tensors, / 127 for s8) of every tensor by `method`.
Quantization activation_scales(const std::vector<TensorHistogram>& hists, const std::string& method);

// Every conv/fc weight per output channel to s8 with X.weight_scale, biases as they are (views);
// the names of the s8 tensors in `int8_names`. Layers in `keep_float` stay f32 (views).
Weights quantize_weights(const ModelSpec& spec, const Weights& weights, const std::vector<std::string>& keep_float,
                         std::vector<std::string>& int8_names);

}  // namespace alexnet
