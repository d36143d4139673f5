#pragma once
// The oneDNN training network: forward_training primitives (workspaces kept for LRN and max
// pooling), backward-data and backward-weights primitives hinted by the forward ones, dropout and
// softmax cross-entropy as plain loops. Built once per (model, batch size); a step only executes.
//
// Parameters and gradients each live in one arena in PyTorch layout (ParamLayout). Before each
// step the engine copies the parameters into the layouts oneDNN chose; after it, the gradients
// come back into the gradient arena, which the step OVERWRITES (one step, one batch).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/precision.hpp"
#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet {

class TrainNet {
public:
    // `dropout`: probability of zeroing an output of each hidden fc layer (fc6, fc7) in training
    // steps, survivors scaled by 1/(1-p) so evaluation needs no rescaling. 0 turns it off.
    // `precision` bf16 (mixed precision, as PyTorch's autocast): conv and fc layers read bf16
    // copies of the weights and bf16 activations and write bf16 (f32 accumulation inside);
    // ReLU, LRN and pooling run on bf16; weight and bias gradients are computed in f32 from bf16
    // inputs; the parameters (master weights), their gradients, dropout, the logits handed out,
    // the softmax and the loss stay f32. Throws Error where the CPU lacks bf16 (AVX512-BF16).
    TrainNet(const ModelSpec& spec, int batch, float dropout, Precision precision = Precision::fp32);
    ~TrainNet();
    TrainNet(const TrainNet&) = delete;
    TrainNet& operator=(const TrainNet&) = delete;

    int batch() const;
    int num_classes() const;
    Precision precision() const;
    const ModelSpec& spec() const;
    const ParamLayout& layout() const;
    float* params();  // (layout().total) read and written by the solver between steps
    const float* grads() const;
    float* grads();  // for reductions across processes, in place
    // Copies `w` (every tensor of the spec, PyTorch layout) into the parameter arena.
    void set_weights(const Weights& w);
    // Views of the parameter arena under canonical names (valid while the net lives).
    Weights weights() const;

    // One training step on input (batch, C, H, W) with labels (batch): forward with dropout drawn
    // from `dropout_key` (the same key gives the same masks), mean softmax cross-entropy, backward.
    // Writes logits (batch, classes) when not null; returns the loss.
    float train_step(const float* input, const int* labels, uint64_t dropout_key, float* logits);
    // Forward without dropout: logits (batch, classes).
    void evaluate(const float* input, float* logits);

    // Data-parallel training: this net's batch is items first_item .. first_item + batch - 1 of a
    // global batch of `global_batch`. Dropout masks are then keyed by the item's global position,
    // and the gradients divided by the global batch, so the shares' gradients sum to the gradient
    // one net of the global batch computes.
    void set_share(int first_item, int global_batch);
    // Called during the backward pass with a layer's name as soon as its parameter gradients are
    // final in grads(), so their reduction can overlap with the rest of the pass.
    void on_gradients_ready(std::function<void(const std::string& layer)> fn);

    // The hidden layers' activation outputs from the last train_step or evaluate, per layer: the
    // fraction of outputs where the activation is saturated (its derivative below 1% of its
    // maximum: ReLU exactly 0, tanh |y| > 0.995, sigmoid y < 0.0025 or y > 0.9975, ELU y < -0.99;
    // never for leaky ReLU), and the fraction of units (a channel at a position, or an fc neuron)
    // saturated for every image of the batch: "dead" ReLUs.
    struct ActivationStats {
        std::string layer;
        int64_t units = 0;
        double saturated_fraction = 0, dead_fraction = 0;
    };
    std::vector<ActivationStats> activation_stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The dropout mask bit of element `index` under `key`: a counter-based hash, so masks do not
// depend on thread count or order and a resumed run draws the same ones.
bool dropout_keep(uint64_t key, uint64_t index, float p);

}  // namespace alexnet
