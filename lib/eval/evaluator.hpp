#pragma once
// The run behind alexnet-eval: a labelled data set through a model, center or ten crops, top-1 and
// top-k error overall and per class, the confusion matrix, and every skipped item accounted for.
// The caller (lib/cli/eval_options) parses the options and loads the models.
#include <optional>
#include <string>
#include <vector>

#include "engine/precision.hpp"
#include "formats/model_file.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

struct EvalOptions {
    std::string data;             // the data set: a list, an image folder, IDX or CIFAR-10
    std::string weights_arg;      // --weights as given ("" for the default model): titles and JSON
    int batch = 32;               // images per forward pass (crops count)
    int loader_threads = 2;       // decoding threads
    std::string crop = "center";  // center | ten
    bool quiet = false;
    std::string root;             // prefix for a list's relative paths
    std::string split = "test";   // which part of an IDX or CIFAR-10 folder
    int limit = 0;                // N items drawn across the set (sample_items; 0: all)
    int topk = 1;                 // besides top-1 (--top5: 5)
    bool per_image = false;       // a line per image
    bool strict = false;          // a skipped item is fatal
    std::string confusion;        // CSV path (and a PNG beside it for up to 100 classes)
    std::string labels_file;      // class names, else the weights' own
    std::string reference_arg;    // --reference as given, for the comparison line
};

// A model evaluated, at `precision`.
struct EvalMember {
    LoadedModel model;
    Precision precision = Precision::fp32;
};

// The model evaluated (or an ensemble's members, their probabilities averaged: they share the
// classes), and for --compare-precision (one model) the fp32 model beside it.
struct EvalModels {
    std::vector<EvalMember> members;
    std::optional<LoadedModel> reference;
    const LoadedModel& first() const { return members.front().model; }
    bool ensemble() const { return members.size() > 1; }
};

// Streams per-image lines (with per_image), a line per skipped item, and the summary line last
// (with "members": each member's own errors, for an ensemble).
// Returns the exit code: 0, or 1 when items were skipped. Under mpirun every rank reads the same
// set and scores its share; rank 0 writes.
int evaluate(const EvalOptions& o, EvalModels& models, JsonLines& out);

}  // namespace alexnet
