#pragma once
// Options shared by every tool, defined once with their defaults, and the one place where
// errors become messages and exit codes.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "cli/tool_model.hpp"

namespace alexnet {

// Adds the shared options (inputs as positionals when `with_inputs`).
void add_common_options(CLI::App& app, CommonOptions& o, bool with_inputs = true);

// -b/--batch-size (also --batch), the same on every tool.
CLI::Option* add_batch_option(CLI::App& app, int& batch, const std::string& help);
// --max-pixels (images with more pixels are refused before decoding) and --exact-decode (JPEGs at
// full size); run_tool applies them.
CLI::Option* add_max_pixels_option(CLI::App& app);
// --loader-threads, the same on every tool that decodes images.
CLI::Option* add_loader_threads_option(CLI::App& app, int& threads);
// -t/--threads and -q/--quiet, the same on every tool.
CLI::Option* add_threads_option(CLI::App& app, int& threads);
CLI::Option* add_quiet_option(CLI::App& app, bool& quiet);

// CLI11 validators whose messages read like every other error of the suite (CLI11's own say
// "Value -4 not in range 1 to 4096" or "five not in {center,ten}"): "--batch-size: expected a
// number from 1 to 4096, found -4", "--crop: expected one of center, ten, found 'five'".
CLI::Validator in_range(double lo, double hi);
CLI::Validator one_of(std::vector<std::string> names);
extern const CLI::Validator positive_number;      // above 0
extern const CLI::Validator non_negative_number;  // 0 or more

// UsageError when no image, directory or "-" was given.
void require_inputs(const CommonOptions& o);

// The nearest option name to `arg` ("--batchsize" -> "--batch-size"), or "" when none is close.
std::string nearest_option(const CLI::App& app, const std::string& arg);

// Parses argv and runs `body`, mapping outcomes to exit codes: usage errors 2 (one line naming
// the option; an unknown option suggests the nearest), alexnet::Error 1 with its one-line
// message, closed stdout 0. Adds --version. `body` returns the exit code.
int run_tool(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

}  // namespace alexnet
