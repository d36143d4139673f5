#pragma once
// alexnet-classify's options and run: the top-k classes of each image, one JSON line per image.
#include <CLI/CLI.hpp>
#include <string>

#include "cli/tool_model.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

struct ClassifyCli {
    CommonOptions common;
    int top = 5;              // classes per image
    std::string labels_file;  // class names, else the weights' own, else ImageNet's
};

void add_classify_options(CLI::App& app, ClassifyCli& o);

// Returns the exit code: 0, or 1 when an image failed.
int run_classify(const ClassifyCli& o, JsonLines& out);

}  // namespace alexnet
