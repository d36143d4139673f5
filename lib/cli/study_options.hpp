#pragma once
// alexnet-compare-activations' options: the activation study's fields (lib/study), as flags.
#include <CLI/CLI.hpp>

#include "study/activation_experiment.hpp"

namespace alexnet {

void add_study_options(CLI::App& app, ExperimentOptions& o);

}  // namespace alexnet
