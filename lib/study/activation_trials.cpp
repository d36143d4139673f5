#include "study/activation_trials.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "core/error.hpp"
#include "data/augment.hpp"
#include "data/train_loader.hpp"
#include "engine/train_net.hpp"
#include "metrics/topk.hpp"
#include "train/solver.hpp"

namespace alexnet {

namespace study {

namespace {

// FNV-1a over the parameter bytes: equal initial weights give equal hashes.
std::string hash_params(const float* p, int64_t n) {
    uint64_t h = 1469598103934665603ull;
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    for (int64_t i = 0; i < n * int64_t(sizeof(float)); ++i) h = (h ^ b[i]) * 1099511628211ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

// The population standard deviation of every value: of the first logits, how far the initial
// weights put the network from a uniform guess.
double std_of(const std::vector<float>& v) {
    double s = 0, s2 = 0;
    for (float x : v) s += x, s2 += double(x) * x;
    const double m = s / double(v.size());
    return std::sqrt(std::max(0.0, s2 / double(v.size()) - m * m));
}

// A weight tensor of the network: its layer's name and its index in the parameter layout.
struct LayerWeights {
    std::string layer;
    size_t tensor;
};

// The weight tensors of the hidden layers, for gradient norms.
std::vector<LayerWeights> layer_weights(const ParamLayout& layout) {
    std::vector<LayerWeights> weights;
    for (size_t i = 0; i < layout.tensors.size(); ++i)
        if (layout.tensors[i].name.size() > 7 && layout.tensors[i].name.ends_with(".weight"))
            weights.push_back({layout.tensors[i].name.substr(0, layout.tensors[i].name.size() - 7), i});
    return weights;
}

// What a run sums over the steps between two measurements.
struct Interval {
    int64_t wrong = 0, seen = 0, steps = 0;
    double loss_sum = 0;
    std::vector<double> grad_norm_sum;  // per LayerWeights

    void reset() {
        wrong = seen = steps = 0;
        loss_sum = 0;
        std::fill(grad_norm_sum.begin(), grad_norm_sum.end(), 0.0);
    }
    // One step's errors, loss and weight-gradient norms (before the update).
    void add_step(const TrainNet& net, const std::vector<LayerWeights>& weights, const std::vector<float>& logits,
                  const std::vector<int>& labels, float loss) {
        const int batch = net.batch(), classes = net.num_classes();
        const ParamLayout& layout = net.layout();
        for (int k = 0; k < batch; ++k)
            wrong += label_rank(logits.data() + size_t(k) * classes, classes, labels[size_t(k)]) != 0;
        seen += batch;
        loss_sum += double(loss) * batch;
        for (size_t w = 0; w < weights.size(); ++w) {
            const float* g = net.grads() + layout.offset[weights[w].tensor];
            double s = 0;
            for (int64_t i = 0; i < layout.numel(weights[w].tensor); ++i) s += double(g[i]) * g[i];
            grad_norm_sum[w] += std::sqrt(s);
        }
        ++steps;
    }
};

// A measurement line's layers: the activation statistics of the interval's last batch and the
// mean gradient norm over its steps.
ojson layers_json(const TrainNet& net, const std::vector<LayerWeights>& weights, const Interval& interval) {
    ojson layers = ojson::array();
    const auto stats = net.activation_stats();
    for (size_t w = 0; w < weights.size(); ++w) {
        ojson l{{"layer", weights[w].layer}};
        for (const auto& s : stats)
            if (s.layer == weights[w].layer) {
                l["saturated_fraction"] = json_float(float(s.saturated_fraction));
                l["dead_fraction"] = json_float(float(s.dead_fraction));
            }
        l["grad_norm"] = json_float(float(interval.grad_norm_sum[w] / double(interval.steps)));
        layers.push_back(l);
    }
    return layers;
}

}  // namespace

double median_of(std::vector<double> v) {
    if (v.empty()) return std::nan("");
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

RunResult Experiment::run(Activation act, const std::string& init, uint64_t seed, float lr,
                          const std::vector<double>& targets, const std::vector<int64_t>& budgets, int64_t limit) {
    ModelSpec spec = base;
    set_hidden_activation(spec, act);
    TrainNet net(spec, o.batch, 0.f, parse_precision("--precision", o.precision));
    const ParamLayout& layout = net.layout();
    initialise(spec, layout, net.params(), init, seed);
    if (o.last_layer_scale != 1) scale_classifier_weights(spec, layout, net.params(), o.last_layer_scale);
    Sgd sgd(layout, o.momentum, 0.f, false);
    const std::string name = to_string(act);
    out.write({{"event", "run"}, {"init", init}, {"activation", name}, {"seed", seed}, {"lr", json_float(lr)},
               {"init_hash", hash_params(net.params(), layout.total)}});
    const std::vector<LayerWeights> weights = layer_weights(layout);
    Interval interval;
    interval.grad_norm_sum.assign(weights.size(), 0.0);

    Loader loader(set, spec.preprocessing, Augmentation{false, false, 0, {}}, o.batch, true, seed, o.loader_threads);
    RunResult r;
    r.iters.assign(targets.size(), -1);
    std::vector<float> logits(size_t(o.batch) * spec.num_classes());
    int64_t iter = 0;
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
            interval.add_step(net, weights, logits, batch.labels, loss);
            sgd.update(net.params(), net.grads(), lr);
            ++iter;
            if (iter % eval_every != 0 && iter != limit) continue;
            const CurvePoint p{double(iter) * o.batch / set.size(), iter, double(interval.wrong) / double(interval.seen)};
            r.curve.push_back(p);
            out.write({{"init", init}, {"activation", name}, {"seed", seed}, {"epoch", json_float(float(p.epoch))},
                       {"iter", iter}, {"train_error", json_float(float(p.error))},
                       {"loss", json_float(float(interval.loss_sum / double(interval.seen)))}, {"lr", json_float(lr)},
                       {"layers", layers_json(net, weights, interval)}});
            interval.reset();
            for (size_t t = 0; t < targets.size(); ++t)
                if (r.iters[t] < 0 && p.error <= targets[t]) r.iters[t] = iter;
        }
    }
    r.stopped_at = iter;
    const bool all = std::all_of(r.iters.begin(), r.iters.end(), [](int64_t i) { return i >= 0; });
    r.stop = !targets.empty() && all ? "target" : iter >= max_iters ? "max_epochs" : "budget";
    return r;
}

float Experiment::rate_by_error(Activation act, const std::string& init) {
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

Outcome Experiment::trials(Activation act, const std::string& init, const std::vector<double>& targets) {
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

}  // namespace study

double median_iterations(const std::vector<int64_t>& iters, int64_t cap) {
    std::vector<double> v;
    for (int64_t i : iters) v.push_back(double(i >= 0 ? i : cap));
    return study::median_of(v);
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

}  // namespace alexnet
