// Every reference backward pass against central finite differences of its forward pass
// (fixed seeds; ReLU kinks and max-pool ties kept out of reach of the perturbation).
#include <doctest/doctest.h>

#include <functional>
#include <numeric>
#include <random>

#include "engine/reference.hpp"
#include "test_util.hpp"

using namespace alexnet;
using test::random_vector;

namespace {

// max over sampled entries of |numeric - analytic|, relative to the largest analytic gradient
double grad_error(const std::function<double()>& loss, std::vector<float>& param, const std::vector<float>& analytic,
                  float eps = 1e-2f, int samples = 60) {
    std::mt19937 rng(11);
    double worst = 0, scale = 1e-12;
    for (float g : analytic) scale = std::max(scale, double(std::fabs(g)));
    for (int s = 0; s < samples; ++s) {
        const size_t i = rng() % param.size();
        const float keep = param[i];
        param[i] = keep + eps;
        const double up = loss();
        param[i] = keep - eps;
        const double down = loss();
        param[i] = keep;
        worst = std::max(worst, std::fabs((up - down) / (2.0 * eps) - analytic[i]));
    }
    return worst / scale;
}

// L = sum(out * r): dL/dout = r
double weighted_sum(const std::vector<float>& out, const std::vector<float>& r) {
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += double(out[i]) * r[i];
    return l;
}

// Finite-difference error of reference::lrn_backward for `p` on a random batch of 2 of shape `s`
// (input seed `seed`, loss weights seed + 1).
double lrn_grad_error(const LrnParams& p, const Shape& s, unsigned seed, int samples) {
    const int N = 2;
    auto x = random_vector(N * s.size(), seed, 2.f);
    const auto r = random_vector(x.size(), seed + 1);
    std::vector<float> y(x.size());
    auto loss = [&] {
        reference::lrn_forward(y.data(), x.data(), N, s, p);
        return weighted_sum(y, r);
    };
    std::vector<float> dx(x.size());
    reference::lrn_backward(dx.data(), r.data(), x.data(), N, s, p);
    return grad_error(loss, x, dx, 1e-3f, samples);
}

}  // namespace

TEST_CASE("conv backward: input, weight and bias gradients, groups, stride, padding") {
    const Shape s{6, 9, 7};
    LayerSpec l = conv_layer("c", 4, 3, 2, 1, 2, Activation::none);
    const int N = 2;
    const Shape o = output_shape(l, s);
    auto x = random_vector(N * s.size(), 1), w = random_vector(4 * 3 * 9, 2), b = random_vector(4, 3);
    const auto r = random_vector(N * o.size(), 4);
    std::vector<float> y(N * o.size());
    auto loss = [&] {
        reference::conv_forward(y.data(), x.data(), w.data(), b.data(), N, s, l);
        return weighted_sum(y, r);
    };
    std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
    reference::conv_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), N, s, l);
    CHECK(grad_error(loss, x, dx) < 1e-3);
    CHECK(grad_error(loss, w, dw) < 1e-3);
    CHECK(grad_error(loss, b, db) < 1e-3);
}

TEST_CASE("fc backward") {
    const int N = 3, in = 11, out = 5;
    auto x = random_vector(N * in, 5), w = random_vector(out * in, 6), b = random_vector(out, 7);
    const auto r = random_vector(N * out, 8);
    std::vector<float> y(N * out);
    auto loss = [&] {
        reference::fc_forward(y.data(), x.data(), w.data(), b.data(), N, in, out);
        return weighted_sum(y, r);
    };
    std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
    reference::fc_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), N, in, out);
    CHECK(grad_error(loss, x, dx) < 1e-3);
    CHECK(grad_error(loss, w, dw) < 1e-3);
    CHECK(grad_error(loss, b, db) < 1e-3);
}

TEST_CASE("activation backward from the outputs: relu and leaky-relu (off their kink), tanh, sigmoid, elu") {
    for (Activation act : {Activation::relu, Activation::tanh, Activation::sigmoid, Activation::leaky_relu,
                           Activation::elu}) {
        CAPTURE(to_string(act));
        auto x = random_vector(50, 9, 2.f);
        for (auto& v : x)
            if (std::fabs(v) < 0.05f) v = 0.1f;  // finite differences must not straddle relu's kink
        const auto r = random_vector(50, 10);
        std::vector<float> y(50);
        auto loss = [&] {
            y = x;
            reference::activation_forward(y.data(), 50, act);
            return weighted_sum(y, r);
        };
        loss();
        std::vector<float> dx(50);
        reference::activation_backward(dx.data(), r.data(), y.data(), 50, act);
        CHECK(grad_error(loss, x, dx, 1e-3f) < 1e-3);
    }
}

