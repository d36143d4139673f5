#include "train/activation_experiment.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "data/augment.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/inference_net.hpp"
#include "engine/train_net.hpp"
#include "io/plot.hpp"
#include "metrics/topk.hpp"
#include "train/solver.hpp"

namespace alexnet {

namespace {

using clock_type = std::chrono::steady_clock;

struct Point {
    double epoch = 0;
    int64_t iter = 0;
    double error = 0, loss = 0;
};

struct RunResult {
    std::vector<Point> curve;
    int64_t iters_to_target = -1;  // -1: not reached
    double epochs_to_target = -1;
    bool diverged = false;
};

// FNV-1a over the parameter bytes: equal initial weights give equal hashes.
std::string hash_params(const float* p, int64_t n) {
    uint64_t h = 1469598103934665603ull;
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    for (int64_t i = 0; i < n * int64_t(sizeof(float)); ++i) h = (h ^ b[i]) * 1099511628211ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

nlohmann::ordered_json number_or_null(double v, bool ok) { return ok ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); }
nlohmann::ordered_json count_or_null(int64_t v) { return v >= 0 ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); }

struct Experiment {
    const ExperimentOptions& o;
    JsonLines& out;
    LabelledSet set;
    ModelSpec base;  // relu; each run sets its activation
    int iters_per_epoch = 0, eval_every = 0;

