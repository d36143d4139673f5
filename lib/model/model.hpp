#pragma once
// A model is data: a table of layer specs plus shape inference. Presets are entries built by
// make_preset(), never separate code paths.
#include <cstdint>
#include <string>
#include <vector>

namespace alexnet {

// avg_pool: the mean over the window's pixels inside the image (cuda-convnet's and oneDNN's
// exclude-padding average; ceil-mode windows that run over the edge are clipped).
enum class LayerKind { conv, lrn, max_pool, avg_pool, adaptive_avg_pool, fc, softmax };
// leaky_relu: slope 0.01 below zero (PyTorch's default); elu: alpha 1.
enum class Activation { none, relu, tanh, sigmoid, leaky_relu, elu };
constexpr float kLeakyReluSlope = 0.01f, kEluAlpha = 1.0f;

const char* to_string(LayerKind kind);
const char* to_string(Activation act);  // relu, tanh, sigmoid, leaky-relu, elu, none
Activation parse_activation(const std::string& where, const std::string& name);  // throws Error
const std::vector<std::string>& activation_names();  // the hidden-layer choices

struct Shape {  // one image's activation, (C, H, W); fc outputs are (C, 1, 1)
    int c = 0, h = 0, w = 0;
    int64_t size() const { return int64_t(c) * h * w; }
    bool operator==(const Shape&) const = default;
};
std::string to_string(const Shape& s);

// Across channels: b = a / (k + alpha/size * sum a^2)^beta over `size` neighbouring maps at the same
// pixel (Caffe/oneDNN form). Within a map (`within_map`): the sum runs over the size x size pixels
// around it in the same map, and alpha is divided by size^2: cuda-convnet's `rnorm` layer (its
// `scale` is this alpha, k = 1) and oneDNN's lrn_within_channel. Pixels outside the image add 0.
struct LrnParams {
    int size = 5;
    float alpha = 1e-4f, beta = 0.75f, k = 1.0f;
    bool within_map = false;
};

struct LayerSpec {
    std::string name;  // canonical: conv1, norm1, pool1, ..., fc8, prob
    LayerKind kind = LayerKind::conv;
    int out_channels = 0;          // conv, fc
    int kernel = 0, stride = 1, pad = 0;
    int groups = 1;                // conv
    bool ceil_mode = false;        // max_pool, avg_pool: Caffe rounds the output size up, PyTorch down
    int out_h = 0, out_w = 0;      // adaptive_avg_pool
    LrnParams lrn;                 // lrn
    Activation activation = Activation::none;  // applied after conv/fc
    bool has_params() const { return kind == LayerKind::conv || kind == LayerKind::fc; }
};

// Layer constructors for tables and tests.
LayerSpec conv_layer(const std::string& name, int out, int kernel, int stride, int pad, int groups = 1,
                     Activation act = Activation::relu);
LayerSpec max_pool_layer(const std::string& name, bool ceil_mode, int kernel = 3, int stride = 2);
LayerSpec avg_pool_layer(const std::string& name, bool ceil_mode, int kernel = 3, int stride = 2);
LayerSpec lrn_layer(const std::string& name, LrnParams params = {});
LayerSpec adaptive_avg_pool_layer(const std::string& name, int out_h, int out_w);
LayerSpec fc_layer(const std::string& name, int out, Activation act);
LayerSpec softmax_layer(const std::string& name);

struct Preprocessing {
    int resize = 256;           // target of the resize step
    bool resize_shorter = false;  // true: shorter side to `resize`, keep aspect; false: warp square
    int crop = 227;
    bool bgr = true;            // channel order fed to the network
    float pixel_scale = 255.f;  // pixel values are in [0, pixel_scale] before mean/std
    float mean[3] = {104.f, 117.f, 123.f};  // in network channel order
    float std[3] = {1.f, 1.f, 1.f};
    int channels = 3;           // 1: grey images (converted from colour when needed)
};
// The same steps to the last value (mean and std compared over `channels`).
bool operator==(const Preprocessing& a, const Preprocessing& b);
inline bool operator!=(const Preprocessing& a, const Preprocessing& b) { return !(a == b); }

struct ModelSpec {
    std::string arch;
    Shape input;
    std::vector<LayerSpec> layers;
    Preprocessing preprocessing;
    int num_classes() const;
    const LayerSpec* find(const std::string& name) const;
    int index_of(const std::string& name) const;  // throws Error listing the known layers
    // index_of for a name the user gave with `option` (--layer): the error names the option.
    int index_of_option(const std::string& name, const std::string& option) const;
    const std::string& classifier() const;        // the last fc layer (fc8 in the AlexNet presets)
};

// Per-layer output shapes; throws Error naming the layer whose output would be empty.
std::vector<Shape> infer_shapes(const ModelSpec& spec);
// The activation of every hidden conv/fc layer (those that have one), e.g. tanh for the paper's
// Figure 1 comparison; `hidden_activation` reads it back (relu for the presets).
void set_hidden_activation(ModelSpec& spec, Activation act);
Activation hidden_activation(const ModelSpec& spec);
Shape output_shape(const LayerSpec& layer, const Shape& in);

struct PresetOptions {
    int num_classes = 1000;
    // Narrow versions for tests: conv1..conv5 and fc6/fc7 widths; 0 keeps the preset's.
    std::vector<int> conv_channels;
    int fc_width = 0;
    int input_size = 0;  // 0 keeps the preset's (227 or 224)
    int input_channels = 0;  // convnet-4, convnet-18pct only: 1 (grey) or 3; 0 keeps the preset's
};

const std::vector<std::string>& preset_names();
ModelSpec make_preset(const std::string& arch, const PresetOptions& options = {});

// Parameter tensors of a layer in canonical names and PyTorch layouts.
struct ParamSpec {
    std::string name;              // e.g. "conv2.weight"
    std::vector<int64_t> shape;    // conv [out, in/groups, kh, kw], fc [out, in], bias [out]
};
std::vector<ParamSpec> param_specs(const ModelSpec& spec);

// All parameters in one flat arena (as llm.c keeps them): tensor i lives at offset[i], in
// param_specs() order and PyTorch layout. Gradients and momentum use the same layout.
struct ParamLayout {
    std::vector<ParamSpec> tensors;
    std::vector<int64_t> offset;
    int64_t total = 0;
    int64_t numel(size_t i) const;
    int index_of(const std::string& name) const;  // -1 when absent
};
ParamLayout param_layout(const ModelSpec& spec);

}  // namespace alexnet
