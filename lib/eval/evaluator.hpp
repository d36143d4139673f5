#pragma once
// The run behind alexnet-eval: a labelled data set through a model, center or ten crops, top-1 and
// top-k error overall and per class, the confusion matrix, and every skipped item accounted for.
#include <string>

#include "io/json_lines.hpp"
#include "io/model_options.hpp"

namespace alexnet {

struct EvalOptions {
    CommonOptions common;         // inputs[0]: the data set; weights, batch, threads, crop, overrides
    std::string root;             // prefix for a list's relative paths
    std::string split = "test";   // which part of an IDX or CIFAR-10 folder
    int limit = 0;                // N items drawn across the set (sample_items; 0: all)
    int topk = 1;                 // besides top-1 (--top5: 5)
    bool per_image = false;       // a line per image
    bool strict = false;          // a skipped item is fatal
    std::string confusion;        // CSV path (and a PNG beside it for up to 100 classes)
    std::string labels_file;      // class names, else the weights' own
    bool compare_precision = false;  // also run fp32 and report top-1 agreement, logit differences
    std::string reference;        // the fp32 model to compare with (default: --weights itself)
};

// Streams per-image lines (with per_image), a line per skipped item, and the summary line last.
// Returns the exit code: 0, or 1 when items were skipped.
int evaluate(const EvalOptions& o, JsonLines& out);

}  // namespace alexnet
