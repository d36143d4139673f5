#pragma once
// ONNX models (a ModelProto, read with the hand-written protobuf reader) whose graph is an
// AlexNet variant: Conv, Relu, LRN, MaxPool, AveragePool, Gemm, Flatten/Reshape, Dropout, Softmax
// and the shape plumbing exporters add. Any other node is refused by name and type.
#include <string>

#include "model/weights.hpp"

namespace alexnet {

// A .onnx file by its extension, or a ModelProto's first field (ir_version).
bool looks_like_onnx(const std::string& path);

// Weights under canonical names in graph order (Conv -> conv1..conv5, Gemm -> fc6..fc8) with
// metadata: arch (alexnet-tv without LRN; caffenet when pooling precedes LRN; else alexnet), LRN
// constants, input size from the graph input.
Weights read_onnx(const std::string& path);

}  // namespace alexnet
