#include "engine/dnnl_util.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/first_bad.hpp"

namespace alexnet {

Buffer allocate(size_t bytes) {
    constexpr size_t huge = size_t(2) << 20;
    const size_t align = bytes >= huge ? huge : 64;
    bytes = std::max<size_t>((bytes + align - 1) / align * align, align);
    void* p = std::aligned_alloc(align, bytes);
    if (!p) throw Error("engine", "out of memory allocating " + std::to_string(bytes) + " bytes");
    if (align == huge) madvise(p, bytes, MADV_HUGEPAGE);
    return Buffer(static_cast<char*>(p));
}

// The exponent test on the raw bits vectorises, so the scan costs little next to the reorder
// that reads the same bytes.
int64_t first_non_finite(const float* x, int64_t n) {
    return first_bad(x, n, [](float v) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        return (bits & 0x7f800000u) == 0x7f800000u;
    });
}

EltwiseOp eltwise_op(Activation act, bool for_backward) {
    using a = dnnl::algorithm;
    switch (act) {
        case Activation::relu: return {for_backward ? a::eltwise_relu_use_dst_for_bwd : a::eltwise_relu, 0.f};
        case Activation::leaky_relu:
            return {for_backward ? a::eltwise_relu_use_dst_for_bwd : a::eltwise_relu, kLeakyReluSlope};
        case Activation::tanh: return {for_backward ? a::eltwise_tanh_use_dst_for_bwd : a::eltwise_tanh, 0.f};
        case Activation::sigmoid:
            return {for_backward ? a::eltwise_logistic_use_dst_for_bwd : a::eltwise_logistic, 0.f};
        case Activation::elu: return {for_backward ? a::eltwise_elu_use_dst_for_bwd : a::eltwise_elu, kEluAlpha};
        case Activation::none: break;
    }
    return {};
}

void eltwise_curve(Activation act, const std::vector<float>& x, std::vector<float>& y, std::vector<float>& dy) {
    check(act != Activation::none, "eltwise_curve", "activation", "an activation function", "none");
    using memory = dnnl::memory;
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    const memory::dims dims{memory::dim(x.size())};
    const memory::desc md(dims, memory::data_type::f32, memory::format_tag::a);
    const EltwiseOp op = eltwise_op(act, true);
    y.assign(x.size(), 0.f);
    dy.assign(x.size(), 0.f);
    std::vector<float> src(x), ones(x.size(), 1.f);
    memory src_m(md, eng, src.data()), dst_m(md, eng, y.data()), ones_m(md, eng, ones.data()), dy_m(md, eng, dy.data());
    const dnnl::eltwise_forward::primitive_desc fpd({dnnl::prop_kind::forward_training, op.algorithm, md, op.alpha, 0.f}, eng);
    dnnl::eltwise_forward(fpd).execute(strm, {{DNNL_ARG_SRC, src_m}, {DNNL_ARG_DST, dst_m}});
    const dnnl::eltwise_backward::primitive_desc bpd({op.algorithm, md, md, op.alpha, 0.f}, eng, fpd);
    dnnl::eltwise_backward(bpd).execute(strm, {{DNNL_ARG_DST, dst_m}, {DNNL_ARG_DIFF_DST, ones_m}, {DNNL_ARG_DIFF_SRC, dy_m}});
    strm.wait();
}

dnnl::algorithm lrn_algorithm(const LrnParams& p) {
    return p.within_map ? dnnl::algorithm::lrn_within_channel : dnnl::algorithm::lrn_across_channels;
}

}  // namespace alexnet
