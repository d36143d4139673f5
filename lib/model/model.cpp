#include "model/model.hpp"

#include "core/error.hpp"

namespace alexnet {

bool operator==(const Preprocessing& a, const Preprocessing& b) {
    if (a.resize != b.resize || a.resize_shorter != b.resize_shorter || a.crop != b.crop || a.bgr != b.bgr ||
        a.pixel_scale != b.pixel_scale || a.channels != b.channels)
        return false;
    for (int c = 0; c < a.channels && c < 3; ++c)
        if (a.mean[c] != b.mean[c] || a.std[c] != b.std[c]) return false;
    return true;
}

const char* to_string(LayerKind kind) {
    switch (kind) {
        case LayerKind::conv: return "conv";
        case LayerKind::lrn: return "lrn";
        case LayerKind::max_pool: return "max_pool";
        case LayerKind::avg_pool: return "avg_pool";
        case LayerKind::adaptive_avg_pool: return "adaptive_avg_pool";
        case LayerKind::fc: return "fc";
        case LayerKind::softmax: return "softmax";
    }
    return "?";
}

const char* to_string(Activation act) {
    switch (act) {
        case Activation::none: return "none";
        case Activation::relu: return "relu";
        case Activation::tanh: return "tanh";
        case Activation::sigmoid: return "sigmoid";
        case Activation::leaky_relu: return "leaky-relu";
        case Activation::elu: return "elu";
    }
    return "?";
}

const std::vector<std::string>& activation_names() {
    static const std::vector<std::string> names{"relu", "tanh", "sigmoid", "leaky-relu", "elu"};
    return names;
}

Activation parse_activation(const std::string& where, const std::string& name) {
    for (Activation a : {Activation::relu, Activation::tanh, Activation::sigmoid, Activation::leaky_relu,
                         Activation::elu})
        if (name == to_string(a)) return a;
    std::string known;
    for (const auto& n : activation_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(where, "", "one of " + known, "'" + name + "'");
}

void set_hidden_activation(ModelSpec& spec, Activation act) {
    for (auto& l : spec.layers)
        if (l.has_params() && l.activation != Activation::none) l.activation = act;
}

Activation hidden_activation(const ModelSpec& spec) {
    for (const auto& l : spec.layers)
        if (l.has_params() && l.activation != Activation::none) return l.activation;
    return Activation::none;
}

std::string to_string(const Shape& s) {
    return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

int ModelSpec::num_classes() const {
    for (auto it = layers.rbegin(); it != layers.rend(); ++it)
        if (it->kind == LayerKind::fc) return it->out_channels;
    return 0;
}

const LayerSpec* ModelSpec::find(const std::string& name) const {
    for (const auto& l : layers)
        if (l.name == name) return &l;
    return nullptr;
}

const std::string& ModelSpec::classifier() const {
    for (auto it = layers.rbegin(); it != layers.rend(); ++it)
        if (it->kind == LayerKind::fc) return it->name;
    throw Error(arch, "layers", "an fc layer", "none");
}

int ModelSpec::index_of(const std::string& name) const {
    std::string known;
    for (size_t i = 0; i < layers.size(); ++i) {
        if (layers[i].name == name) return int(i);
        known += (i ? ", " : "") + layers[i].name;
    }
    throw Error("layer", name, "one of " + known, "'" + name + "'");
}

int ModelSpec::index_of_option(const std::string& name, const std::string& option) const {
    std::string known;
    for (size_t i = 0; i < layers.size(); ++i) {
        if (layers[i].name == name) return int(i);
        known += (i ? ", " : "") + layers[i].name;
    }
    throw Error(option, "", "a layer of " + arch + " (" + known + ")", "'" + name + "'");
}

LayerSpec conv_layer(const std::string& name, int out, int kernel, int stride, int pad, int groups, Activation act) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::conv;
    l.out_channels = out;
    l.kernel = kernel;
    l.stride = stride;
    l.pad = pad;
    l.groups = groups;
    l.activation = act;
    return l;
}

LayerSpec max_pool_layer(const std::string& name, bool ceil_mode, int kernel, int stride) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::max_pool;
    l.kernel = kernel;
    l.stride = stride;
    l.ceil_mode = ceil_mode;
    return l;
}

LayerSpec avg_pool_layer(const std::string& name, bool ceil_mode, int kernel, int stride) {
    LayerSpec l = max_pool_layer(name, ceil_mode, kernel, stride);
    l.kind = LayerKind::avg_pool;
    return l;
}

LayerSpec lrn_layer(const std::string& name, LrnParams params) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::lrn;
    l.lrn = params;
    return l;
}

