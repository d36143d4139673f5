#pragma once
// A model on disk: weights plus what travels with them (arch, classes, preprocessing, labels).
// The format is detected from the content, not the extension.
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet {

struct LoadedModel {
    std::string path;  // the file it was read from
    ModelSpec spec;
    Weights weights;
    std::vector<std::string> labels;  // from the metadata; empty when it has none
};

// The tensors and metadata of any weights file, by its content: safetensors, a PyTorch .pth
// (restricted unpickler), a Caffe .caffemodel (with its prototxt when beside it), ONNX.
Weights read_weights_file(const std::string& path);

// Reads, maps torchvision names to canonical ones, detects the architecture (widths, groups,
// classes), applies the metadata, validates every tensor. `arch_override` (may be empty) settles
// what weights cannot tell, such as caffenet's pool-before-LRN order.
LoadedModel load_model(const std::string& path, const std::string& arch_override = "");

// Writes canonical-named tensors (float32 as F32, a quantized model's s8 weights as I8, with their
// X.weight_scale and quantization metadata) with full metadata, atomically. `extra` (a training
// checkpoint's momentum and state, a quantization report) adds its tensors and metadata.
void save_model(const std::string& path, const ModelSpec& spec, const Weights& weights,
                const std::vector<std::string>& labels = {}, const Weights* extra = nullptr);

// What a file that is not a model looks like from its first bytes, for messages: "a JPEG image",
// "an HTML page (a failed download?)", "text", ...; empty when it is none of those.
std::string describe_content(const std::string& head);

// torchvision's parameter names to canonical ones; other names are returned unchanged.
std::string canonical_param_name(const std::string& name);

}  // namespace alexnet
