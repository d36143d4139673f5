#include "study/activation_experiment.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <utility>

#include "core/error.hpp"
#include "data/augment.hpp"
#include "data/labelled_set.hpp"
#include "engine/inference_net.hpp"
#include "figures/plot.hpp"
#include "study/activation_figures.hpp"
#include "study/activation_trials.hpp"
#include "train/solver.hpp"

namespace alexnet {

namespace {

using clock_type = std::chrono::steady_clock;
using study::count_or_null;
using study::Experiment;
using study::median_of;
using study::number_or_null;
using study::ojson;
using study::Outcome;
using study::RunResult;

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

// What the options ask for, checked: the targets (descending), the initialisations, the activations.
struct ExperimentGrid {
    std::vector<double> targets;
    std::vector<std::string> inits;
    std::vector<Activation> acts;
};

ExperimentGrid checked_grid(const ExperimentOptions& o) {
    check(o.batch > 0, "--batch-size", "", "> 0", std::to_string(o.batch));
    check(o.seeds > 0, "--seeds", "", "> 0", std::to_string(o.seeds));
    check(o.max_epochs > 0, "--max-epochs", "", "> 0", std::to_string(o.max_epochs));
    check(o.lr_choice == "iterations" || o.lr_choice == "error", "--lr-choice", "", "iterations or error",
          "'" + o.lr_choice + "'");
    check(std::isfinite(o.last_layer_scale) && o.last_layer_scale > 0, "--last-layer-scale", "", "a number > 0",
          std::to_string(o.last_layer_scale));
    ExperimentGrid g;
    g.targets = o.study ? o.study_targets : std::vector<double>{o.target_error};
    g.inits = o.study ? o.study_inits : std::vector<std::string>{o.init};
    check(!g.targets.empty(), "--targets", "", "at least one target", "none");
    check(!g.inits.empty(), "--inits", "", "at least one initialisation", "none");
    for (double t : g.targets)
        check(t >= 0 && t < 1, o.study ? "--targets" : "--target-error", "", "a fraction in [0, 1)", std::to_string(t));
    for (const auto& i : g.inits) {
        bool known = false;
        for (const auto& n : init_names()) known = known || n == i;
        check(known, "--init", "", "one of paper, caffe, kaiming, torch, lecun", "'" + i + "'");
    }
    std::sort(g.targets.begin(), g.targets.end(), std::greater<>());
    check(!o.activations.empty(), "--activations", "", "at least one activation", "none");
    check(o.lr > 0 || !o.lr_grid.empty(), "--lr-grid", "", "at least one rate (or --lr)", "none");
    for (const auto& a : o.activations) g.acts.push_back(parse_activation("--activations", a));
    return g;
}

// The training set (its first --limit items), the network made for its channels, size and
// classes and normalised with its own statistics, and the iteration counts.
void open_data(Experiment& e) {
    const ExperimentOptions& o = e.o;
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
}

void write_start(const Experiment& e, const ExperimentGrid& g) {
    const ExperimentOptions& o = e.o;
    ojson grid = ojson::array();
    for (float lr : o.lr_grid) grid.push_back(json_float(lr));
    e.out.write({{"event", "start"}, {"arch", e.base.arch}, {"data", o.data}, {"train_images", e.set.size()},
                 {"classes", e.set.num_classes()}, {"activations", o.activations}, {"seeds", o.seeds},
                 {"targets", g.targets}, {"inits", g.inits}, {"last_layer_scale", json_float(o.last_layer_scale)},
                 {"lr_grid", grid}, {"lr_choice", o.lr > 0 ? "--lr" : o.lr_choice}, {"batch", o.batch},
                 {"iters_per_epoch", e.iters_per_epoch}, {"eval_every", e.eval_every}, {"max_epochs", o.max_epochs},
                 {"momentum", json_float(o.momentum)}, {"weight_decay", 0}, {"dropout", 0}, {"augmentation", false},
                 {"precision", o.precision}});
}

// One initialisation's results: a line per seed at the chosen rate and a cell (logged) per target
// and activation; returns its panel of the study's figure.
StudyPanel report_init(const Experiment& e, const ExperimentGrid& g, const std::string& init,
                       const std::map<std::string, Outcome>& res, ojson& cells) {
    const ExperimentOptions& o = e.o;
    const Outcome* tanh = res.count("tanh") ? &res.at("tanh") : nullptr;
    StudyPanel panel{init, g.targets, {}};
    for (size_t t = 0; t < g.targets.size(); ++t)
        for (Activation a : g.acts) {
            const std::string name = to_string(a);
            const Outcome& r = res.at(name);
            const size_t k = r.chosen[t];
            for (size_t s = 0; s < r.runs[k].size(); ++s) {
                const RunResult& run = r.runs[k][s];
                const bool reached = run.iters[t] >= 0;
                const double epochs = double(run.iters[t]) * o.batch / e.set.size();
                e.out.write({{"event", "result"}, {"init", init}, {"target", g.targets[t]}, {"activation", name},
                             {"seed", o.seed + s}, {"lr", json_float(r.rates[k])}, {"reached", reached},
                             {"iterations_to_target", count_or_null(run.iters[t])},
                             {"epochs_to_target", number_or_null(epochs, reached)},
                             {"diverged", run.stop == "diverged"}});
            }
            ojson c = cell_json(e, init, g.targets[t], name, r, tanh, t);
            log_info(o.quiet, "alexnet-compare-activations: " + init + ", target " + fixed(g.targets[t], 2) + ": " +
                                  cell_text(c));
            if (tanh && name != "tanh") panel.speedups[name].push_back(c);
            cells.push_back(std::move(c));
        }
    return panel;
}

// Figure 1 of one initialisation, at the last (lowest) target.
void write_init_figure(const Experiment& e, const ExperimentGrid& g, const std::string& init,
                       const std::map<std::string, Outcome>& res) {
    const ExperimentOptions& o = e.o;
    const std::string path = o.study ? with_suffix(o.plot, "-" + init) : o.plot;
    std::string rates;
    for (Activation a : g.acts) {
        const Outcome& r = res.at(to_string(a));
        rates += std::string(rates.empty() ? "" : ", ") + to_string(a) + " " + short_number(r.rates[r.chosen.back()]);
    }
    write_figure1(path, figure1_curves(g.acts, res, g.targets.size() - 1), g.targets.back(),
                  data_name(o.data) + " training error per activation, " + e.base.arch + ", " + init + " init",
                  "lr " + rates + " (" + rate_rule(o, g.targets.back()) + "); batch " + std::to_string(o.batch) +
                      ", momentum " + short_number(o.momentum) + ", no regularisation; " +
                      std::to_string(e.set.size()) + " training images" + (o.limit > 0 ? " (--limit)" : ""));
}

// One initialisation and one target: the summary's cells by activation, as the first version
// wrote them.
void add_cells_by_activation(ojson& summary, const Experiment& e, const ExperimentGrid& g,
                             const std::map<std::string, Outcome>& res, const ojson& cells) {
    ojson it_json, ep_json, speed, speed_range, lr_json, reached_json;
    for (Activation a : g.acts) {
        const std::string name = to_string(a);
        const Outcome& r = res.at(name);
        const std::vector<int64_t> iters = r.iters(0, r.chosen[0]);
        std::vector<double> it_ok, ep_ok;
        ojson per_seed = ojson::array();
        for (int64_t i : iters) {
            per_seed.push_back(count_or_null(i));
            if (i >= 0) it_ok.push_back(double(i)), ep_ok.push_back(double(i) * e.o.batch / e.set.size());
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
    summary["target_error"] = g.targets[0];
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

// The summary line but for its timing and paths.
ojson summary_json(const Experiment& e, const ExperimentGrid& g,
                   const std::map<std::string, std::map<std::string, Outcome>>& results, const ojson& cells) {
    const ExperimentOptions& o = e.o;
    ojson summary{{"summary", true}};
    if (o.study) {
        summary["study"] = true;
        summary["inits"] = g.inits;
        summary["targets"] = g.targets;
    } else {
        add_cells_by_activation(summary, e, g, results.at(g.inits[0]), cells);
    }
    summary["lr_chosen_by"] = o.lr > 0 ? "--lr" : o.lr_choice;
    summary["cells"] = cells;
    summary["seeds"] = o.seeds;
    summary["max_epochs"] = o.max_epochs;
    return summary;
}

void write_study_plot(const Experiment& e, const std::vector<StudyPanel>& panels) {
    const ExperimentOptions& o = e.o;
    write_study_figure(o.plot, panels,
                       data_name(o.data) + ": speed-up over tanh (iterations to the target), " + e.base.arch,
                       "thick: tanh's median iterations over the activation's, each at its fastest rate of the "
                       "grid; thin: per-seed min and max; " + std::to_string(o.seeds) + " seeds, budget " +
                           std::to_string(o.max_epochs) + " epochs, batch " + std::to_string(o.batch) +
                           ", no regularisation");
}

}  // namespace

int run_activation_experiment(const ExperimentOptions& o, JsonLines& out) {
    const auto t0 = clock_type::now();
    const ExperimentGrid g = checked_grid(o);
    require_precision_support(parse_precision("--precision", o.precision));  // before any data is read
    set_num_threads(o.threads);
    if (!o.curves.empty()) write_activation_curves(o.curves, g.acts);

    Experiment e{o, out, {}, {}, 0, 0, 0};
    open_data(e);
    write_start(e, g);
    std::map<std::string, std::map<std::string, Outcome>> results;  // [init][activation]
    ojson cells = ojson::array();
    std::vector<StudyPanel> panels;
    for (const std::string& init : g.inits) {
        auto& res = results[init];
        for (Activation a : g.acts) res[to_string(a)] = e.trials(a, init, g.targets);
        panels.push_back(report_init(e, g, init, res, cells));
        if (!o.plot.empty()) write_init_figure(e, g, init, res);
    }

    ojson summary = summary_json(e, g, results, cells);
    summary["seconds"] = json_float(float(std::chrono::duration<double>(clock_type::now() - t0).count()));
    if (!o.plot.empty() && o.study) write_study_plot(e, panels);
    if (!o.plot.empty()) summary["plot"] = o.plot;
    if (!o.curves.empty()) summary["curves"] = o.curves;
    out.write(summary);
    return 0;
}

}  // namespace alexnet
