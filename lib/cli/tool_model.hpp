#pragma once
// What every tool that runs a model shares: which model, and how images are fed to it. lib/cli
// fills it from flags (add_common_options); the evaluation run and the classify/embed loop read it.
#include <string>
#include <vector>

#include "engine/precision.hpp"
#include "formats/model_file.hpp"

namespace alexnet {

struct CommonOptions {
    std::vector<std::string> inputs;  // images, directories, "-" for stdin
    bool null_separated = false;      // "-" lists paths separated by NUL bytes (find -print0)
    std::string weights;              // default: $ALEXNET_WEIGHTS, else the installed default model
    std::vector<std::string> members; // every --weights given (weights is the last): several make an ensemble
    std::string arch;                 // settles what weights cannot tell (caffenet's order)
    int batch = 32;                   // images per forward pass
    int threads = 0;                  // 0: all cores
    int loader_threads = 2;           // decoding threads
    std::string crop = "center";      // center | ten
    std::string precision;            // fp32 | bf16 | int8; empty: int8 for a quantized model, else fp32
    bool quiet = false;
    bool summary = false;             // print the model summary JSON and exit
    // preprocessing overrides; unset values keep what the weights carry
    std::vector<float> mean, std;
    bool rgb = false, bgr = false;
    int resize = 0, crop_size = 0;
};

// Applies --mean/--std/--rgb/--bgr/--resize/--crop-size to `spec` (crop size also sets the input).
// A value that does not fit the model is a usage error naming the option.
void apply_overrides(const CommonOptions& o, ModelSpec& spec);

// The model installed with the tools (PREFIX/share/alexnet/alexnet-28-fmnist.safetensors, or its
// quantized twin alexnet-28-fmnist-int8.safetensors for --precision int8; found from the
// executable's own path), or "" when there is none.
std::string installed_default_model(bool int8 = false);

// Loads --weights (else $ALEXNET_WEIGHTS, else the installed default model, saying so on stderr
// unless quiet) and applies the overrides. Without any, throws a UsageError that explains where
// weights come from.
// Several --weights are refused here (a UsageError naming the tools that take an ensemble).
LoadedModel load_tool_model(const CommonOptions& o);

// alexnet-classify's and alexnet-eval's models: every --weights (one, or an ensemble's members).
// Members must agree on the classes (count and names); preprocessing overrides are refused with
// several (each member keeps its own).
std::vector<LoadedModel> load_tool_models(const CommonOptions& o);

// The precision a tool runs `model` at: --precision, else int8 for a quantized model (made by
// alexnet-quantize) and fp32 otherwise. A quantized model run in fp32 or bf16 runs on its
// dequantized weights; int8 needs a quantized model. Throws Error when the CPU lacks support.
Precision resolve_precision(const CommonOptions& o, LoadedModel& model);

}  // namespace alexnet
