#pragma once
// ONNX models (a ModelProto, read with the hand-written protobuf reader) whose graph is an
// AlexNet variant: Conv, Relu, LRN, MaxPool, AveragePool, Gemm, Flatten/Reshape, Dropout, Softmax
// and the shape plumbing exporters add. Any other node is refused by name and type.
#include <string>

#include "model/weights.hpp"

namespace alexnet {

// A .onnx file by its extension, or a ModelProto's first field (ir_version).
bool looks_like_onnx(const std::string& path);

// Weights under canonical names in graph order (the k-th Conv and Gemm nodes are the preset's k-th
// conv and fc layers: conv1..conv5, fc6..fc8 in the AlexNets) with metadata: what alexnet-convert
// wrote in metadata_props (arch, preprocessing, labels; only when they say format alexnet-suite),
// else arch from the graph (alexnet-tv without LRN; caffenet when pooling precedes LRN; else
// alexnet); and from the graph itself, the LRN constants, the activation and the input size. Each
// Conv's stride and padding and each MaxPool's rounding are checked against the preset's.
Weights read_onnx(const std::string& path);

}  // namespace alexnet
