#pragma once
// The activation experiment's training runs and learning-rate trials (activation_trials.cpp), apart
// from run_activation_experiment's checks, results and summary (activation_experiment.cpp): in one
// file they were over 550 lines. Internal to lib/study; callers use activation_experiment.hpp.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/labelled_set.hpp"
#include "io/json_lines.hpp"
#include "model/model.hpp"
#include "study/activation_experiment.hpp"
#include "study/activation_figures.hpp"

namespace alexnet::study {

using ojson = nlohmann::ordered_json;

inline ojson number_or_null(double v, bool ok) { return ok ? ojson(v) : ojson(); }
inline ojson count_or_null(int64_t v) { return v >= 0 ? ojson(v) : ojson(); }

double median_of(std::vector<double> v);  // NaN when empty

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
                  const std::vector<int64_t>& budgets, int64_t limit);

    // The tool's first criterion: the lowest training error over the last quarter of a short run
    // on the first seed.
    float rate_by_error(Activation act, const std::string& init);

    // Every rate on every seed, each trial stopped when it can no longer be the fastest for any
    // target: a seed that needs more than the best median so far cannot pull its rate's median
    // below it. The budget is twice that median (at most max_epochs), so that the slower seeds
    // of the chosen rate usually still reach the target and the spread is measured too.
    static constexpr double kBudgetFactor = 2.0;
    Outcome trials(Activation act, const std::string& init, const std::vector<double>& targets);
};

}  // namespace alexnet::study
