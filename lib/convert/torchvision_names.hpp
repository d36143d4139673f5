#pragma once
// A model under PyTorch's names for torchvision.models.alexnet (features.0.weight ...
// classifier.6.bias; the layouts are already PyTorch's), for the models whose layers are
// torchvision's AlexNet's: conv 11x11/4 pad 2, relu, max pool 3/2 (rounding down), conv 5x5 pad 2,
// relu, max pool, conv 3x3 pad 1 + relu three times, max pool, adaptive average pool 6x6, then
// fc + relu twice and the classifier, no groups and no LRN: the alexnet-tv preset. Widths and
// classes may differ (torchvision.models.alexnet(num_classes=N) itself loads 64, 192, 384, 256,
// 256 channels, fc 4096, 3 input channels).
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet {

// Throws Error("--names torchvision", ...) naming the first layer of `spec` torchvision's AlexNet
// lacks (or has otherwise).
void check_torchvision_layers(const ModelSpec& spec);

// True when the widths are torchvision's own too, so torchvision.models.alexnet loads the state dict.
bool has_torchvision_widths(const ModelSpec& spec);

// `weights` viewed under torchvision's names, and those names in state-dict order.
Weights torchvision_state_dict(const ModelSpec& spec, const Weights& weights, std::vector<std::string>& names);

}  // namespace alexnet
