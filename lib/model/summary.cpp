#include "model/summary.hpp"

namespace alexnet {

ModelSummary summarize(const ModelSpec& spec) {
    ModelSummary s;
    s.arch = spec.arch;
    s.input = spec.input;
    const std::vector<Shape> shapes = infer_shapes(spec);
    Shape in = spec.input;
    for (size_t i = 0; i < spec.layers.size(); ++i) {
        const LayerSpec& l = spec.layers[i];
        const Shape& out = shapes[i];
        LayerSummary ls{l.name, l.kind, out, 0, 0};
        if (l.kind == LayerKind::conv) {
            const int64_t per_output = int64_t(in.c / l.groups) * l.kernel * l.kernel;
            ls.params = l.out_channels * per_output + l.out_channels;
            ls.macs = out.size() * per_output;
        } else if (l.kind == LayerKind::fc) {
            ls.params = l.out_channels * in.size() + l.out_channels;
            ls.macs = l.out_channels * in.size();
        }
        s.total_params += ls.params;
        s.total_macs += ls.macs;
        s.layers.push_back(ls);
        in = out;
    }
    return s;
}

nlohmann::ordered_json to_json(const ModelSummary& s) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : s.layers)
        layers.push_back({{"layer", l.name},
                          {"kind", to_string(l.kind)},
                          {"output", {l.output.c, l.output.h, l.output.w}},
                          {"params", l.params},
                          {"macs", l.macs}});
    return {{"arch", s.arch},
            {"input", {s.input.c, s.input.h, s.input.w}},
            {"layers", layers},
            {"total_params", s.total_params},
            {"total_macs", s.total_macs}};
}

}  // namespace alexnet