LayerSpec adaptive_avg_pool_layer(const std::string& name, int out_h, int out_w) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::adaptive_avg_pool;
    l.out_h = out_h;
    l.out_w = out_w;
    return l;
}

LayerSpec fc_layer(const std::string& name, int out, Activation act) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::fc;
    l.out_channels = out;
    l.activation = act;
    return l;
}

LayerSpec softmax_layer(const std::string& name) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::softmax;
    return l;
}

namespace {

int pooled_size(int in, int kernel, int stride, int pad, bool ceil_mode) {
    int span = in + 2 * pad - kernel;
    if (span < 0) return 0;
    if (!ceil_mode) return span / stride + 1;
    int out = (span + stride - 1) / stride + 1;
    if (pad > 0 && (out - 1) * stride >= in + pad) --out;  // Caffe: last window must start inside
    return out;
}

}  // namespace

Shape output_shape(const LayerSpec& l, const Shape& in) {
    switch (l.kind) {
        case LayerKind::conv:
            return {l.out_channels, (in.h + 2 * l.pad - l.kernel) / l.stride + 1,
                    (in.w + 2 * l.pad - l.kernel) / l.stride + 1};
        case LayerKind::max_pool:
        case LayerKind::avg_pool:
            return {in.c, pooled_size(in.h, l.kernel, l.stride, l.pad, l.ceil_mode),
                    pooled_size(in.w, l.kernel, l.stride, l.pad, l.ceil_mode)};
        case LayerKind::adaptive_avg_pool: return {in.c, l.out_h, l.out_w};
        case LayerKind::fc: return {l.out_channels, 1, 1};
        case LayerKind::lrn:
        case LayerKind::softmax: return in;
    }
    return in;
}

std::vector<Shape> infer_shapes(const ModelSpec& spec) {
    std::vector<Shape> shapes;
    Shape cur = spec.input;
    for (const auto& l : spec.layers) {
        if (l.kind == LayerKind::conv) {
            check(l.groups > 0 && cur.c % l.groups == 0 && l.out_channels % l.groups == 0,
                  spec.arch + " layer " + l.name, "groups",
                  "a divisor of input channels " + std::to_string(cur.c) + " and output channels " +
                      std::to_string(l.out_channels),
                  std::to_string(l.groups));
            check(cur.h + 2 * l.pad >= l.kernel && cur.w + 2 * l.pad >= l.kernel,
                  spec.arch + " layer " + l.name, "input",
                  "at least " + std::to_string(l.kernel) + "x" + std::to_string(l.kernel) +
                      " after padding",
                  to_string(cur));
        }
        Shape out = output_shape(l, cur);
        check(out.c > 0 && out.h > 0 && out.w > 0, spec.arch + " layer " + l.name, "output shape",
              "non-empty", to_string(out) + " from input " + to_string(cur));
        shapes.push_back(out);
        cur = out;
    }
    return shapes;
}

namespace {

// One row per preset: everything that differs between them. make_preset() turns a row into the
// layer table.
struct PresetRow {
    const char* name;
    int channels, size;               // input
    int conv[5];                      // conv1..conv5 widths
    int fc;                           // fc6, fc7 width
    int conv1_kernel, conv1_stride, conv1_pad, conv2_kernel;
    int groups;                       // of conv2, conv4, conv5
    bool lrn, pool_before_lrn;        // LRN after relu1/relu2; caffenet pools first
    bool ceil_pooling;                // Caffe rounds pooled sizes up
    bool adaptive_pool;               // torchvision's AdaptiveAvgPool2d((6, 6))
    Preprocessing preprocessing;
};

constexpr Preprocessing kCaffePreprocessing{256, false, 227, true, 255.f, {104.f, 117.f, 123.f}, {1.f, 1.f, 1.f}, 3};
constexpr Preprocessing kTorchvisionPreprocessing{
    256, true, 224, false, 1.f, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 3};
// Fashion-MNIST: 28x28 grey, scaled to [0, 1], normalised by the training set's mean and std.
constexpr Preprocessing kFashionMnistPreprocessing{28, false, 28, false, 1.f, {0.2860f, 0.f, 0.f}, {0.3530f, 1.f, 1.f}, 1};
// CIFAR-10: 32x32 RGB, the training set's per-channel mean and std on the 0..1 scale.
constexpr Preprocessing kCifarPreprocessing{
    32, false, 32, false, 1.f, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}, 3};

