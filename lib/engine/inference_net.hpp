#pragma once
// The oneDNN inference network: primitives and weight reorders built once per (model, batch size,
// output layer); forward() then only executes. Activations live in two ping-pong buffers and all
// primitives share one scratchpad, so memory is planned once.
#include <memory>
#include <string>
#include <vector>

#include "engine/precision.hpp"
#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet {

struct LayerTime {
    std::string layer;
    double ms = 0;
};

// Activation and scratch memory that networks run one after another share (an ensemble's members):
// each network asks for what it needs when it is built, and the buffers grow to the largest, so
// several members cost their weights plus one member's activations. Outlives its networks.
class NetWorkspace {
public:
    NetWorkspace();
    ~NetWorkspace();
    NetWorkspace(const NetWorkspace&) = delete;
    NetWorkspace& operator=(const NetWorkspace&) = delete;
    size_t bytes() const;  // held now

private:
    friend class InferenceNet;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class InferenceNet {
public:
    // Runs the network up to and including `output_layer`. With `release_weights`, each tensor of
    // `weights` is released as soon as the engine holds its own copy, or taken over when it is
    // used as stored (keeps peak memory low).
    // `precision` (engine/precision.hpp): int8 needs a quantized model, fp32 and bf16 float weights;
    // throws Error when this CPU lacks what it needs.
    // With `workspace`, activations and scratchpad live in it (shared with the other networks built
    // on it), not in buffers of the network's own.
    InferenceNet(const ModelSpec& spec, Weights& weights, int batch,
                 const std::string& output_layer = "prob", bool release_weights = false,
                 Precision precision = Precision::fp32, NetWorkspace* workspace = nullptr);
    ~InferenceNet();
    InferenceNet(const InferenceNet&) = delete;
    InferenceNet& operator=(const InferenceNet&) = delete;

    int batch() const;
    // What runs in which type, e.g. "int8: conv1 s8->f32 (s8 weights), norm1 f32, ...", and the
    // oneDNN kernel of each conv/fc layer.
    const std::string& plan() const;
    const std::string& kernels() const;
    // Weight tensors used where they lie, not copied into oneDNN's layout: views into a mapped file,
    // or (with `release_weights`) floats taken over from the caller's Weights.
    int weights_in_place() const;
    Shape output_shape() const;  // per image
    // input (batch, C, H, W) plain float; output (batch, output_shape().size()) plain float
    void forward(const float* input, float* output);
    // Same, timing each step (a reorder is named after the layer it feeds).
    std::vector<LayerTime> forward_timed(const float* input, float* output);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Sets oneDNN's (OpenMP's) thread count; 0 leaves the default (all cores).
void set_num_threads(int threads);

}  // namespace alexnet
