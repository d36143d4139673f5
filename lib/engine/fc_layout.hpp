#pragma once
// How an inner product (fc6-fc8) is laid out is a property of the CPU's kernels, not a rule: on
// AVX2, oneDNN's gemm reads f32 weights as stored (PyTorch's rows) as fast as the transposed copy
// it asks for, so the stored layout saves the copy; on AVX-512 the same stored layout cost fc6 39 ms
// of a 160-ms batch (gemm 47.8 ms against 8.5 ms in oneDNN's own layout). So for a batch of
// kTimeFromBatch or more, each candidate is built and timed once on this CPU, and one that is
// clearly faster (kClearWin) than the default replaces it; smaller batches, where a network is
// built for one image, keep the stored layout wherever oneDNN runs it with the same kind of kernel
// (no weight copy, no time spent timing).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <oneapi/dnnl/dnnl.hpp>

namespace alexnet {

enum class FcLayout {
    preferred,    // oneDNN's choice for the source as it comes (4-D after pooling) and its weights
    stored,       // weights as stored (oihw / oi): used in place from a mapped file, no copy
    flat,         // a 4-D source read as 2-D rows (one reorder to nchw), oneDNN's weights layout
    flat_stored,  // 2-D rows and weights as stored
};
const char* to_string(FcLayout layout);

struct FcChoice {
    FcLayout layout = FcLayout::preferred;
    dnnl::inner_product_forward::primitive_desc pd;
    std::string why;  // for the kernel list: "timed: stored 1.21 ms, preferred 0.33 ms, ..." or the rule
};

// The primitive descriptor of one candidate for an fc layer with `out_rows` outputs (a proxy with
// fewer rows is timed in place of the whole layer), or nullopt when oneDNN has none for it.
using FcCandidateMaker =
    std::function<std::optional<dnnl::inner_product_forward::primitive_desc>(FcLayout layout, int out_rows)>;

constexpr int kTimeFromBatch = 8;
// Layers with fewer weights run in well under a millisecond: timing them is noise (alexnet-28's fc
// layers). alexnet's fc6-fc8 have 38, 17 and 4 million.
constexpr int64_t kTimeFromWeights = int64_t(1) << 20;
// ALEXNET_FC_LAYOUT=preferred|stored|flat|flat-stored takes that layout wherever oneDNN has it
// (tests check every layout against the reference; the bench compares them).
constexpr const char* kForceEnv = "ALEXNET_FC_LAYOUT";
// How much faster a later candidate must be to replace the one kept (measured: the layouts differ
// by 4-5x where it matters, AVX-512's gemm on stored f32 weights, and by 10-20% elsewhere).
constexpr double kClearWin = 1.5;
// Rows of the timed proxy: the cost of an inner product is linear in its outputs, and 512 rows of
// fc6 (19 MB of f32 weights) time in about a millisecond.
constexpr int kProxyRows = 512;

// The index of the layout to keep among `timed` (layout, ms), the default first: a later one
// replaces the one kept only when it is kClearWin times faster, so timing noise between layouts of
// similar speed cannot change the choice (and with it the last bits of the results) from one run
// to the next.
size_t pick_fc_layout(const std::vector<std::pair<FcLayout, double>>& timed);

// `spatial`: the source is 4-D (the flat candidates apply); `stored_is_free`: the weights are f32 in
// the file's layout (the stored candidates then need no copy at all).
FcChoice choose_fc_layout(const FcCandidateMaker& make, int out_rows, int batch, bool spatial, bool stored_is_free,
                          const dnnl::engine& eng);

}  // namespace alexnet
