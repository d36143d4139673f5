#pragma once
// Top-k bookkeeping the way Caffe's accuracy layer and the paper count it.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace alexnet {

// Rank of `label` among `scores` (0 = best): classes scoring higher, plus tied classes with a
// lower index (a stable descending sort). Top-k correct iff rank < k; k > classes is always right.
int label_rank(const float* scores, int classes, int label);

// The k best classes, best first, ties to the lower index.
std::vector<int> top_classes(const float* scores, int classes, int k);

// Errors and loss are NaN (null in JSON) without images: nothing measured is never "0% error".
struct TopKCounter {
    int64_t images = 0, top1 = 0, top5 = 0;
    double loss_sum = 0;
    // One image's scores (logits or probabilities) against its label; `loss` its cross-entropy.
    void add(const float* scores, int classes, int label, double loss = 0);
    double top1_error() const { return images ? 1.0 - double(top1) / double(images) : kNotMeasured; }
    double top5_error() const { return images ? 1.0 - double(top5) / double(images) : kNotMeasured; }
    double mean_loss() const { return images ? loss_sum / double(images) : kNotMeasured; }
    static constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();
};

// The mean of `crops` consecutive rows of `dim` values: the paper's prediction from ten patches
// (softmax outputs averaged over the four corners, the center and their mirrors).
void average_rows(const float* rows, int crops, int dim, float* out);

// Everything alexnet-eval reports: top-1 and top-k counts overall and per class, and the
// confusion matrix of top-1 predictions (row: label, column: predicted class).
class Evaluation {
public:
    Evaluation(int classes, int k);
    // One image's scores against its label (0 <= label < classes); returns the label's rank.
    int add(const float* scores, int label);
    struct Counts {
        int64_t images = 0, top1 = 0, topk = 0;
    };
    int classes() const { return classes_; }
    int k() const { return k_; }
    const Counts& total() const { return total_; }
    const std::vector<Counts>& per_class() const { return per_class_; }
    int64_t confusion(int label, int predicted) const { return confusion_[size_t(label) * classes_ + predicted]; }
    // Every count as one array and back: the parts of a sharded evaluation are summed as arrays.
    std::vector<int64_t> counts() const;
    void set_counts(const std::vector<int64_t>& counts);

private:
    int classes_, k_;
    Counts total_;
    std::vector<Counts> per_class_;
    std::vector<int64_t> confusion_;
};

// Cross-entropy of softmax(logits) for one image.
double cross_entropy(const float* logits, int classes, int label);

}  // namespace alexnet
