#pragma once
// alexnet-quantize's options: the shared ones that apply, and its own.
#include <CLI/CLI.hpp>

#include "quantize/quantizer.hpp"

namespace alexnet {

void add_quantize_options(CLI::App& app, QuantizeOptions& o);

}  // namespace alexnet
