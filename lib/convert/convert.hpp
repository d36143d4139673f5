#pragma once
// alexnet-convert's run: a loaded model written as safetensors (ours, or with torchvision's
// names), a PyTorch .pth state dict (torchvision's names) or ONNX, chosen by the output's
// extension and --names; what the target cannot express is refused with one line naming it.
#include <nlohmann/json.hpp>
#include <string>

#include "formats/model_file.hpp"

namespace alexnet {

enum class ExportFormat { safetensors, onnx, torchvision_safetensors, torchvision_pth };

// The format of `output` (.safetensors, .onnx, .pth) under `names` ("ours" or "torchvision");
// throws Error("--output"/"--names", ...) listing the known ones otherwise. Called before the model
// loads, so a typo costs nothing.
ExportFormat export_format(const std::string& output, const std::string& names);

// Writes `model` to `output` (atomically) and returns the JSON line that says what was written:
// {"input", "output", "format", "arch", "num_classes", "names"}. A quantized (int8) model is
// refused for every format but our own safetensors (which keeps it as it is).
nlohmann::ordered_json convert_model(const LoadedModel& model, const std::string& output, ExportFormat format);

}  // namespace alexnet
