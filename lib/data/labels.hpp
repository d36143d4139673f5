#pragma once
// Class names: a --labels file, the weights' own labels, ImageNet's names for 1000 classes, or
// the class indices, in that order of preference.
#include <cstdint>
#include <string>
#include <vector>

namespace alexnet {

// Path-label lists and class-name files are read whole: at most this many bytes (ImageNet's
// train.txt: about 40 MB).
constexpr uint64_t kMaxListBytes = uint64_t(1) << 30;

const std::vector<std::string>& imagenet_class_names();  // 1000 names, built into the library

// One name per line; blank lines are errors (they would shift every later class).
std::vector<std::string> read_labels_file(const std::string& path);

std::vector<std::string> resolve_labels(const std::string& labels_file, const std::vector<std::string>& from_weights,
                                        int num_classes);

}  // namespace alexnet
