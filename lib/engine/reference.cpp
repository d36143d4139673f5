#include "engine/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace alexnet::reference {

void conv_forward(float* out, const float* in, const float* weight, const float* bias, int N,
                  const Shape& s, const LayerSpec& l) {
    const Shape o = output_shape(l, s);
    const int K = l.kernel, icg = s.c / l.groups, ocg = l.out_channels / l.groups;
    for (int n = 0; n < N; ++n)
        for (int oc = 0; oc < o.c; ++oc) {
            const int g = oc / ocg;
            for (int oy = 0; oy < o.h; ++oy)
                for (int ox = 0; ox < o.w; ++ox) {
                    double acc = bias ? bias[oc] : 0.0;
                    for (int ic = 0; ic < icg; ++ic)
                        for (int ky = 0; ky < K; ++ky) {
                            const int iy = oy * l.stride - l.pad + ky;
                            if (iy < 0 || iy >= s.h) continue;
                            for (int kx = 0; kx < K; ++kx) {
                                const int ix = ox * l.stride - l.pad + kx;
                                if (ix < 0 || ix >= s.w) continue;
                                acc += double(in[((int64_t(n) * s.c + g * icg + ic) * s.h + iy) * s.w + ix]) *
                                       weight[((int64_t(oc) * icg + ic) * K + ky) * K + kx];
                            }
                        }
                    out[((int64_t(n) * o.c + oc) * o.h + oy) * o.w + ox] = float(acc);
                }
        }
}

namespace {

// The size x size window around (y, x) clipped to the map: rows [y0, y1), columns [x0, x1), with
// oneDNN's offsets (-(size-1)/2 .. size/2; cuda-convnet's for odd sizes).
struct Window {
    int y0, y1, x0, x1;
};
Window map_window(const Shape& s, int size, int y, int x) {
    const int half = (size - 1) / 2;
    return {std::max(0, y - half), std::min(s.h, y - half + size), std::max(0, x - half), std::min(s.w, x - half + size)};
}

// S = k + alpha/size^2 * sum of squares over the window, per pixel of one map
void within_map_scale(std::vector<double>& scale, const float* map, const Shape& s, const LrnParams& p) {
    const double a = double(p.alpha) / (double(p.size) * p.size);
    for (int y = 0; y < s.h; ++y)
        for (int x = 0; x < s.w; ++x) {
            const Window w = map_window(s, p.size, y, x);
            double sum = 0;
            for (int v = w.y0; v < w.y1; ++v)
                for (int u = w.x0; u < w.x1; ++u) sum += double(map[v * s.w + u]) * map[v * s.w + u];
            scale[size_t(y) * s.w + x] = p.k + a * sum;
        }
}

void lrn_within_map_forward(float* out, const float* in, int N, const Shape& s, const LrnParams& p) {
    const int64_t plane = int64_t(s.h) * s.w;
    std::vector<double> scale(static_cast<size_t>(plane));
    for (int64_t m = 0; m < int64_t(N) * s.c; ++m) {
        within_map_scale(scale, in + m * plane, s, p);
        for (int64_t i = 0; i < plane; ++i)
            out[m * plane + i] = float(in[m * plane + i] * std::pow(scale[size_t(i)], -double(p.beta)));
    }
}

// b_i = a_i S_i^-beta; db_i/da_j = [i == j] S_i^-beta - 2 alpha beta / size^2 a_i a_j S_i^(-beta-1)
// for every j in the window of i
void lrn_within_map_backward(float* dinp, const float* dout, const float* inp, int N, const Shape& s,
                             const LrnParams& p) {
    const int64_t plane = int64_t(s.h) * s.w;
    const double c = 2.0 * p.alpha * p.beta / (double(p.size) * p.size);
    std::vector<double> scale(static_cast<size_t>(plane));
    for (int64_t m = 0; m < int64_t(N) * s.c; ++m) {
        const float* a = inp + m * plane;
        const float* g = dout + m * plane;
        float* d = dinp + m * plane;
        within_map_scale(scale, a, s, p);
        for (int y = 0; y < s.h; ++y)
            for (int x = 0; x < s.w; ++x) {
                const int64_t i = int64_t(y) * s.w + x;
                d[i] += float(g[i] * std::pow(scale[size_t(i)], -double(p.beta)));
                const double common = g[i] * a[i] * std::pow(scale[size_t(i)], -double(p.beta) - 1) * c;
                const Window w = map_window(s, p.size, y, x);
                for (int v = w.y0; v < w.y1; ++v)
                    for (int u = w.x0; u < w.x1; ++u) d[v * s.w + u] -= float(common * a[v * s.w + u]);
            }
    }
}

}  // namespace

