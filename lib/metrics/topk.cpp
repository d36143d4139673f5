#include "metrics/topk.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace alexnet {

int label_rank(const float* scores, int classes, int label) {
    const float s = scores[label];
    int rank = 0;
    for (int c = 0; c < classes; ++c) rank += scores[c] > s || (scores[c] == s && c < label);
    return rank;
}

std::vector<int> top_classes(const float* scores, int classes, int k) {
    std::vector<int> idx(static_cast<size_t>(classes));
    std::iota(idx.begin(), idx.end(), 0);
    k = std::min(k, classes);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int a, int b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); });
    idx.resize(size_t(k));
    return idx;
}

void TopKCounter::add(const float* scores, int classes, int label, double loss) {
    const int rank = label_rank(scores, classes, label);
    ++images;
    top1 += rank < 1;
    top5 += rank < 5;
    loss_sum += loss;
}

void average_rows(const float* rows, int crops, int dim, float* out) {
    std::fill(out, out + dim, 0.f);
    for (int c = 0; c < crops; ++c)
        for (int i = 0; i < dim; ++i) out[i] += rows[size_t(c) * dim + i];
    for (int i = 0; i < dim; ++i) out[i] /= float(crops);
}

Evaluation::Evaluation(int classes, int k)
    : classes_(classes), k_(k), per_class_(size_t(classes)), confusion_(size_t(classes) * classes) {}

int Evaluation::add(const float* scores, int label) {
    const int rank = label_rank(scores, classes_, label);
    int predicted = 0;
    for (int c = 1; c < classes_; ++c) predicted = scores[c] > scores[predicted] ? c : predicted;  // ties: lower index
    for (Counts* n : {&total_, &per_class_[size_t(label)]}) {
        ++n->images;
        n->top1 += rank < 1;
        n->topk += rank < k_;
    }
    ++confusion_[size_t(label) * classes_ + predicted];
    return rank;
}

std::vector<int64_t> Evaluation::counts() const {
    std::vector<int64_t> c{total_.images, total_.top1, total_.topk};
    for (const Counts& n : per_class_) c.insert(c.end(), {n.images, n.top1, n.topk});
    c.insert(c.end(), confusion_.begin(), confusion_.end());
    return c;
}

void Evaluation::set_counts(const std::vector<int64_t>& c) {
    if (c.size() != 3 * (per_class_.size() + 1) + confusion_.size())
        throw std::invalid_argument("Evaluation::set_counts: another class count");
    size_t at = 0;
    auto take = [&](Counts& n) {
        n.images = c[at++];
        n.top1 = c[at++];
        n.topk = c[at++];
    };
    take(total_);
    for (Counts& n : per_class_) take(n);
    std::copy(c.begin() + std::ptrdiff_t(at), c.end(), confusion_.begin());
}

double cross_entropy(const float* logits, int classes, int label) {
    const float m = *std::max_element(logits, logits + classes);
    double sum = 0;
    for (int c = 0; c < classes; ++c) sum += std::exp(double(logits[c]) - m);
    return std::log(sum) + m - logits[label];
}

}  // namespace alexnet
