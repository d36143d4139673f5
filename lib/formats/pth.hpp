#pragma once
// PyTorch .pth files (torch.save's zip: archive/data.pkl plus one entry per storage; and the
// legacy stream of torch.save before 1.6, which torchvision's alexnet download uses) read by a
// restricted unpickler: it understands the opcodes and the handful of globals a state dict
// needs (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, Float/Half/BFloat16 storages) and
// refuses everything else with the offending name. It never executes code. write_pth writes what
// torch.load reads and read_pth reads back.
#include <string>
#include <vector>

#include "model/weights.hpp"

namespace alexnet {

bool looks_like_zip(const std::string& path);
// A zip archive, or the legacy (pre-1.6) torch.save stream by its magic number.
bool looks_like_pth(const std::string& path);

// The state dict's float tensors under their own names (e.g. torchvision's features.0.weight).
// A checkpoint dict holding the state dict under "state_dict" or "model" is read through.
Weights read_pth(const std::string& path);

// A state dict (an OrderedDict of float32 tensors named `names`, in that order) as torch.save
// writes it: a zip of stored entries archive/data.pkl (a protocol-2 pickle calling
// torch._utils._rebuild_tensor_v2 on torch.FloatStorage persistent ids), archive/byteorder,
// archive/data/0..N-1 (one storage per tensor) and archive/version; written atomically.
void write_pth(const std::string& path, const Weights& weights, const std::vector<std::string>& names);

}  // namespace alexnet
