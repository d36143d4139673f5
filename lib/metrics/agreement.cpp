#include "metrics/agreement.hpp"

#include <algorithm>
#include <cmath>

#include "metrics/topk.hpp"

namespace alexnet {

void Agreement::add(const float* scores, const float* reference, int classes) {
    ++images;
    same_top1 += top_classes(scores, classes, 1)[0] == top_classes(reference, classes, 1)[0];
    for (int c = 0; c < classes; ++c) {
        const double d = std::fabs(double(scores[c]) - double(reference[c]));
        max_logit_diff = std::max(max_logit_diff, d);
        sum_logit_diff += d;
    }
    logits += classes;
}

}  // namespace alexnet
