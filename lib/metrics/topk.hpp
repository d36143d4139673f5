#pragma once
// Top-k bookkeeping the way Caffe's accuracy layer and the paper count it.
#include <cstdint>
#include <vector>

namespace alexnet {

// Rank of `label` among `scores` (0 = best): classes scoring higher, plus tied classes with a
// lower index (a stable descending sort). Top-k correct iff rank < k; k > classes is always right.
int label_rank(const float* scores, int classes, int label);

// The k best classes, best first, ties to the lower index.
std::vector<int> top_classes(const float* scores, int classes, int k);

struct TopKCounter {
    int64_t images = 0, top1 = 0, top5 = 0;
    double loss_sum = 0;
    // One image's scores (logits or probabilities) against its label; `loss` its cross-entropy.
    void add(const float* scores, int classes, int label, double loss = 0);
    double top1_error() const { return images ? 1.0 - double(top1) / double(images) : 0; }
    double top5_error() const { return images ? 1.0 - double(top5) / double(images) : 0; }
    double mean_loss() const { return images ? loss_sum / double(images) : 0; }
};

// Cross-entropy of softmax(logits) for one image.
double cross_entropy(const float* logits, int classes, int label);

}  // namespace alexnet
