#include "model/quantization.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/first_bad.hpp"

namespace alexnet {

float Quantization::scale_of(const std::string& tensor) const {
    auto it = activation_scale.find(tensor);
    if (it == activation_scale.end())
        throw Error("__metadata__.quantization", "activation_scales." + tensor, "the step of that tensor", "none");
    return it->second;
}

std::string to_json(const Quantization& q) {
    nlohmann::ordered_json j;
    j["scheme"] = "s8 weights per output channel, u8/s8 activations per tensor, symmetric";
    j["method"] = q.method;
    nlohmann::ordered_json scales = nlohmann::ordered_json::object();
    for (const auto& [name, s] : q.activation_scale) scales[name] = s;
    j["activation_scales"] = scales;
    return j.dump();
}

Quantization parse_quantization(const std::string& where, const std::string& json) {
    const std::string field = "__metadata__.quantization";
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json);
    } catch (const std::exception&) {
        throw Error(where, field, "JSON", "invalid JSON");
    }
    check(j.is_object() && j.contains("activation_scales") && j["activation_scales"].is_object(), where, field,
          "an object with activation_scales", j.dump().substr(0, 80));
    Quantization q;
    if (j.contains("method") && j["method"].is_string()) q.method = j["method"].get<std::string>();
    for (auto& [name, v] : j["activation_scales"].items()) {
        check(v.is_number() && v.get<double>() > 0 && std::isfinite(v.get<double>()), where,
              field + ".activation_scales." + name, "a positive step", v.dump());
        q.activation_scale[name] = v.get<float>();
    }
    return q;
}

// A full-size model has 61 M weights to check on every load. NaN fails the range test, a
// fraction the truncation (the conversion to int only sees values in range, so it stays defined).
int64_t first_non_int8(const float* x, int64_t n) {
    return first_bad(x, n, [](float v) -> bool {
        const bool in_range = std::fabs(v) <= kWeightLevels;
        const float r = in_range ? v : 0.f;
        return !in_range | (float(int(r)) != r);
    });
}

int64_t first_non_int8(const int8_t* x, int64_t n) {
    return first_bad(x, n, [](int8_t v) -> bool { return v < -kWeightLevels; });
}

Quantization read_quantization(const std::string& where, const ModelSpec& spec, const Weights& w) {
    auto it = w.metadata.find(kQuantizationKey);
    if (it == w.metadata.end()) return {};
    Quantization q = parse_quantization(where, it->second);
    for (const auto& l : spec.layers) {
        if (!l.has_params() || !w.contains(l.name + ".weight_scale")) continue;
        const Tensor& s = w.at(l.name + ".weight_scale");
        check(s.shape == std::vector<int64_t>{l.out_channels}, where, l.name + ".weight_scale",
              "shape [" + std::to_string(l.out_channels) + "]", shape_string(s.shape));
        const float* step = s.floats();
        for (int64_t i = 0; i < s.numel(); ++i)
            check(step[i] > 0 && std::isfinite(step[i]), where, l.name + ".weight_scale", "positive steps",
                  std::to_string(step[i]) + " at " + std::to_string(i));
        const Tensor& t = w.at(l.name + ".weight");
        const int64_t i = t.is_s8() ? first_non_int8(t.s8(), t.numel()) : first_non_int8(t.floats(), t.numel());
        if (i >= 0)
            throw Error(where, l.name + ".weight", "int8 values in [-127, 127] (the layer has a weight_scale)",
                        std::to_string(t.is_s8() ? float(t.s8()[i]) : t.floats()[i]) + " at flat index " +
                            std::to_string(i));
    }
    return q;
}

void quantize_per_channel(const float* w, int64_t out_channels, int64_t per_channel, int8_t* q, float* scale) {
    for (int64_t o = 0; o < out_channels; ++o) {
        const float* row = w + o * per_channel;
        float m = 0;
        for (int64_t i = 0; i < per_channel; ++i) m = std::max(m, std::fabs(row[i]));
        const float step = m > 0 ? m / kWeightLevels : 1.f;
        scale[o] = step;
        for (int64_t i = 0; i < per_channel; ++i)
            q[o * per_channel + i] =
                int8_t(std::clamp(std::nearbyint(row[i] / step), -float(kWeightLevels), float(kWeightLevels)));
    }
}

std::vector<float> dequantized(const LayerSpec& l, const Weights& w) {
    const Tensor& t = w.at(l.name + ".weight");
    const float* step = w.at(l.name + ".weight_scale").floats();
    const int64_t per = t.numel() / l.out_channels;
    std::vector<float> real(size_t(t.numel()));
    auto widen = [&](const auto* q) {
        for (int64_t i = 0; i < t.numel(); ++i) real[size_t(i)] = float(q[i]) * step[i / per];
    };
    if (t.is_s8())
        widen(t.s8());
    else
        widen(t.floats());
    return real;
}

void dequantize_weights(const ModelSpec& spec, Weights& w) {
    for (const auto& l : spec.layers) {
        const std::string name = l.name + ".weight", scale_name = l.name + ".weight_scale";
        if (!l.has_params() || !w.contains(scale_name)) continue;
        std::vector<float> real = dequantized(l, w);
        std::vector<int64_t> shape = w.at(name).shape;
        w.release(name);  // the quantized values (their pages, when mapped)
        w.add(name, std::move(shape), std::move(real));
        w.release(scale_name);
    }
    w.metadata.erase(kQuantizationKey);
}

}  // namespace alexnet