void lrn_forward(float* out, const float* in, int N, const Shape& s, const LrnParams& p) {
    if (p.within_map) return lrn_within_map_forward(out, in, N, s, p);
    const int64_t plane = int64_t(s.h) * s.w;
    const int half = (p.size - 1) / 2;
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int64_t i = 0; i < plane; ++i) {
                double sum = 0;
                for (int j = std::max(0, c - half); j <= std::min(s.c - 1, c + p.size - 1 - half); ++j) {
                    const double a = in[(int64_t(n) * s.c + j) * plane + i];
                    sum += a * a;
                }
                const int64_t at = (int64_t(n) * s.c + c) * plane + i;
                out[at] = float(in[at] / std::pow(p.k + p.alpha / p.size * sum, double(p.beta)));
            }
}

void max_pool_forward(float* out, const float* in, int N, const Shape& s, const LayerSpec& l) {
    const Shape o = output_shape(l, s);
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int oy = 0; oy < o.h; ++oy)
                for (int ox = 0; ox < o.w; ++ox) {
                    float m = -std::numeric_limits<float>::infinity();
                    const int y0 = oy * l.stride - l.pad, x0 = ox * l.stride - l.pad;
                    for (int y = std::max(0, y0); y < std::min(s.h, y0 + l.kernel); ++y)
                        for (int x = std::max(0, x0); x < std::min(s.w, x0 + l.kernel); ++x)
                            m = std::max(m, in[((int64_t(n) * s.c + c) * s.h + y) * s.w + x]);
                    out[((int64_t(n) * s.c + c) * o.h + oy) * o.w + ox] = m;
                }
}

void avg_pool_forward(float* out, const float* in, int N, const Shape& s, const LayerSpec& l) {
    const Shape o = output_shape(l, s);
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int oy = 0; oy < o.h; ++oy)
                for (int ox = 0; ox < o.w; ++ox) {
                    const int y0 = oy * l.stride - l.pad, x0 = ox * l.stride - l.pad;
                    double sum = 0;
                    int count = 0;
                    for (int y = std::max(0, y0); y < std::min(s.h, y0 + l.kernel); ++y)
                        for (int x = std::max(0, x0); x < std::min(s.w, x0 + l.kernel); ++x, ++count)
                            sum += in[((int64_t(n) * s.c + c) * s.h + y) * s.w + x];
                    out[((int64_t(n) * s.c + c) * o.h + oy) * o.w + ox] = float(sum / count);
                }
}

void adaptive_avg_pool_forward(float* out, const float* in, int N, const Shape& s, int oh, int ow) {
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int oy = 0; oy < oh; ++oy) {
                const int y0 = oy * s.h / oh, y1 = ((oy + 1) * s.h + oh - 1) / oh;
                for (int ox = 0; ox < ow; ++ox) {
                    const int x0 = ox * s.w / ow, x1 = ((ox + 1) * s.w + ow - 1) / ow;
                    double sum = 0;
                    for (int y = y0; y < y1; ++y)
                        for (int x = x0; x < x1; ++x) sum += in[((int64_t(n) * s.c + c) * s.h + y) * s.w + x];
                    out[((int64_t(n) * s.c + c) * oh + oy) * ow + ox] = float(sum / ((y1 - y0) * (x1 - x0)));
                }
            }
}

void fc_forward(float* out, const float* in, const float* weight, const float* bias, int N,
                int in_features, int out_features) {
    for (int n = 0; n < N; ++n)
        for (int o = 0; o < out_features; ++o) {
            double acc = bias ? bias[o] : 0.0;
            const float* w = weight + int64_t(o) * in_features;
            const float* x = in + int64_t(n) * in_features;
            for (int i = 0; i < in_features; ++i) acc += double(x[i]) * w[i];
            out[int64_t(n) * out_features + o] = float(acc);
        }
}

void activation_forward(float* x, int64_t n, Activation act) {
    for (int64_t i = 0; i < n; ++i) {
        switch (act) {
            case Activation::none: break;
            case Activation::relu: x[i] = x[i] > 0 ? x[i] : 0; break;
            case Activation::tanh: x[i] = std::tanh(x[i]); break;
            case Activation::sigmoid: x[i] = 1.f / (1.f + std::exp(-x[i])); break;
            case Activation::leaky_relu: x[i] = x[i] > 0 ? x[i] : kLeakyReluSlope * x[i]; break;
            case Activation::elu: x[i] = x[i] > 0 ? x[i] : kEluAlpha * std::expm1(x[i]); break;
        }
    }
}

