#pragma once
// Caffe's .caffemodel (a binary NetParameter, new `layer` or V1 `layers` messages) read with the
// hand-written protobuf reader, and its deploy.prototxt (text format) when one lies beside it.
// The layers must make an AlexNet (convolution, ReLU, LRN, max pooling, inner product, dropout,
// softmax, plus data and loss layers); anything else is refused with the layer named.
#include <string>
#include <vector>

#include "model/weights.hpp"

namespace alexnet {

// A .caffemodel by its extension, or a protobuf whose first field is a NetParameter's.
bool looks_like_caffemodel(const std::string& path);

// Weights under canonical names (conv1..conv5, fc6..fc8 in network order) with metadata: arch
// (caffenet when pooling comes before normalisation, else alexnet), the LRN constants, and the
// Caffe preprocessing. Layer order and LRN parameters come from `X.prototxt` or
// `deploy.prototxt` beside `X.caffemodel` when present, else from the caffemodel itself.
Weights read_caffemodel(const std::string& path);

// The layer types a prototxt (text) declares, in order; Error naming the line on a syntax error or
// on messages nested deeper than 100 (kMaxPrototxtDepth).
std::vector<std::string> prototxt_layer_types(const std::string& text, const std::string& where);

}  // namespace alexnet
