#pragma once
// alexnet-search's index file: a safetensors file (read by the suite's checked, fuzzed reader)
// holding the index's tensors (search/vector_index.hpp), every vector's path and label, and in its
// metadata what made the vectors, so a query made another way is refused before it is searched.
#include <cstdint>
#include <string>
#include <vector>

#include "search/vector_index.hpp"

namespace alexnet {

constexpr const char* kIndexFormat = "alexnet-search index 1";

// What made the vectors. Empty fields are unknown (vectors read from a file alexnet-embed wrote
// carry their layer, not their model).
struct VectorOrigin {
    std::string model;          // a hash of the architecture, the weights and the labels
    std::string weights;        // the weights file, as given (a default for queries)
    std::string layer;
    std::string preprocessing;  // mean, std, scale, channel order, resize, crop
    bool operator==(const VectorOrigin&) const = default;
};

struct IndexFile {
    VectorIndex index;
    std::string metric = "l2";             // l2 | cosine (unit vectors, 1 - cosine reported)
    VectorOrigin origin;
    std::vector<std::string> paths;        // per row
    std::vector<int> labels;               // per row; -1 where unknown
    std::vector<std::string> class_names;  // labels' names, when known
};

// Writes `path` atomically.
void save_index(const std::string& path, const IndexFile& f);

// Reads and checks everything (format, sizes, values) before building the index: a file that is
// damaged, truncated, of another version or not an index throws Error naming the file and field.
IndexFile load_index(const std::string& path);

// The first field in which two origins differ, as "layer: fc7 in the index, fc6 here", or "" when
// they agree (unknown fields agree with anything).
std::string origin_difference(const VectorOrigin& index, const VectorOrigin& query);

}  // namespace alexnet
