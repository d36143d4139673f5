#pragma once
// alexnet-eval's options, and the step from them to the run: models loaded, precision settled.
#include <CLI/CLI.hpp>

#include "cli/tool_model.hpp"
#include "eval/evaluator.hpp"

namespace alexnet {

struct EvalCli {
    CommonOptions common;           // inputs[0]: the data set; weights, batch, threads, crop, overrides
    EvalOptions eval;               // the rest (its copies of the common fields are filled by run_eval)
    bool compare_precision = false; // also run fp32 and report top-1 agreement, logit differences
    std::string reference;          // the fp32 model to compare with (default: --weights itself)
};

void add_eval_options(CLI::App& app, EvalCli& o);

// Loads the model (and the --compare-precision reference) and runs evaluate(); returns its exit code.
int run_eval(const EvalCli& o, JsonLines& out);

}  // namespace alexnet
