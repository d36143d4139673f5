#include "study/activation_experiment.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "core/error.hpp"
#include "data/augment.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/inference_net.hpp"
#include "engine/train_net.hpp"
#include "figures/plot.hpp"
#include "metrics/topk.hpp"
#include "study/activation_figures.hpp"
#include "train/solver.hpp"

namespace alexnet {

namespace {

using clock_type = std::chrono::steady_clock;
using ojson = nlohmann::ordered_json;

// FNV-1a over the parameter bytes: equal initial weights give equal hashes.
std::string hash_params(const float* p, int64_t n) {
    uint64_t h = 1469598103934665603ull;
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    for (int64_t i = 0; i < n * int64_t(sizeof(float)); ++i) h = (h ^ b[i]) * 1099511628211ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

ojson number_or_null(double v, bool ok) { return ok ? ojson(v) : ojson(); }
ojson count_or_null(int64_t v) { return v >= 0 ? ojson(v) : ojson(); }

double median_of(std::vector<double> v) {
    if (v.empty()) return std::nan("");
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// The population standard deviation of every value: of the first logits, how far the initial
// weights put the network from a uniform guess.
double std_of(const std::vector<float>& v) {
    double s = 0, s2 = 0;
    for (float x : v) s += x, s2 += double(x) * x;
    const double m = s / double(v.size());
    return std::sqrt(std::max(0.0, s2 / double(v.size()) - m * m));
}

ojson spread(const std::vector<double>& v) {
    if (v.empty()) return nullptr;
    double mean = 0;
    for (double x : v) mean += x;
    mean /= double(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    const double std = v.size() > 1 ? std::sqrt(var / double(v.size() - 1)) : 0.0;
    return {{"mean", json_float(float(mean))}, {"median", json_float(float(median_of(v)))},
            {"std", json_float(float(std))}, {"min", json_float(float(*std::min_element(v.begin(), v.end())))},
            {"max", json_float(float(*std::max_element(v.begin(), v.end())))}};
}

struct RunResult {
    std::vector<CurvePoint> curve;
    std::vector<int64_t> iters;  // per target; -1: not reached
    double first_logit_std = 0;  // of the first batch's logits, before any update
    int64_t stopped_at = 0;
    std::string stop;            // target, budget, max_epochs, diverged
};

// What one activation did under one initialisation: every trial, and per target the chosen rate.
struct Outcome {
    std::vector<float> rates;
    std::vector<std::vector<RunResult>> runs;  // [rate][seed]
    std::vector<size_t> chosen;                // per target, an index into rates
    std::vector<int64_t> iters(size_t target, size_t rate) const {
        std::vector<int64_t> v;
        for (const auto& r : runs[rate]) v.push_back(r.iters[target]);
        return v;
    }
};

struct Experiment {
    const ExperimentOptions& o;
    JsonLines& out;
    LabelledSet set;
    ModelSpec base;  // relu; each run sets its activation
    int iters_per_epoch = 0, eval_every = 0;
    int64_t max_iters = 0;

    // One training run from seed `seed`'s initial weights at a fixed rate. It measures the
    // training error every eval_every iterations, records the first measurement at or below each
    // target (descending), and stops when every target is reached, or when no unreached target has
    // budget left (iterations < budgets[t]), or after `limit` iterations.
    RunResult run(Activation act, const std::string& init, uint64_t seed, float lr, const std::vector<double>& targets,
                  const std::vector<int64_t>& budgets, int64_t limit) {
        ModelSpec spec = base;
        set_hidden_activation(spec, act);
        TrainNet net(spec, o.batch, 0.f);
        const ParamLayout& layout = net.layout();
        initialise(spec, layout, net.params(), init, seed);
        if (o.last_layer_scale != 1) scale_classifier_weights(spec, layout, net.params(), o.last_layer_scale);
        Sgd sgd(layout, o.momentum, 0.f, false);
        const std::string name = to_string(act);
        out.write({{"event", "run"}, {"init", init}, {"activation", name}, {"seed", seed}, {"lr", json_float(lr)},
                   {"init_hash", hash_params(net.params(), layout.total)}});
        // weight tensors of the hidden layers, for gradient norms
        std::vector<std::pair<std::string, size_t>> weights;
        for (size_t i = 0; i < layout.tensors.size(); ++i)
            if (layout.tensors[i].name.size() > 7 && layout.tensors[i].name.ends_with(".weight"))
                weights.push_back({layout.tensors[i].name.substr(0, layout.tensors[i].name.size() - 7), i});
        std::vector<double> grad_norm_sum(weights.size(), 0.0);

        Loader loader(set, spec.preprocessing, Augmentation{false, false, 0, {}}, o.batch, true, seed, o.loader_threads);
        RunResult r;
        r.iters.assign(targets.size(), -1);
        const int classes = spec.num_classes();
        std::vector<float> logits(size_t(o.batch) * classes);
        int64_t iter = 0, wrong = 0, seen = 0, steps_in_interval = 0;
        double loss_sum = 0;
        auto keep_going = [&] {
            if (iter >= limit) return false;
            if (targets.empty()) return true;
            for (size_t t = 0; t < targets.size(); ++t)
                if (r.iters[t] < 0 && iter < budgets[t]) return true;
            return false;
        };
        for (int epoch = 0; keep_going(); ++epoch) {
            loader.start(epoch);
            for (int b = 0; b < iters_per_epoch && keep_going(); ++b) {
                const LoaderBatch& batch = loader.next();
                const float loss = net.train_step(batch.data.data(), batch.labels.data(), 0, logits.data());
                if (iter == 0) r.first_logit_std = std_of(logits);
                if (!std::isfinite(loss)) {
                    r.stop = "diverged";
                    r.stopped_at = iter + 1;
                    out.write({{"event", "diverged"}, {"init", init}, {"activation", name}, {"seed", seed},
                               {"iter", iter + 1}, {"lr", json_float(lr)}});
                    return r;
                }
                for (int k = 0; k < o.batch; ++k)
                    wrong += label_rank(logits.data() + size_t(k) * classes, classes, batch.labels[size_t(k)]) != 0;
                seen += o.batch;
                loss_sum += double(loss) * o.batch;
                for (size_t w = 0; w < weights.size(); ++w) {
                    const float* g = net.grads() + layout.offset[weights[w].second];
                    double s = 0;
                    for (int64_t i = 0; i < layout.numel(weights[w].second); ++i) s += double(g[i]) * g[i];
                    grad_norm_sum[w] += std::sqrt(s);
                }
                ++steps_in_interval;
                sgd.update(net.params(), net.grads(), lr);
                ++iter;
                if (iter % eval_every != 0 && iter != limit) continue;
                const CurvePoint p{double(iter) * o.batch / set.size(), iter, double(wrong) / double(seen)};
                r.curve.push_back(p);
                ojson layers = ojson::array();
                const auto stats = net.activation_stats();  // of the interval's last batch
                for (size_t w = 0; w < weights.size(); ++w) {
                    ojson l{{"layer", weights[w].first}};
                    for (const auto& s : stats)
                        if (s.layer == weights[w].first) {
                            l["saturated_fraction"] = json_float(float(s.saturated_fraction));
                            l["dead_fraction"] = json_float(float(s.dead_fraction));
                        }
                    l["grad_norm"] = json_float(float(grad_norm_sum[w] / double(steps_in_interval)));
                    layers.push_back(l);
                }
                out.write({{"init", init}, {"activation", name}, {"seed", seed}, {"epoch", json_float(float(p.epoch))},
                           {"iter", iter}, {"train_error", json_float(float(p.error))},
                           {"loss", json_float(float(loss_sum / double(seen)))}, {"lr", json_float(lr)},
                           {"layers", layers}});
                wrong = seen = steps_in_interval = 0;
                loss_sum = 0;
                std::fill(grad_norm_sum.begin(), grad_norm_sum.end(), 0.0);
                for (size_t t = 0; t < targets.size(); ++t)
                    if (r.iters[t] < 0 && p.error <= targets[t]) r.iters[t] = iter;
            }
        }
        r.stopped_at = iter;
        const bool all = std::all_of(r.iters.begin(), r.iters.end(), [](int64_t i) { return i >= 0; });
        r.stop = !targets.empty() && all ? "target" : iter >= max_iters ? "max_epochs" : "budget";
        return r;
    }

    // The tool's first criterion: the lowest training error over the last quarter of a short run
    // on the first seed.
    float rate_by_error(Activation act, const std::string& init) {
        const int64_t iters = o.sweep_iters > 0 ? o.sweep_iters : iters_per_epoch;
        float best_lr = o.lr_grid.front();
        double best = std::numeric_limits<double>::infinity();
        for (float lr : o.lr_grid) {
            const RunResult r = run(act, init, o.seed, lr, {}, {}, iters);
            double score = std::numeric_limits<double>::infinity();
            if (r.stop != "diverged" && !r.curve.empty()) {
                const size_t from = r.curve.size() - std::max<size_t>(1, r.curve.size() / 4);
                score = 0;
                for (size_t i = from; i < r.curve.size(); ++i) score += r.curve[i].error;
                score /= double(r.curve.size() - from);
            }
            out.write({{"event", "sweep"}, {"init", init}, {"activation", to_string(act)}, {"lr", json_float(lr)},
                       {"iters", iters}, {"train_error", number_or_null(json_float(float(score)), std::isfinite(score))},
                       {"diverged", r.stop == "diverged"}});
            if (score < best) best = score, best_lr = lr;
        }
        check(std::isfinite(best), "--lr-grid", "", "a rate at which " + std::string(to_string(act)) + " trains",
              "every rate diverged");
        return best_lr;
    }

    // Every rate on every seed, each trial stopped when it can no longer be the fastest for any
    // target: a seed that needs more than the best median so far cannot pull its rate's median
    // below it. The budget is twice that median (at most max_epochs), so that the slower seeds
    // of the chosen rate usually still reach the target and the spread is measured too.
    static constexpr double kBudgetFactor = 2.0;
    Outcome trials(Activation act, const std::string& init, const std::vector<double>& targets) {
        Outcome out_;
        out_.rates = o.lr > 0 ? std::vector<float>{o.lr}
                     : o.lr_choice == "error" ? std::vector<float>{rate_by_error(act, init)}
                                              : o.lr_grid;
        std::vector<int64_t> budgets(targets.size(), max_iters);
        const std::string name = to_string(act);
        for (float lr : out_.rates) {
            out_.runs.emplace_back();
            for (int s = 0; s < o.seeds; ++s) {
                const uint64_t seed = o.seed + uint64_t(s);
                RunResult r = run(act, init, seed, lr, targets, budgets, max_iters);
                ojson it = ojson::array();
                for (int64_t i : r.iters) it.push_back(count_or_null(i));
                out.write({{"event", "trial"}, {"init", init}, {"activation", name}, {"seed", seed},
                           {"lr", json_float(lr)}, {"targets", targets}, {"iterations_to_target", it},
                           {"first_logit_std", json_float(float(r.first_logit_std))}, {"stopped_at", r.stopped_at},
                           {"stop", r.stop}});
                std::string msg = "alexnet-compare-activations: " + init + " " + name + " lr " + fixed(lr, 4) +
                                  " seed " + std::to_string(seed) + ":";
                for (size_t t = 0; t < targets.size(); ++t)
                    msg.append(" ").append(fixed(targets[t], 2)).append(" ").append(
                        r.iters[t] >= 0 ? std::to_string(r.iters[t]) : std::string("-"));
                log_info(o.quiet, msg + " (stopped at " + std::to_string(r.stopped_at) + ", " + r.stop + ")");
                out_.runs.back().push_back(std::move(r));
            }
            const size_t k = out_.runs.size() - 1;
            for (size_t t = 0; t < targets.size(); ++t) {
                const std::vector<int64_t> iters = out_.iters(t, k);
                const double med = median_iterations(iters, max_iters);
                const int reached = int(std::count_if(iters.begin(), iters.end(), [](int64_t i) { return i >= 0; }));
                out.write({{"event", "rate"}, {"init", init}, {"activation", name}, {"lr", json_float(lr)},
                           {"target", targets[t]}, {"median_iterations", med}, {"reached", reached},
                           {"seeds", o.seeds}});
                if (reached * 2 > o.seeds) budgets[t] = std::min(budgets[t], int64_t(std::ceil(kBudgetFactor * med)));
            }
        }
        for (size_t t = 0; t < targets.size(); ++t) {
            std::vector<std::vector<int64_t>> per_rate;
            for (size_t k = 0; k < out_.rates.size(); ++k) per_rate.push_back(out_.iters(t, k));
            out_.chosen.push_back(fastest_rate(per_rate, max_iters));
            ojson grid = ojson::array();
            for (float lr : out_.rates) grid.push_back(json_float(lr));
            const float lr = out_.rates[out_.chosen.back()];
            out.write({{"event", "lr"}, {"init", init}, {"activation", name}, {"target", targets[t]},
                       {"lr", json_float(lr)}, {"grid", grid},
                       {"criterion", o.lr > 0 ? "--lr" : o.lr_choice == "error" ? "error" : "iterations"}});
        }
        return out_;
    }
};

}  // namespace

double median_iterations(const std::vector<int64_t>& iters, int64_t cap) {
    std::vector<double> v;
    for (int64_t i : iters) v.push_back(double(i >= 0 ? i : cap));
    return median_of(v);
}

size_t fastest_rate(const std::vector<std::vector<int64_t>>& iters_per_rate, int64_t cap) {
    size_t best = 0;
    std::pair<double, double> best_key{std::numeric_limits<double>::infinity(), 0};  // (median, mean)
    for (size_t k = 0; k < iters_per_rate.size(); ++k) {
        double mean = 0;
        for (int64_t i : iters_per_rate[k]) mean += double(i >= 0 ? i : cap);
        mean /= double(std::max<size_t>(1, iters_per_rate[k].size()));
        const std::pair<double, double> key{median_iterations(iters_per_rate[k], cap), mean};
        if (key < best_key) best_key = key, best = k;
    }
    return best;
}

namespace {

// One cell of the study: an activation under one initialisation, timed to one target at its
// chosen rate, and its speed-up over tanh's (also at tanh's chosen rate).
ojson cell_json(const Experiment& e, const std::string& init, double target, const std::string& act,
                const Outcome& mine, const Outcome* tanh, size_t t) {
    const size_t k = mine.chosen[t];
    const std::vector<int64_t> iters = mine.iters(t, k);
    const double med = median_iterations(iters, e.max_iters);
    std::vector<double> reached_iters;
    ojson per_seed = ojson::array();
    for (int64_t i : iters) {
        per_seed.push_back(count_or_null(i));
        if (i >= 0) reached_iters.push_back(double(i));
    }
    ojson c{{"init", init}, {"target", target}, {"activation", act}, {"lr", json_float(mine.rates[k])},
            {"median_iterations", med}, {"median_epochs", json_float(float(med * e.o.batch / e.set.size()))},
            {"iterations", spread(reached_iters)}, {"per_seed", per_seed}, {"reached", reached_iters.size()},
            {"seeds", iters.size()}};
    std::vector<double> logit_std;  // the same at every rate: one seed, one init, one first batch
    for (const auto& r : mine.runs[k]) logit_std.push_back(r.first_logit_std);
    c["first_logit_std"] = json_float(float(median_of(logit_std)));
    int stopped_early = 0;  // by the budget of a faster rate tried before, short of max_epochs
    for (const auto& r : mine.runs[k]) stopped_early += r.iters[t] < 0 && r.stop == "budget";
    c["stopped_by_budget"] = stopped_early;
    if (!tanh) return c;
    const std::vector<int64_t> ti = tanh->iters(t, tanh->chosen[t]);
    const double tmed = median_iterations(ti, e.max_iters);
    c["speedup_vs_tanh"] = json_float(float(tmed / med));
    // the ratio is a bound when a median sits at the cap (the target not reached by most seeds)
    const bool mine_capped = med >= double(e.max_iters), tanh_capped = tmed >= double(e.max_iters);
    c["speedup_bound"] = mine_capped && tanh_capped ? ojson("unknown") : mine_capped ? ojson("at most")
                         : tanh_capped                ? ojson("at least")
                                                      : ojson();
    std::vector<double> ratios;
    for (size_t s = 0; s < iters.size() && s < ti.size(); ++s)
        if (iters[s] > 0 && ti[s] > 0) ratios.push_back(double(ti[s]) / double(iters[s]));
    c["speedup_per_seed"] = spread(ratios);
    return c;
}

std::string cell_text(const ojson& c) {
    const int64_t med = int64_t(c["median_iterations"].get<double>());
    std::string s = c["activation"].get<std::string>() + " lr " + fixed(c["lr"].get<double>(), 4) + ": " +
                    std::to_string(med) + " it (" + std::to_string(c["reached"].get<int>()) + "/" +
                    std::to_string(c["seeds"].get<int>()) + " reached)";
    if (c.contains("speedup_vs_tanh")) {
        s += ", " + fixed(c["speedup_vs_tanh"].get<double>(), 2) + "x tanh";
        if (!c["speedup_bound"].is_null()) s += " (" + c["speedup_bound"].get<std::string>() + ")";
        if (!c["speedup_per_seed"].is_null())
            s += " [per seed " + fixed(c["speedup_per_seed"]["min"].get<double>(), 2) + "-" +
                 fixed(c["speedup_per_seed"]["max"].get<double>(), 2) + "]";
    }
    return s;
}

// How the figure's rates were chosen, for its subtitle.
std::string rate_rule(const ExperimentOptions& o, double target) {
    if (o.lr > 0) return "--lr";
    if (o.lr_choice == "error") return "lowest error after a trial";
    return "fewest iterations to " + short_number(target) + ", median of " + std::to_string(o.seeds) + " seeds";
}

// Figure 1's curves: every seed's training error at the rate chosen for `target`.
std::vector<SeedCurves> figure1_curves(const std::vector<Activation>& acts, const std::map<std::string, Outcome>& res,
                                       size_t target) {
    std::vector<SeedCurves> curves;
    for (Activation a : acts) {
        const Outcome& r = res.at(to_string(a));
        SeedCurves c{to_string(a), r.rates[r.chosen[target]], {}, {}};
        for (const RunResult& run : r.runs[r.chosen[target]]) {
            c.curves.push_back(run.curve);
            c.reached.push_back(run.iters[target] >= 0);
        }
        curves.push_back(std::move(c));
    }
    return curves;
}

}  // namespace

int run_activation_experiment(const ExperimentOptions& o, JsonLines& out) {
    const auto t0 = clock_type::now();
    check(o.batch > 0, "--batch-size", "", "> 0", std::to_string(o.batch));
    check(o.seeds > 0, "--seeds", "", "> 0", std::to_string(o.seeds));
    check(o.max_epochs > 0, "--max-epochs", "", "> 0", std::to_string(o.max_epochs));
    check(o.lr_choice == "iterations" || o.lr_choice == "error", "--lr-choice", "", "iterations or error",
          "'" + o.lr_choice + "'");
    check(std::isfinite(o.last_layer_scale) && o.last_layer_scale > 0, "--last-layer-scale", "", "a number > 0",
          std::to_string(o.last_layer_scale));
    std::vector<double> targets = o.study ? o.study_targets : std::vector<double>{o.target_error};
    std::vector<std::string> inits = o.study ? o.study_inits : std::vector<std::string>{o.init};
    check(!targets.empty(), "--targets", "", "at least one target", "none");
    check(!inits.empty(), "--inits", "", "at least one initialisation", "none");
    for (double t : targets)
        check(t >= 0 && t < 1, o.study ? "--targets" : "--target-error", "", "a fraction in [0, 1)", std::to_string(t));
    for (const auto& i : inits) {
        bool known = false;
        for (const auto& n : init_names()) known = known || n == i;
        check(known, "--init", "", "one of paper, caffe, kaiming, torch, lecun", "'" + i + "'");
    }
    std::sort(targets.begin(), targets.end(), std::greater<>());
    check(!o.activations.empty(), "--activations", "", "at least one activation", "none");
    check(o.lr > 0 || !o.lr_grid.empty(), "--lr-grid", "", "at least one rate (or --lr)", "none");
    std::vector<Activation> acts;
    for (const auto& a : o.activations) acts.push_back(parse_activation("--activations", a));
    set_num_threads(o.threads);
    if (!o.curves.empty()) write_activation_curves(o.curves, acts);

    Experiment e{o, out, {}, {}, 0, 0, 0};
    e.set = open_labelled_set(o.data, Split::train, o.root);
    if (o.limit > 0 && o.limit < e.set.size()) {
        std::vector<int> first(size_t(o.limit));
        for (int i = 0; i < o.limit; ++i) first[size_t(i)] = i;
        e.set = subset(e.set, first);
    }
    check(e.set.size() >= o.batch, o.data, "size", "at least one batch of " + std::to_string(o.batch) + " items",
          std::to_string(e.set.size()));
    const cv::Mat probe = e.set.image(0);
    PresetOptions po;
    po.num_classes = e.set.num_classes();
    po.input_channels = probe.channels() == 1 ? 1 : 3;
    if (o.arch == "convnet-4" || o.arch == "convnet-18pct") po.input_size = probe.rows;
    e.base = make_preset(o.arch, po);
    for (int i = 0; i < e.set.size(); ++i)
        check(e.set.labels[size_t(i)] >= 0 && e.set.labels[size_t(i)] < po.num_classes, e.set.name(i), "label",
              "0.." + std::to_string(po.num_classes - 1), std::to_string(e.set.labels[size_t(i)]));
    Preprocessing& pp = e.base.preprocessing;
    const DataStats st = compute_stats(e.set, pp, e.set.in_memory() ? e.set.size() : 2000);
    const bool divides_by_std = pp.std[0] != 1.f;  // Caffe's and cuda-convnet's presets subtract the mean only
    for (int c = 0; c < pp.channels; ++c) {
        pp.mean[c] = st.mean[c] * pp.pixel_scale;
        if (divides_by_std) pp.std[c] = std::max(st.std[c], 1e-3f) * pp.pixel_scale;
    }
    e.iters_per_epoch = e.set.size() / o.batch;
    e.eval_every = o.eval_every > 0 ? o.eval_every : std::max(1, e.iters_per_epoch / 10);
    e.max_iters = int64_t(o.max_epochs) * e.iters_per_epoch;

    ojson grid = ojson::array();
    for (float lr : o.lr_grid) grid.push_back(json_float(lr));
    out.write({{"event", "start"}, {"arch", e.base.arch}, {"data", o.data}, {"train_images", e.set.size()},
               {"classes", po.num_classes}, {"activations", o.activations}, {"seeds", o.seeds},
               {"targets", targets}, {"inits", inits}, {"last_layer_scale", json_float(o.last_layer_scale)},
               {"lr_grid", grid}, {"lr_choice", o.lr > 0 ? "--lr" : o.lr_choice}, {"batch", o.batch},
               {"iters_per_epoch", e.iters_per_epoch}, {"eval_every", e.eval_every}, {"max_epochs", o.max_epochs},
               {"momentum", json_float(o.momentum)}, {"weight_decay", 0}, {"dropout", 0}, {"augmentation", false}});

    std::map<std::string, std::map<std::string, Outcome>> results;  // [init][activation]
    ojson cells = ojson::array();
    std::vector<StudyPanel> panels;
    for (const std::string& init : inits) {
        auto& res = results[init];
        for (Activation a : acts) res[to_string(a)] = e.trials(a, init, targets);
        const Outcome* tanh = res.count("tanh") ? &res.at("tanh") : nullptr;
        StudyPanel panel{init, targets, {}};
        for (size_t t = 0; t < targets.size(); ++t)
            for (Activation a : acts) {
                const std::string name = to_string(a);
                const Outcome& r = res.at(name);
                const size_t k = r.chosen[t];
                for (size_t s = 0; s < r.runs[k].size(); ++s) {
                    const RunResult& run = r.runs[k][s];
                    const bool reached = run.iters[t] >= 0;
                    const double epochs = double(run.iters[t]) * o.batch / e.set.size();
                    out.write({{"event", "result"}, {"init", init}, {"target", targets[t]}, {"activation", name},
                               {"seed", o.seed + s}, {"lr", json_float(r.rates[k])}, {"reached", reached},
                               {"iterations_to_target", count_or_null(run.iters[t])},
                               {"epochs_to_target", number_or_null(epochs, reached)},
                               {"diverged", run.stop == "diverged"}});
                }
                ojson c = cell_json(e, init, targets[t], name, r, tanh, t);
                log_info(o.quiet, "alexnet-compare-activations: " + init + ", target " + fixed(targets[t], 2) + ": " +
                                      cell_text(c));
                if (tanh && name != "tanh") panel.speedups[name].push_back(c);
                cells.push_back(std::move(c));
            }
        panels.push_back(std::move(panel));
        if (!o.plot.empty()) {
            const std::string path = o.study ? with_suffix(o.plot, "-" + init) : o.plot;
            std::string rates;
            for (Activation a : acts) {
                const Outcome& r = res.at(to_string(a));
                rates += std::string(rates.empty() ? "" : ", ") + to_string(a) + " " +
                         short_number(r.rates[r.chosen.back()]);
            }
            write_figure1(path, figure1_curves(acts, res, targets.size() - 1), targets.back(),
                          data_name(o.data) + " training error per activation, " + e.base.arch + ", " + init + " init",
                          "lr " + rates + " (" + rate_rule(o, targets.back()) + "); batch " + std::to_string(o.batch) +
                              ", momentum " + short_number(o.momentum) + ", no regularisation; " +
                              std::to_string(e.set.size()) + " training images" + (o.limit > 0 ? " (--limit)" : ""));
        }
    }

    ojson summary{{"summary", true}};
    if (o.study) {
        summary["study"] = true;
        summary["inits"] = inits;
        summary["targets"] = targets;
    } else {
        // one initialisation and one target: the cells by activation, as the first version wrote them
        const auto& res = results[inits[0]];
        ojson it_json, ep_json, speed, speed_range, lr_json, reached_json;
        for (Activation a : acts) {
            const std::string name = to_string(a);
            const Outcome& r = res.at(name);
            const std::vector<int64_t> iters = r.iters(0, r.chosen[0]);
            std::vector<double> it_ok, ep_ok;
            ojson per_seed = ojson::array();
            for (int64_t i : iters) {
                per_seed.push_back(count_or_null(i));
                if (i >= 0) it_ok.push_back(double(i)), ep_ok.push_back(double(i) * o.batch / e.set.size());
            }
            ojson it = spread(it_ok), ep = spread(ep_ok);
            if (it.is_null()) it = ojson::object();
            if (ep.is_null()) ep = ojson::object();
            it["per_seed"] = per_seed;
            ep["reached"] = int(it_ok.size());
            it_json[name] = it;
            ep_json[name] = ep;
            lr_json[name] = json_float(r.rates[r.chosen[0]]);
            reached_json[name] = int(it_ok.size());
        }
        summary["target_error"] = targets[0];
        summary["iterations_to_target"] = it_json;
        summary["epochs_to_target"] = ep_json;
        summary["reached"] = reached_json;
        if (res.count("tanh")) {
            for (const auto& c : cells) {
                speed[c["activation"].get<std::string>()] = c["speedup_vs_tanh"];
                speed_range[c["activation"].get<std::string>()] = c["speedup_per_seed"];
            }
            summary["speedup_vs_tanh"] = speed;
            summary["speedup_vs_tanh_spread"] = speed_range;
        } else {
            summary["speedup_vs_tanh"] = nullptr;
        }
        summary["lr"] = lr_json;
    }
    summary["lr_chosen_by"] = o.lr > 0 ? "--lr" : o.lr_choice;
    summary["cells"] = cells;
    summary["seeds"] = o.seeds;
    summary["max_epochs"] = o.max_epochs;
    summary["seconds"] = json_float(float(std::chrono::duration<double>(clock_type::now() - t0).count()));
    if (!o.plot.empty() && o.study) {
        write_study_figure(o.plot, panels,
                           data_name(o.data) + ": speed-up over tanh (iterations to the target), " + e.base.arch,
                           "thick: tanh's median iterations over the activation's, each at its fastest rate of the "
                           "grid; thin: per-seed min and max; " + std::to_string(o.seeds) + " seeds, budget " +
                               std::to_string(o.max_epochs) + " epochs, batch " + std::to_string(o.batch) +
                               ", no regularisation");
        summary["plot"] = o.plot;
    } else if (!o.plot.empty()) {
        summary["plot"] = o.plot;
    }
    if (!o.curves.empty()) summary["curves"] = o.curves;
    out.write(summary);
    return 0;
}

}  // namespace alexnet
