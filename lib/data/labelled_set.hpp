#pragma once
// A labelled data set for training and evaluation (DESIGN.md section 6), opened by what the path
// is: an IDX pair or CIFAR-10 batches (held in memory), a path-label list or an image folder
// (files decoded on demand).
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "data/datasets.hpp"
#include "data/decode.hpp"

namespace alexnet {

// Labels in a path-label list are class indices below this (ImageNet-21k has 21,841 classes).
constexpr int kMaxClasses = 100'000;

// Which part of a folder that holds both (IDX train-*/t10k-*, CIFAR data_batch_*/test_batch).
enum class Split { train, test };

struct LabelledSet {
    std::string source;                    // the path it was opened from, for messages
    std::vector<std::string> class_names;  // folder names, CIFAR's batches.meta.txt; else empty
    ImageSet images;                       // IDX and CIFAR: pixels in memory
    std::vector<std::string> paths;        // list and folder: one file per item
    std::vector<int> labels;
    std::vector<int> origin;               // in memory, a subset's items' indices in the file (empty: 0, 1, ...)
    std::vector<std::string> notes;        // for people: files skipped while listing folders
    int size() const { return int(labels.size()); }
    bool in_memory() const { return paths.empty(); }
    int num_classes() const;  // class_names' count, else the largest label + 1
    // Item i as 8-bit grey or BGR (decoded from disk for file sets; throws Error(path, reason)).
    // `hint`: what the image will be resized to (a JPEG may be decoded smaller, see SizeHint).
    cv::Mat image(int i, SizeHint hint = {}) const;
    std::string name(int i) const;  // its path, or "source#k" for in-memory items (k: its index in the file)
};

// path: an IDX images file (labels found beside it: "images-idx3" -> "labels-idx1"), a folder
// with IDX files or CIFAR-10 binaries (the `split` part), a CIFAR-10 .bin file, an image folder
// (root/<class>/...), or a path-label list ("path label" lines; paths relative to `root` when
// given, else to the list's folder; '#' comments and blank lines skipped).
LabelledSet open_labelled_set(const std::string& path, Split split, const std::string& root = "");

// Items `indices` of `set`, in that order.
LabelledSet subset(const LabelledSet& set, const std::vector<int>& indices);

// The first `limit` items (all when limit <= 0 or beyond the size).
LabelledSet first_items(LabelledSet set, int limit);

// `limit` items drawn from the whole set (all when limit <= 0 or beyond the size), each class in
// proportion to its share, so a class-sorted folder is not cut to its first classes: the items of
// each class in an order shuffled by `seed`, the k-th of a class of n ranked (k + 0.5) / n, the
// `limit` lowest ranks taken, kept in the set's order. The same seed gives the same items.
LabelledSet sample_items(LabelledSet set, int limit, uint64_t seed);
constexpr uint64_t kSampleSeed = 0x4c494d4954;  // --limit's seed where a tool has no --seed

// Positions of the items whose file does not exist (file sets; none for sets in memory).
std::vector<int> missing_items(const LabelledSet& set);

// Re-indexes a set whose classes carry names (image folders, CIFAR-10's batches.meta.txt) to
// `names`, the model's classes in order (its labels, or a --labels file: `names_source`), matching
// folder to class by name, as written or loosely (case, and any run of characters other than
// letters and digits, are ignored: "T-shirt/top" cannot be a folder name, "t-shirt_top" matches
// it). A folder that matches no class, or two folders one class, is refused with the names that
// differ. Sets without class names are left as they are.
void map_classes_by_name(LabelledSet& set, const std::vector<std::string>& names, const std::string& names_source);

}  // namespace alexnet
