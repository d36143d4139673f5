// The solver's pieces against hand-computed values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "train/solver.hpp"

using namespace alexnet;

TEST_CASE("SGD follows the paper's update, with Caffe's bias multipliers on request") {
    ModelSpec spec = make_preset("alexnet-28", {});
    ParamLayout layout = param_layout(spec);
    std::vector<float> w(size_t(layout.total), 2.f), g(size_t(layout.total), 1.f);
    Sgd plain(layout, 0.9f, 0.1f, false);
    plain.update(w.data(), g.data(), 0.5f);
    // v = 0.9*0 - 0.1*0.5*2 - 0.5*1 = -0.6; w = 1.4
    CHECK(w[0] == doctest::Approx(1.4f));
    CHECK(plain.velocity()[0] == doctest::Approx(-0.6f));
    plain.update(w.data(), g.data(), 0.5f);
    // v = 0.9*-0.6 - 0.1*0.5*1.4 - 0.5 = -1.11; w = 0.29
    CHECK(w[0] == doctest::Approx(0.29f));

    std::vector<float> w2(size_t(layout.total), 2.f);
    Sgd caffe(layout, 0.9f, 0.1f, true);
    caffe.update(w2.data(), g.data(), 0.5f);
    const int64_t bias = layout.offset[size_t(layout.index_of("conv1.bias"))];
    CHECK(w2[size_t(bias)] == doctest::Approx(2.f - 1.f));  // lr x2, no decay: v = -2*0.5*1
    CHECK(w2[0] == doctest::Approx(1.4f));
}

TEST_CASE("initialisers: the paper's biases and spreads, Caffe's fc fillers, He's fan-in scaling") {
    ModelSpec spec = make_preset("alexnet-28", {});
    ParamLayout L = param_layout(spec);
    std::vector<float> p(size_t(L.total));
    auto tensor = [&](const std::string& name) {
        const int i = L.index_of(name);
        return std::vector<float>(p.begin() + L.offset[size_t(i)], p.begin() + L.offset[size_t(i)] + L.numel(size_t(i)));
    };
    auto stddev = [](const std::vector<float>& v) {
        double s = 0, s2 = 0;
        for (float x : v) s += x, s2 += double(x) * x;
        const double m = s / double(v.size());
        return std::sqrt(s2 / double(v.size()) - m * m);
    };
    initialise(spec, L, p.data(), "paper", 1);
    CHECK(tensor("conv1.bias")[0] == 0.f);
    CHECK(tensor("conv2.bias")[3] == 1.f);
    CHECK(tensor("conv3.bias")[0] == 0.f);
    CHECK(tensor("fc7.bias")[0] == 1.f);
    CHECK(tensor("fc8.bias")[0] == 0.f);
    CHECK(stddev(tensor("fc6.weight")) == doctest::Approx(0.01).epsilon(0.02));
    initialise(spec, L, p.data(), "caffe", 1);
    CHECK(tensor("fc6.bias")[0] == doctest::Approx(0.1f));
    CHECK(stddev(tensor("fc6.weight")) == doctest::Approx(0.005).epsilon(0.02));
    CHECK(stddev(tensor("fc8.weight")) == doctest::Approx(0.01).epsilon(0.05));
    initialise(spec, L, p.data(), "kaiming", 1);
    CHECK(stddev(tensor("conv2.weight")) == doctest::Approx(std::sqrt(2.0 / (32 * 25))).epsilon(0.02));
    CHECK(tensor("conv2.bias")[0] == 0.f);
    const std::vector<float> before = tensor("conv1.weight");
    initialise_layer(spec, L, p.data(), "paper", 9, "fc8");
    CHECK(tensor("conv1.weight") == before);
    CHECK(stddev(tensor("fc8.weight")) == doctest::Approx(0.01).epsilon(0.05));
    CHECK_THROWS_WITH_AS(initialise(spec, L, p.data(), "xavier", 1),
                         "--init: expected one of paper, caffe, kaiming, torch, lecun, found 'xavier'", Error);
}