const PresetRow kPresets[] = {
    {"alexnet", 3, 227, {96, 256, 384, 384, 256}, 4096, 11, 4, 0, 5, 2, true, false, true, false, kCaffePreprocessing},
    {"caffenet", 3, 227, {96, 256, 384, 384, 256}, 4096, 11, 4, 0, 5, 2, true, true, true, false, kCaffePreprocessing},
    {"alexnet-tv", 3, 224, {64, 192, 384, 256, 256}, 4096, 11, 4, 2, 5, 1, false, false, false, true,
     kTorchvisionPreprocessing},
    // A small AlexNet for 28x28 grey images (Fashion-MNIST): the same eight layers, LRN and
    // overlapping pooling, with 5x5 stride-1 conv1 because the images are small.
    {"alexnet-28", 1, 28, {32, 64, 96, 96, 64}, 512, 5, 1, 2, 5, 1, true, false, true, false,
     kFashionMnistPreprocessing},
    // The same for 32x32 colour images (CIFAR-10).
    {"alexnet-32", 3, 32, {32, 64, 96, 96, 64}, 512, 5, 1, 2, 5, 1, true, false, true, false, kCifarPreprocessing},
};

// The paper's Figure 1 network: "a four-layer convolutional neural network", three conv layers
// and a classifier as in cuda-convnet's CIFAR-10 layouts (layers-18pct: 5x5 convs of 32, 32, 64
// filters, each followed by 3x3 stride-2 pooling), without response normalisation and with max
// pooling throughout. For 32x32 colour input by default; PresetOptions adapt it to other sets.
constexpr const char* kConvnet4 = "convnet-4";
// The network of the paper's Figure 1 as cuda-convnet's example-layers/layers-18pct.cfg and
// layer-params-18pct.cfg define it: conv1 5x5x32 pad 2 -> max pool 3/2 -> relu -> rnorm1 (within
// a map, size 3, scale 5e-5, pow 0.75) -> conv2 5x5x32 pad 2 + relu -> avg pool 3/2 -> rnorm2 ->
// conv3 5x5x64 pad 2 + relu -> avg pool 3/2 -> fc10. cuda-convnet applies conv1's relu after the
// max pool; max commutes with every monotone activation, so here it sits on conv1 as elsewhere.
// Its pools round up (outputsX = ceil((size - 3) / 2) + 1) and its averages divide by the pixels
// inside the image.
constexpr const char* kConvnet18pct = "convnet-18pct";

const PresetRow& find_preset(const std::string& arch) {
    for (const auto& row : kPresets)
        if (arch == row.name) return row;
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("--arch", "", "one of " + known, "'" + arch + "'");
}

}  // namespace

const std::vector<std::string>& preset_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto& row : kPresets) out.push_back(row.name);
        out.push_back(kConvnet4);
        out.push_back(kConvnet18pct);
        return out;
    }();
    return names;
}

namespace {

// convnet-4 and convnet-18pct: for 32x32 colour input by default; PresetOptions adapt them to other
// sets.
ModelSpec make_convnet(const std::string& arch, const PresetOptions& options) {
    check(options.num_classes > 0, "preset " + arch, "num_classes", "> 0", std::to_string(options.num_classes));
    std::vector<int> ch{32, 32, 64};
    if (!options.conv_channels.empty()) {
        check(options.conv_channels.size() == 3, "preset " + arch, "conv_channels", "3 values",
              std::to_string(options.conv_channels.size()));
        ch = options.conv_channels;
    }
    ModelSpec m;
    m.arch = arch;
    const int size = options.input_size > 0 ? options.input_size : 32;
    m.preprocessing = kCifarPreprocessing;
    if (options.input_channels == 1) m.preprocessing = kFashionMnistPreprocessing;
    const bool cuda_convnet = arch == kConvnet18pct;
    if (cuda_convnet) {  // cuda-convnet feeds pixels minus the mean on the 0..255 scale, unscaled
        Preprocessing& pp = m.preprocessing;
        for (int c = 0; c < pp.channels; ++c) pp.mean[c] *= 255.f, pp.std[c] = 1.f;
        pp.pixel_scale = 255.f;
    }
    m.preprocessing.resize = m.preprocessing.crop = size;
    m.input = {m.preprocessing.channels, size, size};
    const LrnParams rnorm{3, 5e-5f, 0.75f, 1.f, true};
    for (int i = 0; i < 3; ++i) {
        const std::string idx = std::to_string(i + 1);
        m.layers.push_back(conv_layer("conv" + idx, ch[size_t(i)], 5, 1, 2));
        m.layers.push_back(cuda_convnet && i > 0 ? avg_pool_layer("pool" + idx, true) : max_pool_layer("pool" + idx, true));
        if (cuda_convnet && i < 2) m.layers.push_back(lrn_layer("rnorm" + idx, rnorm));
    }
    m.layers.push_back(fc_layer(cuda_convnet ? "fc10" : "fc4", options.num_classes, Activation::none));
    m.layers.push_back(softmax_layer("prob"));
    infer_shapes(m);
    return m;
}

}  // namespace

