#include "quantize/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "engine/inference_net.hpp"
#include "engine/precision.hpp"

namespace alexnet {

void TensorHistogram::add_max(const float* x, size_t n) {
    for (size_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
}

// Exact zeros are left out: they quantize to 0 whatever the threshold, and ReLU's spike of them
// would otherwise pull the entropy method towards tiny thresholds.
void TensorHistogram::add_counts(const float* x, size_t n) {
    if (counts.empty()) counts.assign(kBins, 0.0);
    if (max_abs <= 0) return;
    const float per_bin = kBins / max_abs;
    for (size_t i = 0; i < n; ++i) {
        if (x[i] == 0.f) continue;
        counts[size_t(std::min(int(std::fabs(x[i]) * per_bin), kBins - 1))] += 1;
    }
}

double TensorHistogram::total() const {
    double t = 0;
    for (double c : counts) t += c;
    return t;
}

std::vector<TensorHistogram> collect_histograms(const ModelSpec& spec, Weights& weights, const std::vector<float>& inputs,
                                                int n, int batch) {
    const std::vector<Shape> shapes = infer_shapes(spec);
    const std::vector<bool> nonneg = known_nonnegative(spec);
    std::vector<TensorHistogram> hists(spec.layers.size() + 1);
    for (size_t i = 0; i < hists.size(); ++i) {
        hists[i].name = i ? spec.layers[i - 1].name : "input";
        hists[i].nonnegative = nonneg[i];
    }
    // One fp32 network per layer, chained, so every layer's output can be read.
    std::vector<std::unique_ptr<InferenceNet>> nets;
    Shape in = spec.input;
    for (size_t i = 0; i < spec.layers.size(); ++i) {
        ModelSpec one;
        one.arch = spec.arch;
        one.input = in;
        one.layers = {spec.layers[i]};
        nets.push_back(std::make_unique<InferenceNet>(one, weights, batch, spec.layers[i].name));
        in = shapes[i];
    }
    const size_t image = size_t(spec.input.size());
    std::vector<float> cur, next;
    for (int pass = 0; pass < 2; ++pass)
        for (int b0 = 0; b0 < n; b0 += batch) {
            const int count = std::min(batch, n - b0);
            cur.assign(size_t(batch) * image, 0.f);
            std::copy(inputs.begin() + ptrdiff_t(size_t(b0) * image), inputs.begin() + ptrdiff_t(size_t(b0 + count) * image),
                      cur.begin());
            auto add = [&](TensorHistogram& h, const float* x, size_t len) {
                pass == 0 ? h.add_max(x, len) : h.add_counts(x, len);
            };
            add(hists[0], cur.data(), size_t(count) * image);
            for (size_t i = 0; i < nets.size(); ++i) {
                const size_t per = size_t(shapes[i].size());
                next.assign(size_t(batch) * per, 0.f);
                nets[i]->forward(cur.data(), next.data());
                add(hists[i + 1], next.data(), size_t(count) * per);
                cur.swap(next);
            }
        }
    return hists;
}

namespace {

// KL(P || Q) of the histogram clipped at bin `edge` (outliers folded into the last bin) against
// its quantization to `levels` levels (each level's mass spread over its non-empty bins).
double clipped_kl(const std::vector<double>& counts, int edge, int levels) {
    std::vector<double> p(counts.begin(), counts.begin() + edge), q(size_t(edge), 0.0);
    for (size_t i = size_t(edge); i < counts.size(); ++i) p.back() += counts[i];
    for (int j = 0; j < levels; ++j) {
        const int b0 = int(int64_t(j) * edge / levels), b1 = int(int64_t(j + 1) * edge / levels);
        double mass = 0;
        int nonempty = 0;
        for (int b = b0; b < b1; ++b) mass += counts[size_t(b)], nonempty += counts[size_t(b)] > 0;
        for (int b = b0; b < b1; ++b)
            if (counts[size_t(b)] > 0) q[size_t(b)] = mass / nonempty;
    }
    double sp = 0, sq = 0;
    for (int b = 0; b < edge; ++b) sp += p[size_t(b)], sq += q[size_t(b)];
    if (sp <= 0 || sq <= 0) return 0;
    double kl = 0;
    for (int b = 0; b < edge; ++b) {
        if (p[size_t(b)] <= 0) continue;
        const double pb = p[size_t(b)] / sp, qb = std::max(q[size_t(b)] / sq, 1e-12);
        kl += pb * std::log(pb / qb);
    }
    return kl;
}

}  // namespace

const std::vector<std::string>& calibration_methods() {
    static const std::vector<std::string> m{"minmax", "percentile-99.9", "percentile-99.99", "percentile-99.999",
                                            "entropy"};
    return m;
}

float clip_threshold(const TensorHistogram& h, const std::string& method) {
    if (method == "minmax" || h.max_abs <= 0) return h.max_abs;
    const int bins = TensorHistogram::kBins;
    const float width = h.max_abs / bins;
    const double total = h.total();
    if (total <= 0) return h.max_abs;
    if (method.rfind("percentile-", 0) == 0) {
        double p = 0;
        try {
            p = std::stod(method.substr(11));
        } catch (const std::exception&) {
        }
        check(p > 0 && p <= 100, "calibration", "method", "percentile-P with 0 < P <= 100", method);
        double seen = 0;
        for (int b = 0; b < bins; ++b) {
            seen += h.counts[size_t(b)];
            if (seen >= p / 100 * total) return (b + 1) * width;
        }
        return h.max_abs;
    }
    check(method == "entropy", "calibration", "method", "minmax, percentile-P or entropy", method);
    const int levels = h.nonnegative ? 255 : 127;
    int best = bins;
    double best_kl = 0;
    for (int edge = levels; edge <= bins; ++edge) {
        const double kl = clipped_kl(h.counts, edge, levels);
        if (edge == levels || kl < best_kl) best = edge, best_kl = kl;
    }
    return best * width;
}

Quantization activation_scales(const std::vector<TensorHistogram>& hists, const std::string& method) {
    Quantization q;
    q.method = method;
    for (const auto& h : hists) {
        const float t = clip_threshold(h, method);
        q.activation_scale[h.name] = t > 0 ? t / (h.nonnegative ? 255.f : 127.f) : 1.f;
    }
    return q;
}

Weights quantize_weights(const ModelSpec& spec, const Weights& weights, const std::vector<std::string>& keep_float,
                         std::vector<std::string>& int8_names) {
    Weights out;
    out.metadata = weights.metadata;
    for (const auto& l : spec.layers) {
        if (!l.has_params()) continue;
        const std::string wn = l.name + ".weight", bn = l.name + ".bias";
        const Tensor& t = weights.at(wn);
        out.add_view(bn, weights.at(bn));
        if (std::find(keep_float.begin(), keep_float.end(), l.name) != keep_float.end()) {
            out.add_view(wn, t);
            continue;
        }
        std::vector<int8_t> q(size_t(t.numel()));
        std::vector<float> step(size_t(l.out_channels));
        quantize_per_channel(t.floats(), l.out_channels, t.numel() / l.out_channels, q.data(), step.data());
        out.add_s8(wn, t.shape, std::move(q));
        out.add(l.name + ".weight_scale", {l.out_channels}, std::move(step));
        int8_names.push_back(wn);
    }
    return out;
}

}  // namespace alexnet
