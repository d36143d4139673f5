#include "convert/torchvision_names.hpp"

#include <map>

#include "core/error.hpp"
#include "formats/model_file.hpp"

namespace alexnet {

namespace {

// Our layer names and torchvision's modules (torchvision/models/alexnet.py).
const std::map<std::string, std::string> kTorchvisionModules{
    {"conv1", "features.0"}, {"pool1", "features.2"},  {"conv2", "features.3"},   {"pool2", "features.5"},
    {"conv3", "features.6"}, {"conv4", "features.8"},  {"conv5", "features.10"},  {"pool5", "features.12"},
    {"avgpool", "avgpool"},  {"fc6", "classifier.1"},  {"fc7", "classifier.4"},   {"fc8", "classifier.6"},
    {"prob", "softmax (applied to its output)"}};

std::string describe(const LayerSpec& l) {
    const std::string window = std::to_string(l.kernel) + "x" + std::to_string(l.kernel) + " stride " +
                               std::to_string(l.stride) + " pad " + std::to_string(l.pad);
    const std::string act = l.activation == Activation::none ? "" : std::string(" + ") + to_string(l.activation);
    switch (l.kind) {
        case LayerKind::conv:
            return "conv " + window + (l.groups > 1 ? " in " + std::to_string(l.groups) + " groups" : "") + act;
        case LayerKind::max_pool:
        case LayerKind::avg_pool:
            return std::string(l.kind == LayerKind::max_pool ? "max" : "average") + " pool " + window +
                   (l.ceil_mode ? " rounding up" : " rounding down");
        case LayerKind::lrn: return l.lrn.within_map ? "LRN within a map" : "LRN across channels";
        case LayerKind::adaptive_avg_pool:
            return "adaptive average pool to " + std::to_string(l.out_h) + "x" + std::to_string(l.out_w);
        case LayerKind::fc: return "fc" + act;
        case LayerKind::softmax: return "softmax";
    }
    return "?";
}

// The same layer up to its width.
bool same_layer(const LayerSpec& a, const LayerSpec& b) {
    return a.name == b.name && a.kind == b.kind && a.kernel == b.kernel && a.stride == b.stride && a.pad == b.pad &&
           a.groups == b.groups && a.ceil_mode == b.ceil_mode && a.out_h == b.out_h && a.out_w == b.out_w &&
           a.activation == b.activation;
}

}  // namespace

void check_torchvision_layers(const ModelSpec& spec) {
    const ModelSpec tv = make_preset("alexnet-tv");
    for (size_t i = 0; i < spec.layers.size(); ++i) {
        const LayerSpec& l = spec.layers[i];
        if (i < tv.layers.size() && same_layer(l, tv.layers[i])) continue;
        const std::string theirs = i < tv.layers.size() ? kTorchvisionModules.at(tv.layers[i].name) + ": " + describe(tv.layers[i])
                                                       : "nothing: it has ended";
        throw Error("--names torchvision", spec.arch + " layer " + l.name + " (" + describe(l) +
                                               ") is not in torchvision's AlexNet, which has there " + theirs +
                                               " (only alexnet-tv models take torchvision's names)");
    }
    if (spec.layers.size() < tv.layers.size())  // (the loop above refused every longer or different list)
        throw Error("--names torchvision", "", "torchvision's AlexNet's layers",
                    spec.arch + ", which ends before " + tv.layers[spec.layers.size()].name);
}

bool has_torchvision_widths(const ModelSpec& spec) {
    PresetOptions options;
    options.num_classes = spec.num_classes();
    const ModelSpec tv = make_preset("alexnet-tv", options);
    if (spec.input.c != tv.input.c) return false;
    for (size_t i = 0; i < spec.layers.size() && i < tv.layers.size(); ++i)
        if (spec.layers[i].out_channels != tv.layers[i].out_channels) return false;
    return spec.layers.size() == tv.layers.size();
}

Weights torchvision_state_dict(const ModelSpec& spec, const Weights& weights, std::vector<std::string>& names) {
    Weights out;
    names.clear();
    for (const auto& p : param_specs(spec)) {
        const std::string name = torchvision_param_name(p.name);
        check(!name.empty(), spec.arch, p.name, "a tensor of torchvision's AlexNet", "none of its names");
        out.add_view(name, weights.at(p.name));
        names.push_back(name);
    }
    return out;
}

}  // namespace alexnet
