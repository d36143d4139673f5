#pragma once
// A model as an ONNX opset 13 graph, built with the ONNX library's protobuf classes and checked by
// its checker and shape inference before it is written: input `input` (N x C x H x W float, N
// symbolic), outputs `logits` and `prob`; the preprocessing, the class names and the arch in
// metadata_props (the keys of model_metadata, formats/model_file.hpp), so read_onnx restores them.
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet {

// Throws Error naming the first layer ONNX cannot express (LRN within a map; adaptive pooling
// from a size that is not a multiple of its output) or whose shape ONNX would compute otherwise
// than infer_shapes. Float weights only (a quantized model's s8 weights are refused by name).
void write_onnx(const std::string& path, const ModelSpec& spec, const Weights& weights,
                const std::vector<std::string>& labels);

}  // namespace alexnet
