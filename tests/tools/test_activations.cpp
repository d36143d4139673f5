// The activation experiment: the engine's activation curves against closed forms, the per-layer
// statistics on a hand-built case, and alexnet-compare-activations' bookkeeping on a tiny
// synthetic set (identical starts, iterations to target, the speed ratio, the figures).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.hpp"
#include "engine/precision.hpp"
#include "figure_util.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/train_net.hpp"
#include "synthetic_idx.hpp"
#include "test_util.hpp"
#include "study/activation_experiment.hpp"
#include "study/activation_figures.hpp"
#include "io/json_lines.hpp"

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

TEST_CASE("the paper's rate criterion: fewest iterations to the target, median over seeds, unreached = cap") {
    CHECK(median_iterations({300, 100, 200}, 1000) == 200);
    CHECK(median_iterations({300, -1, -1}, 1000) == 1000);
    CHECK(median_iterations({300, 100}, 1000) == 200);
    // rate 0 is fastest on seed 1 alone (a lucky seed), rate 1 on the median; rate 2 never gets there
    CHECK(fastest_rate({{50, 900, -1}, {200, 210, 220}, {-1, -1, -1}}, 1000) == 1);
    // two seeds in three that never reach count as the cap, however fast the third is
    CHECK(fastest_rate({{10, -1, -1}, {600, 700, 800}}, 1000) == 1);
    CHECK(fastest_rate({{-1, -1}, {-1, -1}}, 1000) == 0);  // ties go to the earlier rate
    CHECK(fastest_rate({{-1, -1, -1}, {500, -1, -1}}, 1000) == 1);  // equal medians: the lower mean
    CHECK(fastest_rate({{100, 400, 900}, {300, 400, 500}}, 1000) == 1);
    CHECK(fastest_rate({{400, 500, 600}, {300, 500, 900}}, 1000) == 0);
}

TEST_CASE("median curve: the seeds that reached the target keep their last value, the others drop out") {
    SeedCurves c{"relu", 0.01f, {}, {}};
    c.curves = {{{0.1, 1, 0.9}, {0.2, 2, 0.5}}, {{0.1, 1, 0.8}, {0.2, 2, 0.6}, {0.3, 3, 0.4}, {0.4, 4, 0.35}},
                {{0.1, 1, 0.7}, {0.2, 2, 0.2}}};
    c.reached = {false, true, true};
    const auto m = median_curve(c, 0.3);
    REQUIRE(m.size() == 4);
    CHECK(m[0].error == doctest::Approx(0.8));
    CHECK(m[1].error == doctest::Approx(0.5));
    CHECK(m[2].error == doctest::Approx((0.4 + 0.2) / 2));  // seed 1 dropped out, seed 3 keeps 0.2
    CHECK(m[3].error == doctest::Approx((0.35 + 0.2) / 2));
    CHECK(m[3].iter == 4);
    CHECK(with_suffix("out/fig.png", "-torch") == "out/fig-torch.png");
    CHECK(with_suffix("out.d/fig", "-torch") == "out.d/fig-torch");
}

namespace {
int64_t median3(std::vector<int64_t> v, int64_t cap) {
    for (auto& x : v) x = x < 0 ? cap : x;
    std::sort(v.begin(), v.end());
    return v[1];
}
}  // namespace

