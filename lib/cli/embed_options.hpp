#pragma once
// alexnet-embed's options and run: a layer's activations per image, to stdout as JSON Lines or to
// a file (.npy with its paths, or .jsonl), written whole or not at all.
#include <CLI/CLI.hpp>
#include <string>

#include "cli/tool_model.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

struct EmbedCli {
    CommonOptions common;
    std::string layer = "fc7";
    std::string normalize = "none";  // l2 | none
    std::string format;              // jsonl | npy; empty: --output's extension, else jsonl
    std::string output;              // empty: stdout
    std::string convert;             // moved to alexnet-convert: a usage error pointing there
};

void add_embed_options(CLI::App& app, EmbedCli& o);

// Returns the exit code: 0, or 1 when an image failed.
int run_embed(EmbedCli o, JsonLines& out);

}  // namespace alexnet
