#pragma once
// The solver, separate from the net (as Caffe keeps it): SGD with momentum and weight decay in the
// paper's form, per-parameter multipliers, initialisers and learning-rate policies.
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace alexnet {

struct Multipliers {
    float lr = 1, decay = 1;
};

// v = m*v - wd*decay_mult*lr*lr_mult*w - lr*lr_mult*grad;  w += v   (paper section 5)
class Sgd {
public:
    // `caffe_bias`: biases get lr x2 and decay x0 (bvlc_alexnet's train_val.prototxt).
    Sgd(const ParamLayout& layout, float momentum, float weight_decay, bool caffe_bias);
    void update(float* params, const float* grads, float lr);
    std::vector<float>& velocity() { return velocity_; }  // same layout as the parameters
    const std::vector<Multipliers>& multipliers() const { return mult_; }

private:
    const ParamLayout& layout_;
    float momentum_, weight_decay_;
    std::vector<Multipliers> mult_;  // per tensor
    std::vector<float> velocity_;
};

// paper: weights N(0, 0.01), biases 1 in conv2, conv4, conv5 and the hidden fc layers, else 0.
// caffe: bvlc_alexnet's fillers: N(0, 0.01), hidden fc weights N(0, 0.005), those biases 0.1.
// kaiming: N(0, sqrt(2 / fan_in)) weights, zero biases (He et al. 2015).
// torch: PyTorch's default for Conv2d and Linear: weights U(-b, b) with b = 1 / sqrt(fan_in)
//   (kaiming_uniform_ with a = sqrt(5)), biases U(-b, b) with the same fan-in.
// lecun: N(0, sqrt(1 / fan_in)) weights, zero biases (LeCun et al. 1998).
// convnet-18pct's paper init is cuda-convnet's layers-18pct.cfg: initW 1e-4 for conv1, 1e-2 for
// conv2, conv3 and fc10, biases 0.
const std::vector<std::string>& init_names();
void initialise(const ModelSpec& spec, const ParamLayout& layout, float* params, const std::string& init,
                uint64_t seed);
// Only the tensors of layer `layer` (fine-tuning with a new class count re-initialises fc8).
void initialise_layer(const ModelSpec& spec, const ParamLayout& layout, float* params, const std::string& init,
                      uint64_t seed, const std::string& layer);

// Multiplies the classifier's (last fc layer's) weights by `factor`, e.g. 0.1 so that the first
// logits are small whatever the activation.
void scale_classifier_weights(const ModelSpec& spec, const ParamLayout& layout, float* params, float factor);

// Learning rate per epoch. fixed; step: x gamma every `step` epochs; multistep: x gamma at each
// milestone epoch; plateau: x gamma when the validation error has not improved for `patience`
// epochs, at most `max_drops` times (the paper: divide by 10, three times); cosine: half a cosine
// from the base rate down to 0 at the end of `epochs` (Loshchilov & Hutter 2017, without restarts),
// step by step.
struct LrPolicy {
    std::string name = "fixed";
    float base_lr = 0.01f, gamma = 0.1f;
    int step = 30;
    std::vector<int> milestones;
    int patience = 1, max_drops = 3;
    int epochs = 1;  // cosine: the run's length
    // Linear warm-up over the first epochs (Goyal et al. 2017): the rate grows from base/steps to
    // the policy's rate, step by step. Keeps a deep ReLU stack with He-initialised weights from
    // dying in its first steps at the rates it trains best with.
    double warmup_epochs = 0;
};
const std::vector<std::string>& lr_policy_names();

// The schedule's state, so a resumed run continues it exactly.
struct LrState {
    float lr = 0;
    int drops = 0;                 // plateau
    double best_val_error = 2;     // plateau: best validation error so far
    int epochs_since_best = 0;     // plateau
};
LrState lr_start(const LrPolicy& p);
// The rate for `epoch` (0-based) given the state after the previous epoch.
float lr_for_epoch(const LrPolicy& p, const LrState& s, int epoch);
// The rate of SGD step `step` (0-based, counted over the whole run): lr_for_epoch with warm-up.
float lr_for_step(const LrPolicy& p, const LrState& s, int epoch, int64_t step, int iters_per_epoch);
// After an epoch's validation: updates best error / drops for `plateau`.
void lr_after_validation(const LrPolicy& p, LrState& s, double val_error);

}  // namespace alexnet
