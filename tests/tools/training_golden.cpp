// training-golden IN OUT: the verification helper of scripts/compare_training_with_pytorch.py
// (not a test of its own, not installed). IN holds the weights (canonical names), "input",
// "labels" and metadata arch/steps/lr/momentum/weight_decay; OUT gets the first step's loss and
// gradients ("grad.<name>"), every step's loss and the weights after the last step.
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/train_net.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "train/solver.hpp"

using namespace alexnet;

int main(int argc, char** argv) try {
    if (argc != 3) {
        std::cerr << "usage: training-golden IN.safetensors OUT.safetensors\n";
        return 2;
    }
    LoadedModel m = load_model(argv[1]);
    const Tensor& x = m.weights.at("input");
    const Tensor& y = m.weights.at("labels");
    const int N = int(x.shape[0]);
    std::vector<int> labels;
    for (int i = 0; i < N; ++i) labels.push_back(int(y.floats()[i]));
    auto meta = [&](const char* k) { return std::stod(m.weights.metadata.at(k)); };
    TrainNet net(m.spec, N, 0.f);
    net.set_weights(m.weights);
    Sgd sgd(net.layout(), float(meta("momentum")), float(meta("weight_decay")), false);
    Weights out;
    nlohmann::json losses = nlohmann::json::array();
    const int steps = int(meta("steps"));
    for (int s = 0; s < steps; ++s) {
        losses.push_back(net.train_step(x.floats(), labels.data(), 0, nullptr));
        if (s == 0) {
            const ParamLayout& L = net.layout();
            for (size_t i = 0; i < L.tensors.size(); ++i) {
                const float* g = net.grads() + L.offset[i];
                out.add("grad." + L.tensors[i].name, L.tensors[i].shape, std::vector<float>(g, g + L.numel(i)));
            }
        }
        sgd.update(net.params(), net.grads(), float(meta("lr")));
    }
    const Weights w = net.weights();
    for (const auto& name : w.names()) out.add_view(name, w.at(name));
    out.metadata["losses"] = losses.dump();
    write_safetensors(argv[2], out);
    return 0;
} catch (const std::exception& e) {
    std::cerr << "training-golden: " << e.what() << "\n";
    return 1;
}
