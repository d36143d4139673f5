#pragma once
// Options shared by every tool, defined once with their defaults, and the one place where
// errors become messages and exit codes.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "data/image.hpp"
#include "model/model.hpp"

namespace alexnet {

// A usage problem found after parsing (e.g. no inputs): exit 2 like CLI11's own errors.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CommonOptions {
    std::vector<std::string> inputs;  // images, directories, "-" for stdin
    std::string weights;              // default: $ALEXNET_WEIGHTS
    std::string arch;                 // settles what weights cannot tell (caffenet's order)
    int batch = 32;                   // images per forward pass
    int threads = 0;                  // 0: all cores
    std::string crop = "center";      // center | ten
    bool quiet = false;
    bool summary = false;             // print the model summary JSON and exit
    // preprocessing overrides; unset values keep what the weights carry
    std::vector<float> mean, std;
    bool rgb = false, bgr = false;
    int resize = 0, crop_size = 0;
};

// Adds the shared options (inputs as positionals when `with_inputs`).
void add_common_options(CLI::App& app, CommonOptions& o, bool with_inputs = true);

// UsageError when no image, directory or "-" was given.
void require_inputs(const CommonOptions& o);

// Applies --mean/--std/--rgb/--bgr/--resize/--crop-size to `spec` (crop size also sets the input).
void apply_overrides(const CommonOptions& o, ModelSpec& spec);

// Parses argv and runs `body`, mapping outcomes to exit codes: usage error 2 (CLI11's message),
// alexnet::Error 1 with its one-line message, closed stdout 0. `body` returns the exit code.
int run_tool(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

}  // namespace alexnet
