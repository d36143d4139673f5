#pragma once
// The paper's Figure 1 experiment (DESIGN.md section 8): the same network and initial weights per
// seed with one activation swapped, each trained with its own fastest learning rate and no
// regularisation, timed to training-error targets. `--study` runs it over a grid of
// initialisations and targets. Every option is a field with its default;
// alexnet-compare-activations only maps flags to fields.
#include <cstdint>
#include <string>
#include <vector>

#include "io/json_lines.hpp"

namespace alexnet {

struct ExperimentOptions {
    std::string data = "/usr/share/datasets/fashion-mnist";  // any training set alexnet-train reads
    std::string root;
    int limit = 0;                          // the first N training items (0: all)
    std::string arch = "convnet-4";         // adapted to the data's channels and size
    std::vector<std::string> activations{"relu", "tanh", "sigmoid"};
    int seeds = 3;
    uint64_t seed = 1;                      // seeds are seed, seed + 1, ...
    std::vector<float> lr_grid{0.001f, 0.003f, 0.01f, 0.03f, 0.1f};
    float lr = 0;                           // > 0: this rate for every activation, no choice
    // iterations: the rate with the fewest iterations to the target, median over all seeds (the
    // paper's "as fast as possible"); error: the lowest training error after a `sweep_iters` trial
    // on the first seed (the tool's first criterion).
    std::string lr_choice = "iterations";
    int sweep_iters = 0;                    // error criterion: per trial (0: one epoch)
    double target_error = 0.25;
    int max_epochs = 20;                    // per run, and the budget of every rate trial
    int batch = 128;
    int eval_every = 0;                     // iterations per measurement (0: a tenth of an epoch)
    float momentum = 0.9f;
    std::string init = "kaiming";
    float last_layer_scale = 1;             // multiplies the classifier's initial weights
    std::string precision = "fp32";         // fp32 | bf16 (TrainNet's mixed precision)
    bool study = false;                     // the grid below instead of one init and target
    std::vector<std::string> study_inits{"paper", "torch"};
    std::vector<double> study_targets{0.25, 0.15, 0.10};
    std::string plot, curves;               // PNG paths (Figure 1 or the study's table, Figure 2-3)
    int threads = 0, loader_threads = 2;
    bool quiet = false;
};

// Streams JSON Lines (trials, per-measurement lines, per-run results, the summary last).
// Returns the exit code.
int run_activation_experiment(const ExperimentOptions& o, JsonLines& out);

// ---- the bookkeeping, exposed for the tests ----

// Iterations to a target per seed; -1: not reached within the budget, counted as `cap`.
double median_iterations(const std::vector<int64_t>& iters, int64_t cap);

// The paper's criterion: the index of the rate whose median over seeds (unreached = cap) is the
// smallest; ties go to the lower mean, then to the earlier rate.
size_t fastest_rate(const std::vector<std::vector<int64_t>>& iters_per_rate, int64_t cap);

}  // namespace alexnet