TEST_CASE("alexnet-compare-activations: identical starts, every trial, the rate with the fewest iterations") {
    TempDir dir;
    write_quadrants(dir.path, "train", 256, 1);
    const std::string plot = (dir.path / "fig1.png").string(), curves = (dir.path / "fig23.png").string();
    const Run r = run(kBin + "/alexnet-compare-activations -q --data " + dir.path.string() +
                      " --activations relu,tanh --seeds 3 --lr-grid 0.003,0.03,0.3 --target-error 0.3"
                      " --max-epochs 4 --eval-every 2 --batch-size 32 --plot " + plot + " --curves " + curves);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto lines = r.lines();
    const json& summary = lines.back();
    REQUIRE(summary["summary"] == true);
    const int64_t cap = 4 * 256 / 32;

    std::map<std::pair<std::string, double>, std::vector<int64_t>> trial_iters;  // [activation, lr] per seed
    std::map<std::string, double> chosen;
    std::map<std::pair<std::string, int>, std::string> hashes;
    std::map<std::pair<std::string, int>, double> first_logit_std;
    std::map<std::tuple<std::string, double, int>, int64_t> first_hit;  // from the measurement lines
    std::map<std::pair<std::string, int>, json> results;
    for (const auto& l : lines) {
        const std::string ev = l.value("event", "");
        if (ev == "trial") {
            const auto key = std::make_pair(l["activation"].get<std::string>(), l["lr"].get<double>());
            const json& it = l["iterations_to_target"][0];
            trial_iters[key].push_back(it.is_null() ? -1 : it.get<int64_t>());
            CHECK(l["seed"].get<size_t>() == trial_iters[key].size());  // seeds in order
            // the first logits come before any update: one value per activation and seed, at every rate
            const double logit_std = l["first_logit_std"].get<double>();
            CHECK(logit_std > 0);
            const auto seed_key = std::make_pair(l["activation"].get<std::string>(), l["seed"].get<int>());
            if (first_logit_std.count(seed_key)) CHECK(logit_std == first_logit_std[seed_key]);
            first_logit_std[seed_key] = logit_std;
        }
        if (ev == "lr") chosen[l["activation"]] = l["lr"].get<double>();
        if (ev == "run") hashes[{l["activation"], l["seed"].get<int>()}] = l["init_hash"];
        if (ev == "result") results[{l["activation"], l["seed"].get<int>()}] = l;
        if (l.contains("train_error") && ev.empty()) {
            const auto key = std::make_tuple(l["activation"].get<std::string>(), l["lr"].get<double>(), l["seed"].get<int>());
            CHECK(l["layers"].size() == 4);  // conv1..conv3 and the classifier
            CHECK(l["layers"][0]["layer"] == "conv1");
            CHECK(l["iter"].get<int>() % 2 == 0);
            CHECK(l["epoch"].get<double>() == doctest::Approx(l["iter"].get<double>() * 32 / 256));
            if (l["train_error"].get<double>() <= 0.3 && !first_hit.count(key)) first_hit[key] = l["iter"].get<int64_t>();
        }
    }
    // Every rate was tried on every seed, and the chosen one has the smallest median (unreached = cap).
    for (const std::string a : {"relu", "tanh"}) {
        CAPTURE(a);
        double best_lr = 0;
        int64_t best = std::numeric_limits<int64_t>::max();
        for (double lr : {0.003, 0.03, 0.3}) {
            const auto& v = trial_iters[{a, json_float(float(lr))}];
            REQUIRE(v.size() == 3);
            for (int seed = 1; seed <= 3; ++seed) {
                const auto key = std::make_tuple(a, json_float(float(lr)), seed);
                CHECK(v[size_t(seed - 1)] == (first_hit.count(key) ? first_hit[key] : -1));
            }
            if (median3(v, cap) < best) best = median3(v, cap), best_lr = json_float(float(lr));
        }
        CHECK(chosen[a] == best_lr);
        CHECK(summary["lr"][a].get<double>() == best_lr);
        for (int seed = 1; seed <= 3; ++seed) {
            const json& res = results.at({a, seed});
            CHECK(res["lr"].get<double>() == best_lr);
            const int64_t it = trial_iters[{a, best_lr}][size_t(seed - 1)];
            CHECK(res["reached"] == (it > 0));
            if (it > 0) CHECK(res["iterations_to_target"] == it);
        }
    }
    // Identical initial weights across activations for a seed, different ones across seeds.
    CHECK(hashes[{"relu", 1}] == hashes[{"tanh", 1}]);
    CHECK(hashes[{"relu", 2}] == hashes[{"tanh", 2}]);
    CHECK(hashes[{"relu", 1}] != hashes[{"relu", 2}]);
    // The speed-up: tanh's median over relu's, at the rates chosen for each.
    const int64_t relu_med = median3(trial_iters[{"relu", chosen["relu"]}], cap);
    const int64_t tanh_med = median3(trial_iters[{"tanh", chosen["tanh"]}], cap);
    REQUIRE(relu_med < cap);  // the quadrant set is easy: ReLU gets there in 4 epochs
    CHECK(summary["speedup_vs_tanh"]["relu"].get<double>() == doctest::Approx(double(tanh_med) / double(relu_med)));
    CHECK(summary["speedup_vs_tanh"]["tanh"].get<double>() == doctest::Approx(1.0));
    CHECK(summary["iterations_to_target"]["relu"]["per_seed"].size() == 3);
    CHECK(summary["seeds"] == 3);
    CHECK(summary["target_error"] == 0.3);
    CHECK(summary["lr_chosen_by"] == "iterations");

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

TEST_CASE("alexnet-compare-activations --lr-choice error: the first criterion, one trial per rate on one seed") {
    TempDir dir;
    write_quadrants(dir.path, "train", 256, 1);
    const Run r = run(kBin + "/alexnet-compare-activations -q --data " + dir.path.string() +
                      " --activations relu --seeds 2 --lr-grid 0.003,0.03 --lr-choice error --sweep-iters 4"
                      " --target-error 0.3 --max-epochs 2 --eval-every 2 --batch-size 32");
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto lines = r.lines();
    std::map<double, double> score;
    int trials = 0;
    double chosen = 0;
    for (const auto& l : lines) {
        if (l.value("event", "") == "sweep") {
            CHECK(l["iters"] == 4);
            score[l["lr"].get<double>()] = l["train_error"].get<double>();
        }
        if (l.value("event", "") == "trial") ++trials;
        if (l.value("event", "") == "lr") chosen = l["lr"].get<double>();
    }
    REQUIRE(score.size() == 2);
    CHECK(chosen == (score.begin()->second <= score.rbegin()->second ? score.begin()->first : score.rbegin()->first));
    CHECK(trials == 2);  // the chosen rate on both seeds
    CHECK(lines.back()["lr_chosen_by"] == "error");
}

namespace {

const std::string kBf16StudyArgs = " --activations relu --seeds 1 --lr 0.003 --target-error 0.3 --max-epochs 6 --batch-size 32";

}  // namespace

TEST_CASE("alexnet-compare-activations --precision bf16 is refused in one line, before any work, where the CPU lacks it") {
    TempDir dir;
    write_quadrants(dir.path, "train", 256, 1);
    const Run refused = run("ONEDNN_MAX_CPU_ISA=AVX2 " + kBin + "/alexnet-compare-activations -q --data " +
                            dir.path.string() + kBf16StudyArgs + " --precision bf16");
    CHECK(refused.status == 2);
    CHECK(refused.out.empty());
    CHECK(refused.err == "alexnet-compare-activations: --precision: bf16: expected a CPU with AVX512-BF16 (oneDNN ISA "
                         "avx512_core_bf16 or newer), found avx2 on this CPU (oneDNN's effective ISA), where fp32 and "
                         "int8 run\n");
}

TEST_CASE("alexnet-compare-activations --precision bf16 trains every run in bf16 [needs bf16]") {
    if (!test::cpu_runs(Precision::bf16)) return;
    TempDir dir;
    write_quadrants(dir.path, "train", 256, 1);
    const std::string cmd = kBin + "/alexnet-compare-activations -q --data " + dir.path.string() + kBf16StudyArgs;
    const Run r = run(cmd + " --precision bf16"), f = run(cmd);
    INFO(r.err);
    REQUIRE(r.status == 0);
    REQUIRE(f.status == 0);
    CHECK(r.lines().front()["precision"] == "bf16");
    CHECK(r.lines().back()["reached"]["relu"] == 1);
    // The fp32 run starts from the same weights; its first logits differ by bf16's rounding.
    const double a = r.lines().back()["cells"][0]["first_logit_std"], b = f.lines().back()["cells"][0]["first_logit_std"];
    CHECK(a != b);
    CHECK(std::fabs(a - b) < 0.01 * b);
}

TEST_CASE("alexnet-compare-activations --study: a cell per init, target and activation, and its figures") {
    TempDir dir;
    write_quadrants(dir.path, "train", 256, 1);
    const std::string plot = (dir.path / "study.png").string();
    const Run r = run(kBin + "/alexnet-compare-activations -q --data " + dir.path.string() +
                      " --study --inits torch,lecun --targets 0.2,0.4 --activations relu,tanh --seeds 2"
                      " --lr-grid 0.03 --max-epochs 3 --eval-every 2 --batch-size 32 --last-layer-scale 0.1"
                      " --plot " + plot);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const json summary = r.lines().back();
    CHECK(summary["study"] == true);
    CHECK(summary["targets"] == json::array({0.4, 0.2}));  // descending
    REQUIRE(summary["cells"].size() == 2 * 2 * 2);
    for (const auto& c : summary["cells"]) {
        CAPTURE(c.dump());
        CHECK(c["seeds"] == 2);
        CHECK(c["lr"].get<double>() == doctest::Approx(0.03));
        const double med = c["median_iterations"].get<double>();
        if (c["activation"] == "tanh") CHECK(c["speedup_vs_tanh"].get<double>() == doctest::Approx(1.0));
        if (c["activation"] == "relu") {
            for (const auto& t : summary["cells"])
                if (t["activation"] == "tanh" && t["init"] == c["init"] && t["target"] == c["target"])
                    CHECK(c["speedup_vs_tanh"].get<double>() == doctest::Approx(t["median_iterations"].get<double>() / med));
        }
    }
    // the speed-ups in two panels (one per init), relu blue with tanh's 1x grey; Figure 1 per init
    const auto table = read_figure(plot);
    check_png_size(table, 1900, 2100, 800, 1000);
    CHECK(count_colour(table.png, 0x0072b2) > 200);
    CHECK(count_colour(table.png, 0x6e6e6e) > 200);
    for (const std::string init : {"torch", "lecun"}) {
        CAPTURE(init);
        const auto fig1 = read_figure((dir.path / ("study-" + init + ".png")).string());
        check_png_size(fig1, 1150, 1300, 800, 1000);
        CHECK(count_colour(fig1.png, 0x0072b2) > 200);
        CHECK(count_colour(fig1.png, 0xd55e00) > 200);
    }
}

TEST_CASE("--last-layer-scale: the first logits shrink by the factor (lecun: zero biases, so exactly)") {
    TempDir dir;
    write_quadrants(dir.path, "train", 64, 1);
    auto first_logit_std = [&](const std::string& extra) {
        const Run r = run(kBin + "/alexnet-compare-activations -q --data " + dir.path.string() +
                          " --init lecun --activations relu --seeds 1 --lr 0.01 --max-epochs 1 --batch-size 32" + extra);
        INFO(r.err);
        REQUIRE(r.status == 0);
        for (const auto& l : r.lines())
            if (l.value("event", "") == "trial") return l["first_logit_std"].get<double>();
        FAIL("no trial line");
        return 0.0;
    };
    const double plain = first_logit_std(""), scaled = first_logit_std(" --last-layer-scale 0.1");
    CHECK(plain > 0);
    CHECK(scaled == doctest::Approx(0.1 * plain).epsilon(1e-4));
}

TEST_CASE("the study figure draws a speed-up whose median sits at the budget as a bound, not on the measured line") {
    TempDir dir;
    auto cell = [](double target, double speedup, json bound) {
        return nlohmann::ordered_json{{"target", target}, {"speedup_vs_tanh", speedup}, {"speedup_bound", bound},
                                      {"speedup_per_seed", nullptr}};
    };
    const int kVermilion = 0xd55e00;  // the second style: the first name after relu's
    for (const bool with_bound : {false, true}) {
        CAPTURE(with_bound);
        StudyPanel panel{"paper", {0.25, 0.15, 0.1}, {}};
        panel.speedups["relu"] = {cell(0.25, 0.29, nullptr), cell(0.15, 0.45, nullptr),
                                  cell(0.1, 0.76, with_bound ? json("at most") : json(nullptr))};
        const std::string path = dir / (with_bound ? "bound.png" : "measured.png");
        write_study_figure(path, {panel}, "study", "subtitle");
        const auto fig = read_figure(path);
        CHECK(count_colour(fig.png, 0x0072b2) > 200);
        if (with_bound)
            CHECK(count_colour(fig.png, kVermilion) > 40);  // its marker and legend entry
        else
            CHECK(count_colour(fig.png, kVermilion) == 0);
    }
}