ModelSpec make_preset(const std::string& arch, const PresetOptions& options) {
    check(options.input_channels == 0 || options.input_channels == 1 || options.input_channels == 3,
          "preset " + arch, "input_channels", "1 or 3", std::to_string(options.input_channels));
    if (arch == kConvnet4 || arch == kConvnet18pct) return make_convnet(arch, options);
    const PresetRow& row = find_preset(arch);
    std::vector<int> ch(row.conv, row.conv + 5);
    if (!options.conv_channels.empty()) {
        check(options.conv_channels.size() == 5, "preset " + arch, "conv_channels", "5 values",
              std::to_string(options.conv_channels.size()));
        ch = options.conv_channels;
    }
    check(options.num_classes > 0, "preset " + arch, "num_classes", "> 0", std::to_string(options.num_classes));
    const int fc_width = options.fc_width > 0 ? options.fc_width : row.fc;

    ModelSpec m;
    m.arch = arch;
    const int size = options.input_size > 0 ? options.input_size : row.size;
    m.input = {row.channels, size, size};
    m.preprocessing = row.preprocessing;
    m.preprocessing.crop = size;
    if (row.preprocessing.resize != row.preprocessing.crop)  // keep the preset's resize margin
        m.preprocessing.resize = size + (row.preprocessing.resize - row.preprocessing.crop);
    else
        m.preprocessing.resize = size;

    auto& L = m.layers;
    auto block = [&](LayerSpec c, const std::string& idx) {
        L.push_back(c);
        if (!row.lrn) {
            L.push_back(max_pool_layer("pool" + idx, row.ceil_pooling));
        } else if (row.pool_before_lrn) {
            L.push_back(max_pool_layer("pool" + idx, row.ceil_pooling));
            L.push_back(lrn_layer("norm" + idx));
        } else {
            L.push_back(lrn_layer("norm" + idx));
            L.push_back(max_pool_layer("pool" + idx, row.ceil_pooling));
        }
    };
    block(conv_layer("conv1", ch[0], row.conv1_kernel, row.conv1_stride, row.conv1_pad), "1");
    block(conv_layer("conv2", ch[1], row.conv2_kernel, 1, row.conv2_kernel / 2, row.groups), "2");
    L.push_back(conv_layer("conv3", ch[2], 3, 1, 1));
    L.push_back(conv_layer("conv4", ch[3], 3, 1, 1, row.groups));
    L.push_back(conv_layer("conv5", ch[4], 3, 1, 1, row.groups));
    L.push_back(max_pool_layer("pool5", row.ceil_pooling));
    if (row.adaptive_pool) L.push_back(adaptive_avg_pool_layer("avgpool", 6, 6));
    L.push_back(fc_layer("fc6", fc_width, Activation::relu));
    L.push_back(fc_layer("fc7", fc_width, Activation::relu));
    L.push_back(fc_layer("fc8", options.num_classes, Activation::none));
    L.push_back(softmax_layer("prob"));
    infer_shapes(m);
    return m;
}

std::vector<ParamSpec> param_specs(const ModelSpec& spec) {
    std::vector<ParamSpec> out;
    Shape cur = spec.input;
    for (const auto& l : spec.layers) {
        if (l.kind == LayerKind::conv) {
            out.push_back({l.name + ".weight", {l.out_channels, cur.c / l.groups, l.kernel, l.kernel}});
            out.push_back({l.name + ".bias", {l.out_channels}});
        } else if (l.kind == LayerKind::fc) {
            out.push_back({l.name + ".weight", {l.out_channels, cur.size()}});
            out.push_back({l.name + ".bias", {l.out_channels}});
        }
        cur = output_shape(l, cur);
    }
    return out;
}

int64_t ParamLayout::numel(size_t i) const {
    int64_t n = 1;
    for (int64_t d : tensors[i].shape) n *= d;
    return n;
}

int ParamLayout::index_of(const std::string& name) const {
    for (size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].name == name) return int(i);
    return -1;
}

ParamLayout param_layout(const ModelSpec& spec) {
    ParamLayout p;
    p.tensors = param_specs(spec);
    for (size_t i = 0; i < p.tensors.size(); ++i) {
        p.offset.push_back(p.total);
        p.total += p.numel(i);
    }
    return p;
}

}  // namespace alexnet
