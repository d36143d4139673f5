// The activation experiment: the engine's activation curves against closed forms, the per-layer
// statistics on a hand-built case, and alexnet-compare-activations' bookkeeping on a tiny
// synthetic set (identical starts, iterations to target, the speed ratio, the figures).
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.hpp"
#include "figure_util.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/train_net.hpp"
#include "synthetic_idx.hpp"
#include "test_util.hpp"
#include "train/activation_experiment.hpp"

using namespace alexnet;
using alexnet::test::kBin;
using alexnet::test::check_png_size;
using alexnet::test::count_colour;
using alexnet::test::read_figure;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
using alexnet::test::write_quadrants;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("oneDNN's activation curves and derivatives match the closed forms over [-6, 6]") {
    std::vector<float> x;
    for (int i = 0; i <= 240; ++i) x.push_back(-6.f + 0.05f * float(i));
    x.push_back(1e-3f), x.push_back(-1e-3f);  // near the kinks
    for (Activation a : {Activation::relu, Activation::tanh, Activation::sigmoid, Activation::leaky_relu, Activation::elu}) {
        CAPTURE(to_string(a));
        std::vector<float> y, dy;
        eltwise_curve(a, x, y, dy);
        REQUIRE(y.size() == x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            const double v = x[i];
            double f = 0, d = 0;
            switch (a) {
                case Activation::relu: f = v > 0 ? v : 0, d = v > 0 ? 1 : 0; break;
                case Activation::tanh: f = std::tanh(v), d = 1 / (std::cosh(v) * std::cosh(v)); break;
                case Activation::sigmoid: f = 1 / (1 + std::exp(-v)), d = std::exp(-v) / ((1 + std::exp(-v)) * (1 + std::exp(-v))); break;
                case Activation::leaky_relu: f = v > 0 ? v : 0.01 * v, d = v > 0 ? 1 : 0.01; break;
                case Activation::elu: f = v > 0 ? v : std::exp(v) - 1, d = v > 0 ? 1 : std::exp(v); break;
                case Activation::none: break;
            }
            CAPTURE(v);
            CHECK(y[i] == doctest::Approx(f).epsilon(1e-5).scale(1));
            CHECK(dy[i] == doctest::Approx(d).epsilon(1e-4).scale(1));
        }
    }
}

TEST_CASE("activation statistics: saturated outputs and dead units on a hand-built layer") {
    // input (2) -> fc6 (3 units) -> fc8 (2): unit 0 follows x0, unit 1 follows -x0, unit 2 is -1
    ModelSpec spec;
    spec.arch = "tiny";
    spec.input = {2, 1, 1};
    spec.layers = {fc_layer("fc6", 3, Activation::relu), fc_layer("fc8", 2, Activation::none), softmax_layer("prob")};
    infer_shapes(spec);
    const std::vector<float> w6{1, 0, -1, 0, 0, 0}, b6{0, 0, -1}, w8(6, 0.1f), b8(2, 0.f);
    Weights w;
    w.add_view("fc6.weight", {3, 2}, w6.data());
    w.add_view("fc6.bias", {3}, b6.data());
    w.add_view("fc8.weight", {2, 3}, w8.data());
    w.add_view("fc8.bias", {2}, b8.data());
    std::vector<float> logits(4);

    TrainNet relu(spec, 2, 0.f);
    relu.set_weights(w);
    const std::vector<float> small{1, 0, 2, 0};
    relu.evaluate(small.data(), logits.data());
    auto s = relu.activation_stats();
    REQUIRE(s.size() == 1);
    CHECK(s[0].layer == "fc6");
    CHECK(s[0].units == 3);
    CHECK(s[0].saturated_fraction == doctest::Approx(4.0 / 6));  // unit 1 and 2 output 0 for both images
    CHECK(s[0].dead_fraction == doctest::Approx(2.0 / 3));

    set_hidden_activation(spec, Activation::tanh);
    TrainNet tanh_net(spec, 2, 0.f);
    tanh_net.set_weights(w);
    tanh_net.evaluate(small.data(), logits.data());
    s = tanh_net.activation_stats();
    CHECK(s[0].saturated_fraction == 0);  // tanh(2) = 0.964: still learning
    const std::vector<float> large{3, 0, 4, 0};  // 1 - tanh(3)^2 = 0.0099: saturated
    tanh_net.evaluate(large.data(), logits.data());
    s = tanh_net.activation_stats();
    CHECK(s[0].saturated_fraction == doctest::Approx(4.0 / 6));  // units 0 and 1; unit 2 sits at tanh(-1)
    CHECK(s[0].dead_fraction == doctest::Approx(2.0 / 3));
}

TEST_CASE("the speed-up is tanh's iterations over the other's, averaged over seeds where both got there") {
    CHECK(mean_speedup({100, 60, -1}, {20, 10, 30}) == doctest::Approx((5.0 + 6.0) / 2));
    CHECK(mean_speedup({-1}, {20}) < 0);
    CHECK(mean_speedup({50, 50}, {100, 25}) == doctest::Approx((0.5 + 2.0) / 2));
}

