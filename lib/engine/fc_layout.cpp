#include "engine/fc_layout.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "engine/dnnl_util.hpp"

namespace alexnet {

using dnnl::memory;
using ip_pd = dnnl::inner_product_forward::primitive_desc;

const char* to_string(FcLayout layout) {
    switch (layout) {
        case FcLayout::preferred: return "preferred";
        case FcLayout::stored: return "stored";
        case FcLayout::flat: return "flat";
        case FcLayout::flat_stored: return "flat-stored";
    }
    return "?";
}

namespace {

constexpr int kTimedRuns = 3;  // after one warm-up run; the fastest counts

// "x64:gemm:jit", not "brgemm:...": a kernel that reads the weights through gemm.
bool is_gemm(const ip_pd& pd) {
    const std::string impl = pd.impl_info_str();
    return impl.find("gemm:") != std::string::npos && impl.find("brgemm") == std::string::npos;
}

// Milliseconds of one execution of `pd` on zeroed buffers of its own (the fastest of kTimedRuns).
double time_pd(const ip_pd& pd, const dnnl::engine& eng) {
    dnnl::stream strm(eng);
    std::vector<Buffer> buffers;
    auto zeroed = [&](const memory::desc& md) {
        const size_t bytes = std::max<size_t>(md.get_size(), 1);
        buffers.push_back(allocate(bytes));
        std::memset(buffers.back().get(), 0, bytes);
        return memory(md, eng, buffers.back().get());
    };
    const std::unordered_map<int, memory> args{{DNNL_ARG_SRC, zeroed(pd.src_desc())},
                                               {DNNL_ARG_WEIGHTS, zeroed(pd.weights_desc())},
                                               {DNNL_ARG_BIAS, zeroed(pd.bias_desc())},
                                               {DNNL_ARG_DST, zeroed(pd.dst_desc())},
                                               {DNNL_ARG_SCRATCHPAD, zeroed(pd.scratchpad_desc())}};
    dnnl::inner_product_forward prim(pd);
    std::vector<double> ms;
    for (int r = 0; r <= kTimedRuns; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        prim.execute(strm, args);
        strm.wait();
        if (r > 0) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return *std::min_element(ms.begin(), ms.end());  // other work on the machine only adds time
}

std::string fixed2(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

}  // namespace

FcChoice choose_fc_layout(const FcCandidateMaker& make, int out_rows, int batch, bool spatial, bool stored_is_free,
                          const dnnl::engine& eng) {
    std::optional<ip_pd> preferred = make(FcLayout::preferred, out_rows);
    if (!preferred) throw dnnl::error(dnnl_unimplemented, "no inner product for this fc layer");
    if (const char* forced = std::getenv(kForceEnv)) {  // tests and A/B measurements
        for (const FcLayout layout : {FcLayout::preferred, FcLayout::stored, FcLayout::flat, FcLayout::flat_stored}) {
            if (forced != std::string(to_string(layout))) continue;
            const bool flat = layout == FcLayout::flat || layout == FcLayout::flat_stored;
            if (flat && !spatial) break;  // a 2-D source is flat already: as preferred
            if (auto pd = make(layout, out_rows)) return {layout, *pd, std::string("forced by ") + kForceEnv};
        }
    }
    const int64_t weights = int64_t(out_rows) * preferred->weights_desc().dims()[1] *
                            (spatial ? preferred->weights_desc().dims()[2] * preferred->weights_desc().dims()[3] : 1);
    if (batch < kTimeFromBatch || weights < kTimeFromWeights) {
        // One image at a time, a copy of the weights costs more than any kernel difference; a small
        // layer costs too little to time reliably.
        const std::string rule = batch < kTimeFromBatch ? "rule: batch < " + std::to_string(kTimeFromBatch) : "rule: a small layer";
        if (stored_is_free && is_gemm(*preferred))
            if (auto stored = make(FcLayout::stored, out_rows); stored && is_gemm(*stored))
                return {FcLayout::stored, *stored, rule + ", gemm reads the stored layout"};
        return {FcLayout::preferred, *preferred, rule};
    }
    // The default first (the stored layout where it costs no copy), then the challengers.
    std::vector<FcLayout> layouts{FcLayout::preferred, FcLayout::stored};
    if (stored_is_free) std::swap(layouts[0], layouts[1]);
    if (spatial) layouts.insert(layouts.end(), {FcLayout::flat, FcLayout::flat_stored});
    const int proxy_rows = std::min(out_rows, kProxyRows);
    std::vector<std::pair<FcLayout, double>> timed;
    std::vector<ip_pd> pds;
    std::string timings;
    for (const FcLayout layout : layouts) {
        std::optional<ip_pd> whole = layout == FcLayout::preferred ? preferred : make(layout, out_rows);
        if (!whole) continue;
        // The proxy stands for the layer only when oneDNN picks the same kernel for it.
        std::optional<ip_pd> proxy = proxy_rows < out_rows ? make(layout, proxy_rows) : whole;
        if (!proxy || proxy->impl_info_str() != whole->impl_info_str()) proxy = whole;
        const double ms = time_pd(*proxy, eng) * double(out_rows) / double(proxy->dst_desc().dims()[1]);
        timings += std::string(timings.empty() ? "" : ", ") + to_string(layout) + " " + fixed2(ms) + " ms";
        timed.push_back({layout, ms});
        pds.push_back(*whole);
    }
    const size_t chosen = pick_fc_layout(timed);
    return {timed[chosen].first, pds[chosen], "timed at batch " + std::to_string(batch) + ": " + timings};
}

size_t pick_fc_layout(const std::vector<std::pair<FcLayout, double>>& timed) {
    size_t kept = 0;
    for (size_t i = 1; i < timed.size(); ++i)
        if (timed[i].second * kClearWin < timed[kept].second) kept = i;
    return kept;
}

}  // namespace alexnet