TEST_CASE("learning-rate policies") {
    LrPolicy p;
    p.base_lr = 0.01f;
    p.name = "step";
    p.step = 2;
    LrState s = lr_start(p);
    CHECK(lr_for_epoch(p, s, 1) == doctest::Approx(0.01f));
    CHECK(lr_for_epoch(p, s, 2) == doctest::Approx(0.001f));
    CHECK(lr_for_epoch(p, s, 5) == doctest::Approx(0.0001f));
    p.name = "multistep";
    p.milestones = {3, 7};
    CHECK(lr_for_epoch(p, s, 2) == doctest::Approx(0.01f));
    CHECK(lr_for_epoch(p, s, 3) == doctest::Approx(0.001f));
    CHECK(lr_for_epoch(p, s, 7) == doctest::Approx(0.0001f));
    p.name = "plateau";
    p.patience = 1;
    p.max_drops = 2;
    s = lr_start(p);
    lr_after_validation(p, s, 0.5);
    lr_after_validation(p, s, 0.4);
    CHECK(lr_for_epoch(p, s, 2) == doctest::Approx(0.01f));
    lr_after_validation(p, s, 0.45);  // no improvement: divide by 10
    CHECK(lr_for_epoch(p, s, 3) == doctest::Approx(0.001f));
    lr_after_validation(p, s, 0.41);
    lr_after_validation(p, s, 0.42);
    CHECK(s.drops == 2);
    lr_after_validation(p, s, 0.43);  // at most max_drops times
    CHECK(lr_for_epoch(p, s, 6) == doctest::Approx(0.0001f));
    p.name = "cosine";
    p.epochs = 4;
    p.warmup_epochs = 0;
    s = lr_start(p);
    CHECK(lr_for_epoch(p, s, 0) == doctest::Approx(0.01f));
    CHECK(lr_for_epoch(p, s, 2) == doctest::Approx(0.005f));  // half way: half the rate
    CHECK(lr_for_step(p, s, 1, 5, 10) == doctest::Approx(0.01f * 0.5f * (1 + std::cos(M_PI * 0.125))));
    CHECK(lr_for_step(p, s, 3, 39, 10) == doctest::Approx(0.01f * 0.5f * (1 + std::cos(M_PI * 39 / 40.0))));
    p.name = "cyclic";
    CHECK_THROWS_WITH_AS(lr_start(p),
                         "--lr-policy: expected one of fixed, step, multistep, plateau, cosine, found 'cyclic'", Error);
}

TEST_CASE("initialisers: PyTorch's default (uniform, bound 1/sqrt(fan_in)), LeCun normal, a scaled classifier") {
    ModelSpec spec = make_preset("convnet-4", {});
    ParamLayout L = param_layout(spec);
    std::vector<float> p(size_t(L.total));
    auto tensor = [&](const std::string& name) {
        const int i = L.index_of(name);
        return std::vector<float>(p.begin() + L.offset[size_t(i)], p.begin() + L.offset[size_t(i)] + L.numel(size_t(i)));
    };
    auto moments = [](const std::vector<float>& v) {
        double s = 0, s2 = 0;
        for (float x : v) s += x, s2 += double(x) * x;
        const double m = s / double(v.size());
        return std::make_pair(m, std::sqrt(s2 / double(v.size()) - m * m));
    };
    auto max_abs = [](const std::vector<float>& v) {
        double m = 0;
        for (float x : v) m = std::max(m, double(std::fabs(x)));
        return m;
    };
    initialise(spec, L, p.data(), "torch", 3);
    // conv2: fan_in 32 * 5 * 5; a uniform on [-b, b] has std b / sqrt(3)
    const double b2 = 1 / std::sqrt(800.0), b4 = 1 / std::sqrt(64.0 * 4 * 4);
    const auto w2 = tensor("conv2.weight");
    CHECK(max_abs(w2) <= b2);
    CHECK(max_abs(w2) > 0.99 * b2);
    CHECK(moments(w2).second == doctest::Approx(b2 / std::sqrt(3.0)).epsilon(0.03));
    CHECK(std::fabs(moments(w2).first) < 0.05 * b2);
    const auto bias2 = tensor("conv2.bias");  // biases: the same bound, from the weights' fan-in
    CHECK(max_abs(bias2) <= b2);
    CHECK(max_abs(bias2) > 0.5 * b2);
    CHECK(max_abs(tensor("fc4.weight")) <= b4);  // fc4: 64 channels of 4x4 after three poolings
    CHECK(moments(tensor("fc4.weight")).second == doctest::Approx(b4 / std::sqrt(3.0)).epsilon(0.05));
    CHECK(max_abs(tensor("fc4.bias")) <= b4);
    CHECK(max_abs(tensor("conv1.bias")) <= 1 / std::sqrt(3.0 * 25));

    initialise(spec, L, p.data(), "lecun", 3);
    CHECK(moments(tensor("conv2.weight")).second == doctest::Approx(std::sqrt(1.0 / 800)).epsilon(0.03));
    CHECK(moments(tensor("conv3.weight")).second == doctest::Approx(std::sqrt(1.0 / 800)).epsilon(0.03));
    CHECK(tensor("conv2.bias")[0] == 0.f);

    const auto fc = tensor("fc4.weight"), c3 = tensor("conv3.weight");
    scale_classifier_weights(spec, L, p.data(), 0.1f);
    const auto scaled = tensor("fc4.weight");
    for (size_t i = 0; i < fc.size(); ++i) CHECK(scaled[i] == doctest::Approx(0.1f * fc[i]));
    CHECK(tensor("conv3.weight") == c3);
    CHECK(tensor("fc4.bias")[0] == 0.f);
}