    // One training run from seed `seed`'s initial weights at a fixed rate: stops after `max_iters`
    // or at the first measurement at or below `target` (< 0: never). `emit`: measurement lines.
    RunResult run(Activation act, uint64_t seed, float lr, int64_t max_iters, double target, bool emit) {
        ModelSpec spec = base;
        set_hidden_activation(spec, act);
        TrainNet net(spec, o.batch, 0.f);
        const ParamLayout& layout = net.layout();
        initialise(spec, layout, net.params(), o.init, seed);
        Sgd sgd(layout, o.momentum, 0.f, false);
        const std::string name = to_string(act);
        if (emit)
            out.write({{"event", "run"}, {"activation", name}, {"seed", seed}, {"lr", json_float(lr)},
                       {"init_hash", hash_params(net.params(), layout.total)}});
        // weight tensors of the hidden layers, for gradient norms
        std::vector<std::pair<std::string, size_t>> weights;
        for (size_t i = 0; i < layout.tensors.size(); ++i)
            if (layout.tensors[i].name.size() > 7 && layout.tensors[i].name.ends_with(".weight"))
                weights.push_back({layout.tensors[i].name.substr(0, layout.tensors[i].name.size() - 7), i});
        std::vector<double> grad_norm_sum(weights.size(), 0.0);

        Loader loader(set, spec.preprocessing, Augmentation{false, false, 0, {}}, o.batch, true, seed, o.loader_threads);
        RunResult r;
        const int classes = spec.num_classes();
        std::vector<float> logits(size_t(o.batch) * classes);
        int64_t iter = 0, wrong = 0, seen = 0, steps_in_interval = 0;
        double loss_sum = 0;
        for (int epoch = 0; epoch < o.max_epochs && iter < max_iters; ++epoch) {
            loader.start(epoch);
            for (int b = 0; b < iters_per_epoch && iter < max_iters; ++b) {
                const LoaderBatch& batch = loader.next();
                const float loss = net.train_step(batch.data.data(), batch.labels.data(), 0, logits.data());
                if (!std::isfinite(loss)) {
                    r.diverged = true;
                    if (emit)
                        out.write({{"event", "diverged"}, {"activation", name}, {"seed", seed}, {"iter", iter + 1},
                                   {"lr", json_float(lr)}});
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
                if (iter % eval_every != 0 && iter != max_iters) continue;
                Point p{double(iter) * o.batch / set.size(), iter, double(wrong) / double(seen), loss_sum / double(seen)};
                r.curve.push_back(p);
                if (emit) {
                    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
                    const auto stats = net.activation_stats();  // of the interval's last batch
                    for (size_t w = 0; w < weights.size(); ++w) {
                        nlohmann::ordered_json l{{"layer", weights[w].first}};
                        for (const auto& s : stats)
                            if (s.layer == weights[w].first) {
                                l["saturated_fraction"] = json_float(float(s.saturated_fraction));
                                l["dead_fraction"] = json_float(float(s.dead_fraction));
                            }
                        l["grad_norm"] = json_float(float(grad_norm_sum[w] / double(steps_in_interval)));
                        layers.push_back(l);
                    }
                    out.write({{"activation", name}, {"seed", seed}, {"epoch", json_float(float(p.epoch))},
                               {"iter", iter}, {"train_error", json_float(float(p.error))},
                               {"loss", json_float(float(p.loss))}, {"lr", json_float(lr)}, {"layers", layers}});
                }
                wrong = seen = steps_in_interval = 0;
                loss_sum = 0;
                std::fill(grad_norm_sum.begin(), grad_norm_sum.end(), 0.0);
                if (target >= 0 && p.error <= target) {
                    r.iters_to_target = iter;
                    r.epochs_to_target = p.epoch;
                    return r;
                }
            }
        }
        return r;
    }

    // The rate that trains fastest: lowest training error over the last quarter of a short run.
    float sweep(Activation act) {
        const int64_t iters = o.sweep_iters > 0 ? o.sweep_iters : iters_per_epoch;
        float best_lr = o.lr_grid.front();
        double best = std::numeric_limits<double>::infinity();
        nlohmann::ordered_json tried = nlohmann::ordered_json::array();
        for (float lr : o.lr_grid) {
            const RunResult r = run(act, o.seed, lr, iters, -1, false);
            double score = std::numeric_limits<double>::infinity();
            if (!r.diverged && !r.curve.empty()) {
                const size_t from = r.curve.size() - std::max<size_t>(1, r.curve.size() / 4);
                score = 0;
                for (size_t i = from; i < r.curve.size(); ++i) score += r.curve[i].error;
                score /= double(r.curve.size() - from);
            }
            out.write({{"event", "sweep"}, {"activation", to_string(act)}, {"lr", json_float(lr)}, {"iters", iters},
                       {"train_error", number_or_null(json_float(float(score)), std::isfinite(score))}, {"diverged", r.diverged}});
            tried.push_back(json_float(lr));
            if (score < best) best = score, best_lr = lr;
        }
        check(std::isfinite(best), "--lr-grid", "", "a rate at which " + std::string(to_string(act)) + " trains",
              "every rate diverged");
        out.write({{"event", "lr"}, {"activation", to_string(act)}, {"lr", json_float(best_lr)}, {"grid", tried}});
        log_info(o.quiet, "alexnet-compare-activations: " + std::string(to_string(act)) + " trains fastest at lr " +
                              fixed(best_lr, 4));
        return best_lr;
    }
};

nlohmann::ordered_json spread(const std::vector<double>& v) {
    if (v.empty()) return nullptr;
    double mean = 0;
    for (double x : v) mean += x;
    mean /= double(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    const double std = v.size() > 1 ? std::sqrt(var / double(v.size() - 1)) : 0.0;
    return {{"mean", json_float(float(mean))}, {"std", json_float(float(std))},
            {"min", json_float(float(*std::min_element(v.begin(), v.end())))},
            {"max", json_float(float(*std::max_element(v.begin(), v.end())))}};
}

void write_curves(const std::string& path, const std::vector<Activation>& acts) {
    std::vector<float> x;
    for (int i = 0; i <= 240; ++i) x.push_back(-6.f + 0.05f * float(i));
    Panel f{"activation functions", "x", "f(x)"}, d{"derivatives", "x", "f′(x)"};
    for (Activation a : acts) {
        std::vector<float> y, dy;
        eltwise_curve(a, x, y, dy);
        Series fs(to_string(a)), ds(to_string(a));
        for (size_t i = 0; i < x.size(); ++i) {
            fs.x.push_back(x[i]), fs.y.push_back(y[i]);
            ds.x.push_back(x[i]), ds.y.push_back(dy[i]);
        }
        f.series.push_back(fs);
        d.series.push_back(ds);
    }
    write_figure(path, {"Activation functions and their derivatives",
                        "as computed by oneDNN's eltwise primitives (forward and backward)", {f, d}});
}

}  // namespace

double mean_speedup(const std::vector<int64_t>& tanh_iters, const std::vector<int64_t>& iters) {
    double sum = 0;
    int n = 0;
    for (size_t s = 0; s < tanh_iters.size() && s < iters.size(); ++s)
        if (tanh_iters[s] > 0 && iters[s] > 0) sum += double(tanh_iters[s]) / double(iters[s]), ++n;
    return n ? sum / n : -1;
}

int run_activation_experiment(const ExperimentOptions& o, JsonLines& out) {
    const auto t0 = clock_type::now();
    check(o.batch > 0, "--batch-size", "", "> 0", std::to_string(o.batch));
    check(o.seeds > 0, "--seeds", "", "> 0", std::to_string(o.seeds));
    check(o.max_epochs > 0, "--max-epochs", "", "> 0", std::to_string(o.max_epochs));
    check(o.target_error >= 0 && o.target_error < 1, "--target-error", "", "a fraction in [0, 1)", std::to_string(o.target_error));
    check(!o.activations.empty(), "--activations", "", "at least one activation", "none");
    check(o.lr > 0 || !o.lr_grid.empty(), "--lr-grid", "", "at least one rate (or --lr)", "none");
    std::vector<Activation> acts;
    for (const auto& a : o.activations) acts.push_back(parse_activation("--activations", a));
    set_num_threads(o.threads);
    if (!o.curves.empty()) write_curves(o.curves, acts);

    Experiment e{o, out, {}, {}, 0, 0};
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
    if (o.arch == "convnet-4") po.input_size = probe.rows;
    e.base = make_preset(o.arch, po);
    for (int i = 0; i < e.set.size(); ++i)
        check(e.set.labels[size_t(i)] >= 0 && e.set.labels[size_t(i)] < po.num_classes, e.set.name(i), "label",
              "0.." + std::to_string(po.num_classes - 1), std::to_string(e.set.labels[size_t(i)]));
    Preprocessing& pp = e.base.preprocessing;
    const DataStats st = compute_stats(e.set, pp, e.set.in_memory() ? e.set.size() : 2000);
    for (int c = 0; c < pp.channels; ++c) {
        pp.mean[c] = st.mean[c] * pp.pixel_scale;
        pp.std[c] = std::max(st.std[c], 1e-3f) * pp.pixel_scale;
    }
    e.iters_per_epoch = e.set.size() / o.batch;
    e.eval_every = o.eval_every > 0 ? o.eval_every : std::max(1, e.iters_per_epoch / 10);

    out.write({{"event", "start"}, {"arch", e.base.arch}, {"data", o.data}, {"train_images", e.set.size()},
               {"classes", po.num_classes}, {"activations", o.activations}, {"seeds", o.seeds},
               {"target_error", o.target_error}, {"batch", o.batch}, {"iters_per_epoch", e.iters_per_epoch},
               {"eval_every", e.eval_every}, {"max_epochs", o.max_epochs}, {"init", o.init},
               {"momentum", json_float(o.momentum)}, {"weight_decay", 0}, {"dropout", 0}, {"augmentation", false}});

    std::map<std::string, float> lrs;
    for (Activation a : acts) lrs[to_string(a)] = o.lr > 0 ? o.lr : e.sweep(a);

    const int64_t max_iters = int64_t(o.max_epochs) * e.iters_per_epoch;
    std::map<std::string, std::vector<int64_t>> iters;
    std::map<std::string, std::vector<double>> epochs;
    std::map<std::string, std::vector<Point>> first_curve;
    for (int s = 0; s < o.seeds; ++s) {
        const uint64_t seed = o.seed + uint64_t(s);
        for (Activation a : acts) {
            const std::string name = to_string(a);
            const RunResult r = e.run(a, seed, lrs[name], max_iters, o.target_error, true);
            iters[name].push_back(r.iters_to_target);
            epochs[name].push_back(r.epochs_to_target);
            if (s == 0) first_curve[name] = r.curve;
            const bool reached = r.iters_to_target > 0;
            out.write({{"event", "result"}, {"activation", name}, {"seed", seed}, {"lr", json_float(lrs[name])},
                       {"reached", reached}, {"iterations_to_target", count_or_null(r.iters_to_target)},
                       {"epochs_to_target", number_or_null(r.epochs_to_target, reached)}, {"diverged", r.diverged}});
            log_info(o.quiet, "alexnet-compare-activations: " + name + " seed " + std::to_string(seed) + ": " +
                                  (reached ? std::to_string(r.iters_to_target) + " iterations (" +
                                                 fixed(r.epochs_to_target, 2) + " epochs) to " +
                                                 fixed(o.target_error, 3) + " training error"
                                           : std::string("did not reach the target in ") + std::to_string(o.max_epochs) +
                                                 " epochs"));
        }
    }

    nlohmann::ordered_json it_json, ep_json, speed, speed_range, lr_json, reached_json;
    for (Activation a : acts) {
        const std::string name = to_string(a);
        std::vector<double> it_ok, ep_ok;
        nlohmann::ordered_json per_seed = nlohmann::ordered_json::array();
        for (size_t s = 0; s < iters[name].size(); ++s) {
            const bool ok = iters[name][s] > 0;
            per_seed.push_back(count_or_null(iters[name][s]));
            if (ok) it_ok.push_back(double(iters[name][s])), ep_ok.push_back(epochs[name][s]);
        }
        nlohmann::ordered_json it = spread(it_ok), ep = spread(ep_ok);
        if (it.is_null()) it = nlohmann::ordered_json::object();
        if (ep.is_null()) ep = nlohmann::ordered_json::object();
        it["per_seed"] = per_seed;
        ep["reached"] = int(it_ok.size());
        it_json[name] = it;
        ep_json[name] = ep;
        lr_json[name] = json_float(lrs[name]);
        reached_json[name] = int(it_ok.size());
        if (iters.count("tanh")) {
            const double m = mean_speedup(iters["tanh"], iters[name]);
            speed[name] = number_or_null(m, m > 0);
            std::vector<double> ratios;
            for (size_t s = 0; s < iters[name].size(); ++s)
                if (iters["tanh"][s] > 0 && iters[name][s] > 0)
                    ratios.push_back(double(iters["tanh"][s]) / double(iters[name][s]));
            speed_range[name] = spread(ratios);
        }
    }
    nlohmann::ordered_json summary{{"summary", true}, {"target_error", o.target_error}, {"iterations_to_target", it_json},
                                   {"epochs_to_target", ep_json}, {"reached", reached_json}};
    summary["speedup_vs_tanh"] = iters.count("tanh") ? speed : nlohmann::ordered_json();
    if (iters.count("tanh")) summary["speedup_vs_tanh_spread"] = speed_range;
    summary["lr"] = lr_json;
    summary["lr_chosen_by"] = o.lr > 0 ? "--lr" : "sweep";
    summary["seeds"] = o.seeds;
    summary["max_epochs"] = o.max_epochs;
    summary["seconds"] = json_float(float(std::chrono::duration<double>(clock_type::now() - t0).count()));

    if (!o.plot.empty()) {
        Panel p{"seed " + std::to_string(o.seed) + " (of " + std::to_string(o.seeds) + ")", "epochs", "training error", true};
        std::string rates;
        for (Activation a : acts) {
            Series s(to_string(a));
            for (const Point& q : first_curve[to_string(a)]) s.x.push_back(q.epoch), s.y.push_back(q.error);
            p.series.push_back(s);
            rates += std::string(rates.empty() ? "" : ", ") + to_string(a) + " " + short_number(lrs[to_string(a)]);
        }
        p.references.push_back({"target " + fixed(o.target_error, 2), o.target_error});
        write_figure(o.plot, {data_name(o.data) + " training error per activation, " + e.base.arch + ", " + o.init + " init",
                              "lr " + rates + (o.lr > 0 ? "" : " (best of a sweep)") + "; batch " + std::to_string(o.batch) +
                                  ", momentum " + short_number(o.momentum) + ", no regularisation; " +
                                  std::to_string(e.set.size()) + " training images" +
                                  (o.limit > 0 ? " (--limit)" : ""),
                              {p}});
        summary["plot"] = o.plot;
    }
    if (!o.curves.empty()) summary["curves"] = o.curves;
    out.write(summary);
    return 0;
}

}  // namespace alexnet
