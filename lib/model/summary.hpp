#pragma once
// Per-layer output shape, parameter count and multiply-accumulates, as JSON for every tool.
#include <nlohmann/json.hpp>

#include "model/model.hpp"

namespace alexnet {

struct LayerSummary {
    std::string name;
    LayerKind kind;
    Shape output;
    int64_t params = 0;
    int64_t macs = 0;  // per image; conv and fc only, as the paper and Caffe count them
};

struct ModelSummary {
    std::string arch;
    Shape input;
    std::vector<LayerSummary> layers;
    int64_t total_params = 0;
    int64_t total_macs = 0;
};

ModelSummary summarize(const ModelSpec& spec);
nlohmann::ordered_json to_json(const ModelSummary& summary);

}  // namespace alexnet
