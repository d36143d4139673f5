#include "model/model.hpp"

#include "core/error.hpp"

namespace alexnet {

const char* to_string(LayerKind kind) {
    switch (kind) {
        case LayerKind::conv: return "conv";
        case LayerKind::lrn: return "lrn";
        case LayerKind::max_pool: return "max_pool";
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
    }
    return "?";
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

int ModelSpec::index_of(const std::string& name) const {
    std::string known;
    for (size_t i = 0; i < layers.size(); ++i) {
        if (layers[i].name == name) return int(i);
        known += (i ? ", " : "") + layers[i].name;
    }
    throw Error("layer", name, "one of " + known, "'" + name + "'");
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

const std::vector<std::string>& preset_names() {
    static const std::vector<std::string> names = {"alexnet", "caffenet", "alexnet-tv"};
    return names;
}

namespace {

LayerSpec conv(const std::string& name, int out, int kernel, int stride, int pad, int groups = 1) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::conv;
    l.out_channels = out;
    l.kernel = kernel;
    l.stride = stride;
    l.pad = pad;
    l.groups = groups;
    l.activation = Activation::relu;
    return l;
}

LayerSpec max_pool(const std::string& name, bool ceil_mode) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::max_pool;
    l.kernel = 3;
    l.stride = 2;
    l.ceil_mode = ceil_mode;
    return l;
}

LayerSpec lrn(const std::string& name) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::lrn;
    return l;
}

LayerSpec fc(const std::string& name, int out, Activation act) {
    LayerSpec l;
    l.name = name;
    l.kind = LayerKind::fc;
    l.out_channels = out;
    l.activation = act;
    return l;
}

}  // namespace

ModelSpec make_preset(const std::string& arch, const PresetOptions& options) {
    const bool caffe_family = arch == "alexnet" || arch == "caffenet";
    if (!caffe_family && arch != "alexnet-tv") {
        std::string known;
        for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
        throw Error("--arch", "", "one of " + known, "'" + arch + "'");
    }
    std::vector<int> ch = caffe_family ? std::vector<int>{96, 256, 384, 384, 256}
                                       : std::vector<int>{64, 192, 384, 256, 256};
    if (!options.conv_channels.empty()) {
        check(options.conv_channels.size() == 5, "preset " + arch, "conv_channels", "5 values",
              std::to_string(options.conv_channels.size()));
        ch = options.conv_channels;
    }
    const int fc_width = options.fc_width > 0 ? options.fc_width : 4096;
    check(options.num_classes > 0, "preset " + arch, "num_classes", "> 0",
          std::to_string(options.num_classes));

    ModelSpec m;
    m.arch = arch;
    const int size = options.input_size > 0 ? options.input_size : (caffe_family ? 227 : 224);
    m.input = {3, size, size};
    auto& L = m.layers;
    if (caffe_family) {
        const bool pool_first = arch == "caffenet";  // caffenet: relu -> pool -> LRN
        auto block = [&](LayerSpec c, const std::string& idx) {
            L.push_back(c);
            if (pool_first) {
                L.push_back(max_pool("pool" + idx, true));
                L.push_back(lrn("norm" + idx));
            } else {
                L.push_back(lrn("norm" + idx));
                L.push_back(max_pool("pool" + idx, true));
            }
        };
        block(conv("conv1", ch[0], 11, 4, 0), "1");
        block(conv("conv2", ch[1], 5, 1, 2, 2), "2");
        L.push_back(conv("conv3", ch[2], 3, 1, 1));
        L.push_back(conv("conv4", ch[3], 3, 1, 1, 2));
        L.push_back(conv("conv5", ch[4], 3, 1, 1, 2));
        L.push_back(max_pool("pool5", true));
    } else {
        L.push_back(conv("conv1", ch[0], 11, 4, 2));
        L.push_back(max_pool("pool1", false));
        L.push_back(conv("conv2", ch[1], 5, 1, 2));
        L.push_back(max_pool("pool2", false));
        L.push_back(conv("conv3", ch[2], 3, 1, 1));
        L.push_back(conv("conv4", ch[3], 3, 1, 1));
        L.push_back(conv("conv5", ch[4], 3, 1, 1));
        L.push_back(max_pool("pool5", false));
        LayerSpec avg;
        avg.name = "avgpool";
        avg.kind = LayerKind::adaptive_avg_pool;
        avg.out_h = avg.out_w = 6;
        L.push_back(avg);
        Preprocessing& p = m.preprocessing;
        p.resize = 256;
        p.resize_shorter = true;
        p.crop = 224;
        p.bgr = false;
        p.pixel_scale = 1.f;
        const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
        for (int i = 0; i < 3; ++i) p.mean[i] = mean[i], p.std[i] = stdv[i];
    }
    L.push_back(fc("fc6", fc_width, Activation::relu));
    L.push_back(fc("fc7", fc_width, Activation::relu));
    L.push_back(fc("fc8", options.num_classes, Activation::none));
    LayerSpec prob;
    prob.name = "prob";
    prob.kind = LayerKind::softmax;
    L.push_back(prob);
    m.preprocessing.crop = size;
    if (caffe_family) m.preprocessing.resize = size + 29;  // 256 for 227, as Caffe's deploy
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

}  // namespace alexnet
