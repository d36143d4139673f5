#pragma once
// Pieces both oneDNN networks (inference and training) share: big-buffer allocation, the
// non-finite scan, and how an activation maps onto a oneDNN eltwise algorithm.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>
#include <oneapi/dnnl/dnnl.hpp>

#include "model/model.hpp"

namespace alexnet {

struct AlignedFree {
    void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<char, AlignedFree>;

// 64-byte aligned; buffers of 2 MB and more go on transparent huge pages (far fewer page faults
// when weights are reordered in and activations first touched). Throws Error when out of memory.
Buffer allocate(size_t bytes);

// Index of the first NaN or infinity in x[0..n), or -1.
int64_t first_non_finite(const float* x, int64_t n);

struct EltwiseOp {
    dnnl::algorithm algorithm = dnnl::algorithm::undef;
    float alpha = 0;
};
// `for_backward`: the *_use_dst_for_bwd variant, so the forward can run in place and the backward
// reads the activation's output.
EltwiseOp eltwise_op(Activation act, bool for_backward);

// lrn_within_channel for LrnParams::within_map (oneDNN divides alpha by size^2 there, as
// cuda-convnet's rnorm does), else lrn_across_channels (alpha / size).
dnnl::algorithm lrn_algorithm(const LrnParams& p);

// The activation f(x) and its derivative f'(x) at each of `x`, computed by the training engine's
// own eltwise primitives (forward_training, then backward from the output with a gradient of 1):
// the curves of the book's Figure 2-3, and a check of those primitives against closed forms.
void eltwise_curve(Activation act, const std::vector<float>& x, std::vector<float>& y, std::vector<float>& dy);

}  // namespace alexnet