void softmax_forward(float* out, const float* in, int N, int classes) {
    for (int n = 0; n < N; ++n) {
        const float* x = in + int64_t(n) * classes;
        float* y = out + int64_t(n) * classes;
        const float m = *std::max_element(x, x + classes);
        double sum = 0;
        for (int i = 0; i < classes; ++i) sum += std::exp(double(x[i]) - m);
        for (int i = 0; i < classes; ++i) y[i] = float(std::exp(double(x[i]) - m) / sum);
    }
}

void conv_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                   const float* weight, int N, const Shape& s, const LayerSpec& l) {
    const Shape o = output_shape(l, s);
    const int K = l.kernel, icg = s.c / l.groups, ocg = l.out_channels / l.groups;
    for (int n = 0; n < N; ++n)
        for (int oc = 0; oc < o.c; ++oc) {
            const int g = oc / ocg;
            for (int oy = 0; oy < o.h; ++oy)
                for (int ox = 0; ox < o.w; ++ox) {
                    const float d = dout[((int64_t(n) * o.c + oc) * o.h + oy) * o.w + ox];
                    if (dbias) dbias[oc] += d;
                    for (int ic = 0; ic < icg; ++ic)
                        for (int ky = 0; ky < K; ++ky) {
                            const int iy = oy * l.stride - l.pad + ky;
                            if (iy < 0 || iy >= s.h) continue;
                            for (int kx = 0; kx < K; ++kx) {
                                const int ix = ox * l.stride - l.pad + kx;
                                if (ix < 0 || ix >= s.w) continue;
                                const int64_t at = ((int64_t(n) * s.c + g * icg + ic) * s.h + iy) * s.w + ix;
                                const int64_t wat = ((int64_t(oc) * icg + ic) * K + ky) * K + kx;
                                dweight[wat] += d * inp[at];
                                if (dinp) dinp[at] += d * weight[wat];
                            }
                        }
                }
        }
}

void fc_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                 const float* weight, int N, int in_features, int out_features) {
    for (int n = 0; n < N; ++n)
        for (int o = 0; o < out_features; ++o) {
            const float d = dout[int64_t(n) * out_features + o];
            if (dbias) dbias[o] += d;
            const float* x = inp + int64_t(n) * in_features;
            const float* w = weight + int64_t(o) * in_features;
            float* dw = dweight + int64_t(o) * in_features;
            for (int i = 0; i < in_features; ++i) {
                dw[i] += d * x[i];
                if (dinp) dinp[int64_t(n) * in_features + i] += d * w[i];
            }
        }
}

void activation_backward(float* dinp, const float* dout, const float* out, int64_t n, Activation act) {
    for (int64_t i = 0; i < n; ++i) {
        switch (act) {
            case Activation::none: dinp[i] += dout[i]; break;
            case Activation::relu: dinp[i] += out[i] > 0 ? dout[i] : 0; break;
            case Activation::tanh: dinp[i] += dout[i] * (1 - out[i] * out[i]); break;
            case Activation::sigmoid: dinp[i] += dout[i] * out[i] * (1 - out[i]); break;
            case Activation::leaky_relu: dinp[i] += out[i] > 0 ? dout[i] : kLeakyReluSlope * dout[i]; break;
            case Activation::elu: dinp[i] += out[i] > 0 ? dout[i] : dout[i] * (out[i] + kEluAlpha); break;
        }
    }
}

