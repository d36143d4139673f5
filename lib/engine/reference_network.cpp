// The whole network through the naive layers of reference.cpp: forward in float and at a
// precision plan, and the backward pass of the loss.
#include <utility>

#include "engine/reference.hpp"

namespace alexnet::reference {

std::vector<std::vector<float>> forward(const ModelSpec& spec, const Weights& weights,
                                        const float* input, int N) {
    std::vector<std::vector<float>> outs;
    Shape s = spec.input;
    const float* cur = input;
    for (const auto& l : spec.layers) {
        const Shape o = output_shape(l, s);
        std::vector<float> y(size_t(N) * o.size());
        switch (l.kind) {
            case LayerKind::conv:
                conv_forward(y.data(), cur, weights.at(l.name + ".weight").floats(),
                             weights.at(l.name + ".bias").floats(), N, s, l);
                break;
            case LayerKind::lrn: lrn_forward(y.data(), cur, N, s, l.lrn); break;
            case LayerKind::max_pool: max_pool_forward(y.data(), cur, N, s, l); break;
            case LayerKind::avg_pool: avg_pool_forward(y.data(), cur, N, s, l); break;
            case LayerKind::adaptive_avg_pool:
                adaptive_avg_pool_forward(y.data(), cur, N, s, l.out_h, l.out_w);
                break;
            case LayerKind::fc:
                fc_forward(y.data(), cur, weights.at(l.name + ".weight").floats(),
                           weights.at(l.name + ".bias").floats(), N, int(s.size()), l.out_channels);
                break;
            case LayerKind::softmax: softmax_forward(y.data(), cur, N, int(s.size())); break;
        }
        activation_forward(y.data(), int64_t(y.size()), l.activation);
        outs.push_back(std::move(y));
        cur = outs.back().data();
        s = o;
    }
    return outs;
}

Gradients backward(const ModelSpec& spec, const Weights& weights, const float* input, const int* labels, int N) {
    const std::vector<std::vector<float>> outs = forward(spec, weights, input, N);
    int last = int(spec.layers.size()) - 1;
    if (spec.layers[last].kind == LayerKind::softmax) --last;  // the loss takes the logits
    const std::vector<Shape> shapes = infer_shapes(spec);
    Gradients g;
    std::vector<float> dout(outs[last].size());
    g.loss = softmax_cross_entropy(dout.data(), outs[last].data(), labels, N, int(shapes[last].size()));
    for (int i = last; i >= 0; --i) {
        const LayerSpec& l = spec.layers[i];
        const Shape in = i == 0 ? spec.input : shapes[i - 1];
        const float* x = i == 0 ? input : outs[i - 1].data();
        std::vector<float> dpre(dout.size());
        activation_backward(dpre.data(), dout.data(), outs[i].data(), int64_t(dout.size()), l.activation);
        std::vector<float> dx(size_t(N) * in.size());
        float* dinp = i == 0 ? nullptr : dx.data();  // no gradient for the images
        if (l.has_params()) {
            const Tensor& w = weights.at(l.name + ".weight");
            std::vector<float>& dw = g.params[l.name + ".weight"];
            std::vector<float>& db = g.params[l.name + ".bias"];
            dw.assign(size_t(w.numel()), 0.f);
            db.assign(size_t(l.out_channels), 0.f);
            if (l.kind == LayerKind::conv)
                conv_backward(dinp, dw.data(), db.data(), dpre.data(), x, w.floats(), N, in, l);
            else
                fc_backward(dinp, dw.data(), db.data(), dpre.data(), x, w.floats(), N, int(in.size()), l.out_channels);
        } else if (dinp) {
            switch (l.kind) {
                case LayerKind::lrn: lrn_backward(dinp, dpre.data(), x, N, in, l.lrn); break;
                case LayerKind::max_pool: max_pool_backward(dinp, dpre.data(), x, N, in, l); break;
                case LayerKind::avg_pool: avg_pool_backward(dinp, dpre.data(), N, in, l); break;
                case LayerKind::adaptive_avg_pool:
                    adaptive_avg_pool_backward(dinp, dpre.data(), N, in, l.out_h, l.out_w);
                    break;
                default: break;
            }
        }
        dout = std::move(dx);
    }
    return g;
}

namespace {

// A tensor as a layer of the planned network holds it: stored values and their scale.
struct Held {
    std::vector<float> v;
    DType dt = DType::f32;
    float scale = 1;
    // The engine's reorder into (to, to_scale): multiply, then round into the new type.
    void convert(DType to, float to_scale) {
        if (dt == to && scale == to_scale) return;
        const float f = rescale(scale, to_scale);
        for (auto& x : v) {
            if (f != 1.f) x *= f;
            if (is_int8(to)) x = saturate_round(x, to);
            else if (to == DType::bf16) x = round_to_bf16(x);
        }
        dt = to;
        scale = to_scale;
    }
    void round_into(DType t) {
        if (is_int8(t))
            for (auto& x : v) x = saturate_round(x, t);
        else if (t == DType::bf16)
            for (auto& x : v) x = round_to_bf16(x);
        dt = t;
    }
};

// conv_forward or fc_forward, whichever layer `l` is
void weighted_forward(float* out, const float* in, const float* w, const float* b, int N, const Shape& s,
                      const LayerSpec& l) {
    if (l.kind == LayerKind::conv)
        conv_forward(out, in, w, b, N, s, l);
    else
        fc_forward(out, in, w, b, N, int(s.size()), l.out_channels);
}

// A conv or fc layer at its plan, from `cur` (converted to the layer's input type) into `y`.
void weighted_forward_at(Held& y, Held& cur, const LayerSpec& l, const LayerPlan& p, const Weights& weights,
                         const Shape& s, const Shape& o, int N) {
    cur.convert(p.src, p.src_scale);
    const int64_t plane = l.kind == LayerKind::conv ? int64_t(o.h) * o.w : 1;
    if (p.int8_weights) {
        const Int8Layer q = int8_layer(l, weights, p);
        const Tensor& t = weights.at(l.name + ".weight");
        std::vector<int8_t> s8(size_t(t.numel()));
        int8_weights(t, 0, t.numel(), p.halve_weights, s8.data());
        const std::vector<float> w(s8.begin(), s8.end());
        // exact integer sums, rounded to float as oneDNN does
        weighted_forward(y.v.data(), cur.v.data(), w.data(), nullptr, N, s, l);
        for (size_t k = 0; k < y.v.size(); ++k) {
            const size_t c = size_t(int64_t(k) / plane % l.out_channels);
            y.v[k] = (y.v[k] + q.bias[c]) * q.output_scale[c];
        }
    } else {  // a quantized layer the plan keeps float runs on its real weights, q * step
        const Tensor& t = weights.at(l.name + ".weight");
        std::vector<float> w = weights.contains(l.name + ".weight_scale")
                                   ? dequantized(l, weights)
                                   : std::vector<float>(t.floats(), t.floats() + t.numel());
        if (p.src == DType::bf16)
            for (auto& x : w) x = round_to_bf16(x);
        weighted_forward(y.v.data(), cur.v.data(), w.data(), weights.at(l.name + ".bias").floats(), N, s, l);
    }
    activation_forward(y.v.data(), int64_t(y.v.size()), l.activation);
    y.scale = p.dst_scale;
    y.round_into(p.dst);
}

}  // namespace

std::vector<std::vector<float>> forward(const ModelSpec& spec, const Weights& weights,
                                        const std::vector<LayerPlan>& plan, const float* input, int N) {
    std::vector<std::vector<float>> outs;
    Shape s = spec.input;
    Held cur{std::vector<float>(input, input + size_t(N) * s.size())};
    for (size_t i = 0; i < plan.size(); ++i) {
        const LayerSpec& l = spec.layers[i];
        const LayerPlan& p = plan[i];
        const Shape o = output_shape(l, s);
        Held y{std::vector<float>(size_t(N) * o.size()), cur.dt, cur.scale};
        switch (l.kind) {
            case LayerKind::conv:
            case LayerKind::fc: weighted_forward_at(y, cur, l, p, weights, s, o, N); break;
            case LayerKind::lrn:
                cur.convert(p.src, 1.f);
                lrn_forward(y.v.data(), cur.v.data(), N, s, l.lrn);
                y.scale = 1;
                y.round_into(p.dst);
                break;
            case LayerKind::max_pool:
                max_pool_forward(y.v.data(), cur.v.data(), N, s, l);
                break;
            case LayerKind::avg_pool:
                cur.convert(p.src, p.src_scale);
                avg_pool_forward(y.v.data(), cur.v.data(), N, s, l);
                y.scale = cur.scale;
                y.round_into(p.dst);
                break;
            case LayerKind::adaptive_avg_pool:
                cur.convert(p.src, p.src_scale);
                adaptive_avg_pool_forward(y.v.data(), cur.v.data(), N, s, l.out_h, l.out_w);
                y.scale = cur.scale;
                y.round_into(p.dst);
                break;
            case LayerKind::softmax:
                cur.convert(DType::f32, 1.f);
                softmax_forward(y.v.data(), cur.v.data(), N, int(s.size()));
                y.scale = 1;
                y.dt = DType::f32;
                break;
        }
        std::vector<float> real = y.v;
        if (y.scale != 1.f)
            for (auto& x : real) x *= y.scale;
        outs.push_back(std::move(real));
        cur = std::move(y);
        s = o;
    }
    return outs;
}

}  // namespace alexnet::reference
