#pragma once
// A model on disk: weights plus what travels with them (arch, classes, preprocessing, labels).
// The format is detected from the content, not the extension.
#include <map>
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

// What travels with a model's weights, as string pairs (safetensors' __metadata__, ONNX's
// metadata_props): format, arch, num_classes, input_size, activation, resize, resize_mode,
// crop_size, channel_order, pixel_scale, mean, std, the LRN constants when it has LRN, and labels
// (a JSON array) when given; load_model applies them all. `where` names the file for errors.
std::map<std::string, std::string> model_metadata(const ModelSpec& spec, const std::vector<std::string>& labels,
                                                  const std::string& where);

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
// The reverse: conv1.weight -> features.0.weight, ..., fc8.bias -> classifier.6.bias; "" for a
// name torchvision's AlexNet does not have.
std::string torchvision_param_name(const std::string& name);

}  // namespace alexnet
