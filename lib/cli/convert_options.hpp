#pragma once
// alexnet-convert's options, and its input loaded as every tool loads -w. The writing itself is
// lib/convert's (linked by alexnet-convert alone, so the other tools never load libonnx).
#include <CLI/CLI.hpp>
#include <string>

#include "formats/model_file.hpp"

namespace alexnet {

struct ConvertCli {
    std::string input;          // any weights file -w reads
    std::string output;         // .safetensors, .onnx, .pth (with --names torchvision)
    std::string arch;           // settles what weights cannot tell (caffenet's order)
    std::string names = "ours";  // ours | torchvision: the tensor names of a safetensors or .pth output
    bool quiet = false;
};

void add_convert_options(CLI::App& app, ConvertCli& o);

// load_model(input, --arch): the errors every reader gives.
LoadedModel load_convert_input(const ConvertCli& o);

}  // namespace alexnet