TEST_CASE("lrn backward with Caffe's and large constants") {
    for (const LrnParams p : {LrnParams{5, 1e-4f, 0.75f, 1.f}, LrnParams{5, 0.5f, 0.75f, 2.f}, LrnParams{3, 1.f, 0.5f, 1.f}}) {
        CAPTURE(p.alpha);
        CHECK(lrn_grad_error(p, Shape{7, 3, 2}, 12, 60) < 2e-3);
    }
}

TEST_CASE("within-map lrn backward (cuda-convnet's rnorm) with its constants and large ones") {
    for (const LrnParams p : {LrnParams{3, 5e-5f, 0.75f, 1.f, true}, LrnParams{3, 2.f, 0.75f, 1.f, true},
                              LrnParams{5, 4.f, 0.5f, 2.f, true}}) {
        CAPTURE(p.alpha);
        CAPTURE(p.size);
        CHECK(lrn_grad_error(p, Shape{3, 5, 4}, 22, 120) < 2e-3);
    }
}

TEST_CASE("average pool backward: ceil-mode windows clipped at the edge, padding excluded") {
    for (bool ceil_mode : {true, false})
        for (int pad : {0, 1}) {
            CAPTURE(ceil_mode);
            CAPTURE(pad);
            LayerSpec l = avg_pool_layer("p", ceil_mode);
            l.pad = pad;
            const Shape s{2, 8, 7};
            const int N = 2;
            auto x = random_vector(N * s.size(), 24);
            const Shape o = output_shape(l, s);
            const auto r = random_vector(N * o.size(), 25);
            std::vector<float> y(r.size());
            auto loss = [&] {
                reference::avg_pool_forward(y.data(), x.data(), N, s, l);
                return weighted_sum(y, r);
            };
            std::vector<float> dx(x.size());
            reference::avg_pool_backward(dx.data(), r.data(), N, s, l);
            CHECK(grad_error(loss, x, dx, 1e-2f, 200) < 1e-3);
        }
}

TEST_CASE("max pool backward, rounding up and down") {
    for (bool ceil_mode : {true, false}) {
        LayerSpec l = max_pool_layer("p", ceil_mode);
        const Shape s{2, 8, 7};
        const int N = 2;
        // distinct values at least 0.01 apart, so a 1e-3 nudge never changes a window's maximum
        std::vector<float> x(N * s.size());
        std::iota(x.begin(), x.end(), 0.f);
        std::shuffle(x.begin(), x.end(), std::mt19937(14));
        for (auto& v : x) v *= 0.01f;
        const Shape o = output_shape(l, s);
        const auto r = random_vector(N * o.size(), 15);
        std::vector<float> y(r.size());
        auto loss = [&] {
            reference::max_pool_forward(y.data(), x.data(), N, s, l);
            return weighted_sum(y, r);
        };
        std::vector<float> dx(x.size());
        reference::max_pool_backward(dx.data(), r.data(), x.data(), N, s, l);
        CHECK(grad_error(loss, x, dx, 1e-3f, 200) < 1e-3);
    }
}

TEST_CASE("adaptive average pool backward, uneven windows") {
    const Shape s{3, 7, 5};
    const int N = 2, oh = 3, ow = 2;
    auto x = random_vector(N * s.size(), 16);
    const auto r = random_vector(N * s.c * oh * ow, 17);
    std::vector<float> y(r.size());
    auto loss = [&] {
        reference::adaptive_avg_pool_forward(y.data(), x.data(), N, s, oh, ow);
        return weighted_sum(y, r);
    };
    std::vector<float> dx(x.size());
    reference::adaptive_avg_pool_backward(dx.data(), r.data(), N, s, oh, ow);
    CHECK(grad_error(loss, x, dx) < 1e-3);
}

TEST_CASE("softmax cross-entropy: loss value and logits gradient") {
    const int N = 4, classes = 6;
    auto logits = random_vector(N * classes, 18, 3.f);
    const int labels[N] = {0, 5, 2, 2};
    std::vector<float> d(logits.size());
    auto loss = [&] { return double(reference::softmax_cross_entropy(d.data(), logits.data(), labels, N, classes)); };
    // hand-computed case: uniform logits give log(classes)
    std::vector<float> flat(classes, 0.3f), dflat(classes);
    const int label0 = 1;
    CHECK(reference::softmax_cross_entropy(dflat.data(), flat.data(), &label0, 1, classes) ==
          doctest::Approx(std::log(6.0)).epsilon(1e-6));
    CHECK(dflat[1] == doctest::Approx(1.0 / 6 - 1).epsilon(1e-6));
    loss();
    const std::vector<float> analytic = d;
    CHECK(grad_error(loss, logits, analytic, 1e-3f) < 1e-3);
}