TEST_CASE("alexnet-compare-activations: identical starts, iterations to target, ratio, figures") {
    TempDir dir;
    write_quadrants(dir.path, "train", 256, 1);
    const std::string plot = (dir.path / "fig1.png").string(), curves = (dir.path / "fig23.png").string();
    const Run r = run(kBin + "/alexnet-compare-activations -q --data " + dir.path.string() +
                      " --activations relu,tanh --seeds 2 --lr-grid 0.003,0.03 --sweep-iters 4 --target-error 0.3"
                      " --max-epochs 4 --eval-every 2 --batch-size 32 --plot " + plot + " --curves " + curves);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto lines = r.lines();
    const json& summary = lines.back();
    REQUIRE(summary["summary"] == true);

    std::map<std::string, int> sweeps;
    std::map<std::string, double> chosen;
    std::map<std::pair<std::string, int>, std::string> hashes;
    std::map<std::pair<std::string, int>, int64_t> first_hit;  // from the measurement lines
    std::map<std::pair<std::string, int>, json> results;
    for (const auto& l : lines) {
        if (l.value("event", "") == "sweep") ++sweeps[l["activation"]];
        if (l.value("event", "") == "lr") chosen[l["activation"]] = l["lr"].get<double>();
        if (l.value("event", "") == "run") hashes[{l["activation"], l["seed"].get<int>()}] = l["init_hash"];
        if (l.value("event", "") == "result") results[{l["activation"], l["seed"].get<int>()}] = l;
        if (l.contains("train_error") && !l.contains("event")) {
            const auto key = std::make_pair(l["activation"].get<std::string>(), l["seed"].get<int>());
            CHECK(l["layers"].size() == 4);  // conv1..conv3 and the classifier
            CHECK(l["layers"][0]["layer"] == "conv1");
            CHECK(l["layers"][0]["grad_norm"].get<double>() > 0);
            CHECK(l["iter"].get<int>() % 2 == 0);
            CHECK(l["epoch"].get<double>() == doctest::Approx(l["iter"].get<double>() * 32 / 256));
            if (l["train_error"].get<double>() <= 0.3 && !first_hit.count(key)) first_hit[key] = l["iter"].get<int64_t>();
        }
    }
    CHECK(sweeps["relu"] == 2);
    CHECK(sweeps["tanh"] == 2);
    CHECK(summary["lr"]["relu"].get<double>() == doctest::Approx(chosen["relu"]));
    // Identical initial weights across activations for a seed, different ones across seeds.
    CHECK(hashes[{"relu", 1}] == hashes[{"tanh", 1}]);
    CHECK(hashes[{"relu", 2}] == hashes[{"tanh", 2}]);
    CHECK(hashes[{"relu", 1}] != hashes[{"relu", 2}]);
    // Iterations to target: the first measurement at or below it, and the run stops there.
    std::map<std::string, std::vector<int64_t>> iters;
    for (const std::string a : {"relu", "tanh"})
        for (int seed : {1, 2}) {
            CAPTURE(a);
            CAPTURE(seed);
            const json& res = results.at({a, seed});
            const bool reached = first_hit.count({a, seed}) != 0;
            CHECK(res["reached"] == reached);
            iters[a].push_back(reached ? first_hit[{a, seed}] : -1);
            if (!reached) continue;
            CHECK(res["iterations_to_target"] == first_hit[{a, seed}]);
            CHECK(res["epochs_to_target"].get<double>() == doctest::Approx(first_hit[{a, seed}] * 32.0 / 256));
            CHECK(summary["iterations_to_target"][a]["per_seed"][seed - 1] == first_hit[{a, seed}]);
        }
    REQUIRE(iters["relu"][0] > 0);  // the quadrant set is easy: ReLU gets there in 4 epochs
    const double ratio = mean_speedup(iters["tanh"], iters["relu"]);
    if (ratio > 0)
        CHECK(summary["speedup_vs_tanh"]["relu"].get<double>() == doctest::Approx(ratio));
    else
        CHECK(summary["speedup_vs_tanh"]["relu"].is_null());
    if (iters["tanh"][0] > 0 || iters["tanh"][1] > 0)
        CHECK(summary["speedup_vs_tanh"]["tanh"].get<double>() == doctest::Approx(1.0));
    CHECK(summary["seeds"] == 2);
    CHECK(summary["target_error"] == 0.3);

    // Figure 1 in one panel, Figures 2-3 in two, each with an SVG beside: relu blue, tanh vermillion,
    // the target grey.
    const auto fig1 = read_figure(plot), fig23 = read_figure(curves);
    check_png_size(fig1, 1150, 1300, 800, 1000);
    CHECK(count_colour(fig1.png, 0x0072b2) > 200);
    CHECK(count_colour(fig1.png, 0xd55e00) > 200);
    CHECK(count_colour(fig1.png, 0x6e6e6e) > 200);
    check_png_size(fig23, 1900, 2100, 800, 950);
    CHECK(count_colour(fig23.png, 0x0072b2) > 500);
    CHECK(count_colour(fig23.png, 0xd55e00) > 500);
}
