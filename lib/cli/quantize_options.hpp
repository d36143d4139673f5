#pragma once
// alexnet-quantize's options: the shared ones that apply, and its own; and the step from them to
// the run (the CPU checked, the model loaded).
#include <CLI/CLI.hpp>

#include "cli/tool_model.hpp"
#include "quantize/quantizer.hpp"

namespace alexnet {

struct QuantizeCli {
    CommonOptions common;    // weights, arch, batch, threads, quiet, preprocessing overrides
    QuantizeOptions quantize;
};

void add_quantize_options(CLI::App& app, QuantizeCli& o);

// Checks the CPU runs int8, loads the model and runs quantize(); returns its exit code.
int run_quantize(const QuantizeCli& o, JsonLines& out);

}  // namespace alexnet
