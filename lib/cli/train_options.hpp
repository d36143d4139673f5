#pragma once
// alexnet-train's flags, defined once beside the TrainOptions fields they set (the activation
// experiment reuses the data and solver ones).
#include <CLI/CLI.hpp>

#include "train/trainer.hpp"

namespace alexnet {

void add_data_options(CLI::App& app, TrainOptions& o);
void add_train_options(CLI::App& app, TrainOptions& o);

}  // namespace alexnet