void lrn_backward(float* dinp, const float* dout, const float* inp, int N, const Shape& s, const LrnParams& p) {
    if (p.within_map) return lrn_within_map_backward(dinp, dout, inp, N, s, p);
    // b_i = a_i S_i^-beta, S_i = k + alpha/size sum_{j in w(i)} a_j^2
    // db_i/da_j = [i == j] S_i^-beta - 2 alpha beta / size a_i a_j S_i^(-beta-1)   for j in w(i)
    const int64_t plane = int64_t(s.h) * s.w;
    const int half = (p.size - 1) / 2;
    const double c = 2.0 * p.alpha * p.beta / p.size;
    std::vector<double> scale(s.c);
    for (int n = 0; n < N; ++n)
        for (int64_t i = 0; i < plane; ++i) {
            auto at = [&](int ch) { return (int64_t(n) * s.c + ch) * plane + i; };
            for (int ch = 0; ch < s.c; ++ch) {
                double sum = 0;
                for (int j = std::max(0, ch - half); j <= std::min(s.c - 1, ch + p.size - 1 - half); ++j)
                    sum += double(inp[at(j)]) * inp[at(j)];
                scale[ch] = p.k + p.alpha / p.size * sum;
            }
            for (int ch = 0; ch < s.c; ++ch) {
                const double g = dout[at(ch)], a = inp[at(ch)];
                dinp[at(ch)] += float(g * std::pow(scale[ch], -double(p.beta)));
                const double common = g * a * std::pow(scale[ch], -double(p.beta) - 1) * c;
                for (int j = std::max(0, ch - half); j <= std::min(s.c - 1, ch + p.size - 1 - half); ++j)
                    dinp[at(j)] -= float(common * inp[at(j)]);
            }
        }
}

void max_pool_backward(float* dinp, const float* dout, const float* inp, int N, const Shape& s, const LayerSpec& l) {
    const Shape o = output_shape(l, s);
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int oy = 0; oy < o.h; ++oy)
                for (int ox = 0; ox < o.w; ++ox) {
                    const int y0 = oy * l.stride - l.pad, x0 = ox * l.stride - l.pad;
                    int64_t best = -1;
                    for (int y = std::max(0, y0); y < std::min(s.h, y0 + l.kernel); ++y)
                        for (int x = std::max(0, x0); x < std::min(s.w, x0 + l.kernel); ++x) {
                            const int64_t at = ((int64_t(n) * s.c + c) * s.h + y) * s.w + x;
                            if (best < 0 || inp[at] > inp[best]) best = at;
                        }
                    dinp[best] += dout[((int64_t(n) * s.c + c) * o.h + oy) * o.w + ox];
                }
}

void avg_pool_backward(float* dinp, const float* dout, int N, const Shape& s, const LayerSpec& l) {
    const Shape o = output_shape(l, s);
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int oy = 0; oy < o.h; ++oy)
                for (int ox = 0; ox < o.w; ++ox) {
                    const int y0 = oy * l.stride - l.pad, x0 = ox * l.stride - l.pad;
                    const int ya = std::max(0, y0), yb = std::min(s.h, y0 + l.kernel);
                    const int xa = std::max(0, x0), xb = std::min(s.w, x0 + l.kernel);
                    const float g = dout[((int64_t(n) * s.c + c) * o.h + oy) * o.w + ox] / float((yb - ya) * (xb - xa));
                    for (int y = ya; y < yb; ++y)
                        for (int x = xa; x < xb; ++x) dinp[((int64_t(n) * s.c + c) * s.h + y) * s.w + x] += g;
                }
}

void adaptive_avg_pool_backward(float* dinp, const float* dout, int N, const Shape& s, int oh, int ow) {
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int oy = 0; oy < oh; ++oy) {
                const int y0 = oy * s.h / oh, y1 = ((oy + 1) * s.h + oh - 1) / oh;
                for (int ox = 0; ox < ow; ++ox) {
                    const int x0 = ox * s.w / ow, x1 = ((ox + 1) * s.w + ow - 1) / ow;
                    const float d = dout[((int64_t(n) * s.c + c) * oh + oy) * ow + ox] / float((y1 - y0) * (x1 - x0));
                    for (int y = y0; y < y1; ++y)
                        for (int x = x0; x < x1; ++x) dinp[((int64_t(n) * s.c + c) * s.h + y) * s.w + x] += d;
                }
            }
}

float softmax_cross_entropy(float* dlogits, const float* logits, const int* labels, int N, int classes, int divisor) {
    const int D = divisor > 0 ? divisor : N;
    double loss = 0;
    for (int n = 0; n < N; ++n) {
        const float* x = logits + int64_t(n) * classes;
        const float m = *std::max_element(x, x + classes);
        double sum = 0;
        for (int i = 0; i < classes; ++i) sum += std::exp(double(x[i]) - m);
        loss += std::log(sum) + m - x[labels[n]];
        for (int i = 0; i < classes; ++i) {
            const double p = std::exp(double(x[i]) - m) / sum;
            dlogits[int64_t(n) * classes + i] = float((p - (i == labels[n])) / D);
        }
    }
    return float(loss / N);
}

}  // namespace alexnet::reference
