#pragma once
// How far a lower-precision run is from the fp32 one on the same images: top-1 agreement and the
// largest logit difference (DESIGN.md section 5: accuracy is measured, never assumed).
#include <cstdint>

namespace alexnet {

struct Agreement {
    int64_t images = 0, same_top1 = 0, logits = 0;
    double max_logit_diff = 0, sum_logit_diff = 0;  // |logit - reference logit|
    // One image's logits (or any scores) against the reference's; top-1 ties go to the lower class.
    void add(const float* scores, const float* reference, int classes);
    double top1_agreement() const { return images ? double(same_top1) / double(images) : 0.0; }
    double mean_logit_diff() const { return logits ? sum_logit_diff / double(logits) : 0.0; }
};

}  // namespace alexnet
