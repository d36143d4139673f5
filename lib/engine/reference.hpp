#pragma once
// Naive reference layers on plain NCHW float buffers. Slow and obvious on purpose: the tests hold
// the oneDNN network to these, and these to PyTorch.
#include <map>
#include <string>
#include <vector>

#include "engine/precision.hpp"
#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet::reference {

// in (N, s.c, s.h, s.w), weight (OC, C/G, K, K), bias (OC) -> out (N, OC, OH, OW)
void conv_forward(float* out, const float* in, const float* weight, const float* bias, int N,
                  const Shape& s, const LayerSpec& l);
// across channels: out = in / (k + alpha/size * sum_{window} in^2)^beta; within a map
// (p.within_map): out = in / (k + alpha/size^2 * sum_{size x size window} in^2)^beta
void lrn_forward(float* out, const float* in, int N, const Shape& s, const LrnParams& p);
void max_pool_forward(float* out, const float* in, int N, const Shape& s, const LayerSpec& l);
// the mean over the window's pixels that lie inside the image
void avg_pool_forward(float* out, const float* in, int N, const Shape& s, const LayerSpec& l);
// PyTorch's windows: rows [floor(i*H/OH), ceil((i+1)*H/OH)), likewise columns
void adaptive_avg_pool_forward(float* out, const float* in, int N, const Shape& s, int oh, int ow);
// in (N, in_features), weight (out_features, in_features) -> out (N, out_features)
void fc_forward(float* out, const float* in, const float* weight, const float* bias, int N,
                int in_features, int out_features);
void activation_forward(float* x, int64_t n, Activation act);  // in place
void softmax_forward(float* out, const float* in, int N, int classes);

// Backward passes: the same shapes as the forward ones; every d* buffer is ACCUMULATED into
// (zero it first), as llm.c's layers do, so a gradient can gather from several consumers.
void conv_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                   const float* weight, int N, const Shape& s, const LayerSpec& l);
void fc_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                 const float* weight, int N, int in_features, int out_features);
// From the activation's output `out` (what the forward pass keeps): relu 1[out>0], tanh 1-out^2,
// sigmoid out(1-out), leaky-relu 1 or slope, elu 1 or out+alpha.
void activation_backward(float* dinp, const float* dout, const float* out, int64_t n, Activation act);
void lrn_backward(float* dinp, const float* dout, const float* inp, int N, const Shape& s, const LrnParams& p);
// The gradient goes to the first maximum of each window, as oneDNN's and PyTorch's do.
void max_pool_backward(float* dinp, const float* dout, const float* inp, int N, const Shape& s, const LayerSpec& l);
void avg_pool_backward(float* dinp, const float* dout, int N, const Shape& s, const LayerSpec& l);
void adaptive_avg_pool_backward(float* dinp, const float* dout, int N, const Shape& s, int oh, int ow);
// Mean cross-entropy of softmax(logits) against labels; writes dlogits = (softmax - onehot) / N, or
// / `divisor` when given (N rows that are a share of a batch of `divisor`: the shares' gradients
// then sum to the whole batch's).
float softmax_cross_entropy(float* dlogits, const float* logits, const int* labels, int N, int classes,
                            int divisor = 0);

// The whole network; returns each layer's output (N x layer shape) in table order.
std::vector<std::vector<float>> forward(const ModelSpec& spec, const Weights& weights,
                                        const float* input, int N);

// The same at a precision plan (engine/precision.hpp), as the oneDNN network computes it: tensors
// quantized, requantized and dequantized where the plan says (round to nearest even, saturated),
// int8 layers on their (7-bit when halved) integer weights with the bias in accumulator units,
// bf16 tensors and weights rounded to bf16. Layers 0..plan.size()-1; outputs as real values.
std::vector<std::vector<float>> forward(const ModelSpec& spec, const Weights& weights,
                                        const std::vector<LayerPlan>& plan, const float* input, int N);

// Mean softmax cross-entropy of the network's logits (the layer before `prob`) against `labels`,
// and its gradient for every parameter, by canonical name (no dropout: the reference of the
// deterministic part of a training step).
struct Gradients {
    float loss = 0;
    std::map<std::string, std::vector<float>> params;
};
Gradients backward(const ModelSpec& spec, const Weights& weights, const float* input, const int* labels, int N);

}  // namespace alexnet::reference
