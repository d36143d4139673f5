#pragma once
// PyTorch .pth files (torch.save's zip: archive/data.pkl plus one entry per storage; and the
// legacy stream of torch.save before 1.6, which torchvision's alexnet download uses) read by a
// restricted unpickler: it understands the opcodes and the handful of globals a state dict
// needs (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, Float/Half/BFloat16 storages) and
// refuses everything else with the offending name. It never executes code.
#include <string>

#include "model/weights.hpp"

namespace alexnet {

bool looks_like_zip(const std::string& path);
// A zip archive, or the legacy (pre-1.6) torch.save stream by its magic number.
bool looks_like_pth(const std::string& path);

// The state dict's float tensors under their own names (e.g. torchvision's features.0.weight).
// A checkpoint dict holding the state dict under "state_dict" or "model" is read through.
Weights read_pth(const std::string& path);

}  // namespace alexnet
