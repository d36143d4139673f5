#pragma once
// Where alexnet-search's vectors come from: files alexnet-embed wrote (FILE.npy with
// FILE.npy.paths.txt, or JSON Lines), or a labelled data set (IDX, CIFAR-10, a path-label list)
// run through a model at a layer, with its labels. Images without labels are embedded by the
// caller (lib/cli) through the classify/embed loop.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/labelled_set.hpp"
#include "engine/precision.hpp"
#include "formats/model_file.hpp"
#include "search/index_file.hpp"

namespace alexnet {

struct VectorSet {
    int dim = 0;
    std::vector<float> rows;               // size() x dim
    std::vector<std::string> paths;
    std::vector<int> labels;               // -1 where unknown
    std::vector<std::string> class_names;  // when the labels have names
    VectorOrigin origin;
    int64_t size() const { return int64_t(paths.size()); }
    void clear_rows() { rows.clear(), paths.clear(), labels.clear(); }  // keeps dim, names, origin
    // Appends one vector (its dimension fixed by the first), its path and label.
    void append(const std::string& path, int label, const float* v, int dim, const std::string& source);
};

// Finite values whose squared length is at most kMaxSquaredNorm (FAISS computes distances in
// float: larger ones overflow); else Error naming `where`.
void check_vector(const float* v, int dim, const std::string& where);

// Whether `path` names vectors rather than images: a .npy or .jsonl file.
bool is_vector_file(const std::string& path);
VectorSet read_vector_file(const std::string& path);
// The same in sets of at most `chunk` vectors (a .npy is read from a mapping a part at a time).
void read_vector_file(const std::string& path, int64_t chunk, const std::function<void(VectorSet&)>& sink);

// Whether `path` is a labelled data set (IDX or CIFAR-10 files or folders, or a path-label list)
// rather than images or a folder of them.
bool is_labelled_data_set(const std::string& path);

// What made vectors with `model` at `layer` (the model's hash, weights path, preprocessing).
VectorOrigin origin_of(const LoadedModel& model, const std::string& layer);

// Every item of `set` through `model` (center crop) at `layer`, to `sink` in sets of about
// `chunk` vectors (origin and class names set in each); unreadable items are left out and
// counted in `failed`.
void embed_labelled_set(const LoadedModel& model, Precision precision, const LabelledSet& set, const std::string& layer,
                        int batch, int loader_threads, int& failed, int64_t chunk,
                        const std::function<void(VectorSet&)>& sink);

// Scales each row to unit length (rows of zeros stay zero): the cosine metric's vectors.
void normalize_rows(std::vector<float>& rows, int dim);

}  // namespace alexnet
