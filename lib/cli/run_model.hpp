#pragma once
// What classify and embed share: loading the model a user named, and streaming every input
// through the network with decoding on a background thread.
#include <functional>
#include <string>

#include "cli/options.hpp"
#include "engine/precision.hpp"
#include "formats/model_file.hpp"

namespace alexnet {

// --summary: the model table of --weights, or of the --arch preset (default alexnet) without
// weights, as one JSON line; with `ensemble` (the tools that take several --weights), a line per
// member, each with its "weights".
void print_summary(const CommonOptions& o, bool ensemble = false);

// Called once per input, in input order: `values` (dim floats, averaged over crops) or `error`.
using ResultFn = std::function<void(const std::string& path, const std::string& error, const float* values, int dim)>;

// Runs every input through the network up to `layer`; returns the number of inputs that failed.
int run_images(const CommonOptions& o, LoadedModel& model, const std::string& layer, const ResultFn& emit);
// An ensemble: every input through each member up to `layer` (the same size in all), the values
// averaged over the members. Each image is decoded once; members run one after another on a batch
// and share one workspace.
int run_images(const CommonOptions& o, std::vector<LoadedModel>& members, const std::string& layer,
               const ResultFn& emit);

}  // namespace alexnet
