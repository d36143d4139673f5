// Each layer of the training network: its forward primitives, appended to the forward steps now,
// and a builder of its backward primitives, called in reverse order once the forward pass is built.
#include <cstring>
#include <unordered_map>
#include <oneapi/dnnl/dnnl.hpp>

#include "engine/dnnl_util.hpp"
#include "engine/reference.hpp"
#include "engine/train_net_impl.hpp"

namespace alexnet {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using dnnl::prop_kind;

// In place on the layer's output; the backward reads that output (*_use_dst_for_bwd).
void TrainNet::Impl::add_activation(const LayerSpec& l) {
    if (l.activation == Activation::none) return;
    const EltwiseOp op = eltwise_op(l.activation, true);
    memory dst = cur;
    hidden.push_back({l.name, l.activation, dst});
    const memory::desc md = dst.get_desc();
    dnnl::eltwise_forward::primitive_desc fpd({prop_kind::forward_training, op.algorithm, md, op.alpha, 0.f},
                                              attr(), eng);
    push_forward(dnnl::eltwise_forward(fpd), {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, dst},
                                              {DNNL_ARG_SCRATCHPAD, scratch_for(fpd)}});
    backward_builders.push_back([=, this] {
        dnnl::eltwise_backward::primitive_desc bpd({op.algorithm, md, md, op.alpha, 0.f}, attr(), eng, fpd);
        diff = conform(diff, md, backward_steps);
        push_backward(dnnl::eltwise_backward(bpd), {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, diff},
                                                    {DNNL_ARG_DIFF_SRC, diff},
                                                    {DNNL_ARG_SCRATCHPAD, scratch_for(bpd)}});
    });
}

// Dropout on a hidden fc layer's output (nc, plain): out = in * keep / (1 - p). The mask is kept
// as the multiplier itself, so the backward pass is one multiply.
void TrainNet::Impl::add_dropout(const LayerSpec& l) {
    const int64_t n = int64_t(batch) * l.out_channels;
    const uint64_t salt = uint64_t(spec.index_of(l.name) + 1) << 56;
    const memory::desc plain({batch, l.out_channels}, dt::f32, tag::nc);  // the loops' layout (bf16 nets too)
    memory in = conform(cur, plain, forward_steps), out = make(plain), mask = make(plain);
    const float p = dropout, scale = 1.f / (1.f - dropout);
    float* x = static_cast<float*>(in.get_data_handle());
    float* y = static_cast<float*>(out.get_data_handle());
    float* m = static_cast<float*>(mask.get_data_handle());
    forward_steps.push_back([=, this] {
        strm.wait();
        if (!training) {
            std::memcpy(y, x, size_t(n) * sizeof(float));
            return;
        }
        const uint64_t key = dropout_key ^ salt;
        const uint64_t first = uint64_t(first_item) * uint64_t(l.out_channels);  // the global index of element 0
        for (int64_t i = 0; i < n; ++i) {
            m[i] = dropout_keep(key, first + uint64_t(i), p) ? scale : 0.f;
            y[i] = x[i] * m[i];
        }
    });
    cur = out;
    backward_builders.push_back([=, this] {
        diff = conform(diff, mask.get_desc(), backward_steps);
        memory d = diff;
        float* g = static_cast<float*>(d.get_data_handle());
        backward_steps.push_back([=, this] {
            strm.wait();
            for (int64_t i = 0; i < n; ++i) g[i] *= m[i];
        });
    });
}

void TrainNet::Impl::add_conv(const LayerSpec& l, const Shape& in, const Shape& out, bool first) {
    const int G = l.groups;
    const memory::dims w_dims = G > 1 ? memory::dims{G, l.out_channels / G, in.c / G, l.kernel, l.kernel}
                                      : memory::dims{l.out_channels, in.c, l.kernel, l.kernel};
    const memory::desc w_plain(w_dims, dt::f32, G > 1 ? tag::goihw : tag::oihw), b_plain({out.c}, dt::f32, tag::x);
    const memory::desc src_any({batch, in.c, in.h, in.w}, act, tag::any),
        dst_any({batch, out.c, out.h, out.w}, act, tag::any), w_any(w_dims, act, tag::any);
    const memory::desc dw_any(w_dims, dt::f32, tag::any);  // weight gradients accumulate in f32
    const memory::dims strides{l.stride, l.stride}, pad{l.pad, l.pad};
    const auto alg = dnnl::algorithm::convolution_direct;

    // forward_training, also because the backward primitives take it as their hint: a
    // forward_inference descriptor there (which gets oneDNN 2.6's faster brgemm forward kernels)
    // gave data-dependent wrong weight gradients at full width (tests/test_train_net.cpp).
    dnnl::convolution_forward::primitive_desc fpd(
        {prop_kind::forward_training, alg, src_any, w_any, b_plain, dst_any, strides, pad, pad}, attr(), eng);
    memory src = conform(cur, fpd.src_desc(), forward_steps);
    memory w = weights_for(l.name + ".weight", w_plain, fpd.weights_desc());
    memory b(b_plain, eng, arena_tensor(params, l.name + ".bias"));
    memory dst = make(fpd.dst_desc());
    push_forward(dnnl::convolution_forward(fpd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b},
                                                  {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch_for(fpd)}});
    backward_builders.push_back([=, this] {
        dnnl::convolution_backward_weights::primitive_desc wpd(
            {alg, src_any, dw_any, b_plain, dst_any, strides, pad, pad}, attr(), eng, fpd);
        memory wsrc = conform(src, wpd.src_desc(), backward_steps);
        memory wdiff = conform(diff, wpd.diff_dst_desc(), backward_steps);
        std::vector<Step> after;
        memory dw = grad_for(l.name + ".weight", w_plain, wpd.diff_weights_desc(), after);
        memory db = grad_for(l.name + ".bias", b_plain, wpd.diff_bias_desc(), after);
        push_backward(dnnl::convolution_backward_weights(wpd),
                      {{DNNL_ARG_SRC, wsrc}, {DNNL_ARG_DIFF_DST, wdiff}, {DNNL_ARG_DIFF_WEIGHTS, dw},
                       {DNNL_ARG_DIFF_BIAS, db}, {DNNL_ARG_SCRATCHPAD, scratch_for(wpd)}});
        backward_steps.insert(backward_steps.end(), after.begin(), after.end());
        announce_gradients(l.name);
        if (first) return;  // no gradient for the images
        dnnl::convolution_backward_data::primitive_desc dpd({alg, src_any, w_any, dst_any, strides, pad, pad},
                                                            attr(), eng, fpd);
        memory dw_in = dpd.weights_desc() == w.get_desc()
                           ? w
                           : weights_for(l.name + ".weight", w_plain, dpd.weights_desc());
        memory ddiff = conform(diff, dpd.diff_dst_desc(), backward_steps);
        memory dsrc = make(dpd.diff_src_desc());
        push_backward(dnnl::convolution_backward_data(dpd),
                      {{DNNL_ARG_DIFF_DST, ddiff}, {DNNL_ARG_WEIGHTS, dw_in}, {DNNL_ARG_DIFF_SRC, dsrc},
                       {DNNL_ARG_SCRATCHPAD, scratch_for(dpd)}});
        diff = dsrc;
    });
    cur = dst;
    add_activation(l);
}

void TrainNet::Impl::add_fc(const LayerSpec& l, const Shape& in, bool first) {
    // After pooling, the input is flattened: reordered to plain nchw, whose bytes are the (N, C*H*W)
    // matrix PyTorch's flatten gives, so the weights are PyTorch's (O, C*H*W) as they are.
    // (oneDNN 2.6 runs a 4-D inner product on its slower gemm path.)
    const int64_t features = in.size();
    memory::desc unflat;  // the 4-D layout the gradient goes back in
    if (cur.get_desc().dims().size() == 4) {
        unflat = memory::desc({batch, in.c, in.h, in.w}, act, tag::nchw);
        memory plain = conform(cur, unflat, forward_steps);
        if (plain.get_data_handle() == nullptr) {  // the network's input, bound per step: a copy
            plain = make(unflat);
            dnnl::reorder r(cur, plain);
            forward_steps.push_back([this, r, src = cur, plain]() mutable { r.execute(strm, src, plain); });
        }
        cur = memory(memory::desc({batch, features}, act, tag::nc), eng, plain.get_data_handle());
    }
    const memory::dims w_dims{l.out_channels, features};
    const memory::desc w_plain(w_dims, dt::f32, tag::oi), b_plain({l.out_channels}, dt::f32, tag::x);
    const memory::desc src_any({batch, features}, act, tag::any), w_any(w_dims, act, tag::any);
    const memory::desc dw_any(w_dims, dt::f32, tag::any);  // weight gradients accumulate in f32
    const memory::desc dst_md({batch, l.out_channels}, act, tag::nc);

    dnnl::inner_product_forward::primitive_desc fpd({prop_kind::forward_training, src_any, w_any, b_plain, dst_md},
                                                    attr(), eng);
    memory src = conform(cur, fpd.src_desc(), forward_steps);
    memory w = weights_for(l.name + ".weight", w_plain, fpd.weights_desc());
    memory b(b_plain, eng, arena_tensor(params, l.name + ".bias"));
    memory dst = make(dst_md);
    push_forward(dnnl::inner_product_forward(fpd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b},
                                                    {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch_for(fpd)}});
    backward_builders.push_back([=, this] {
        dnnl::inner_product_backward_weights::primitive_desc wpd({src_any, dw_any, b_plain, dst_md}, attr(), eng, fpd);
        memory wsrc = conform(src, wpd.src_desc(), backward_steps);
        memory wdiff = conform(diff, wpd.diff_dst_desc(), backward_steps);
        std::vector<Step> after;
        memory dw = grad_for(l.name + ".weight", w_plain, wpd.diff_weights_desc(), after);
        memory db = grad_for(l.name + ".bias", b_plain, wpd.diff_bias_desc(), after);
        push_backward(dnnl::inner_product_backward_weights(wpd),
                      {{DNNL_ARG_SRC, wsrc}, {DNNL_ARG_DIFF_DST, wdiff}, {DNNL_ARG_DIFF_WEIGHTS, dw},
                       {DNNL_ARG_DIFF_BIAS, db}, {DNNL_ARG_SCRATCHPAD, scratch_for(wpd)}});
        backward_steps.insert(backward_steps.end(), after.begin(), after.end());
        announce_gradients(l.name);
        if (first) return;
        const memory::desc dsrc_md({batch, features}, act, tag::nc);
        dnnl::inner_product_backward_data::primitive_desc dpd({dsrc_md, w_any, dst_md}, attr(), eng, fpd);
        memory dw_in = dpd.weights_desc() == w.get_desc()
                           ? w
                           : weights_for(l.name + ".weight", w_plain, dpd.weights_desc());
        memory ddiff = conform(diff, dpd.diff_dst_desc(), backward_steps);
        memory dsrc = make(dpd.diff_src_desc());
        push_backward(dnnl::inner_product_backward_data(dpd),
                      {{DNNL_ARG_DIFF_DST, ddiff}, {DNNL_ARG_WEIGHTS, dw_in}, {DNNL_ARG_DIFF_SRC, dsrc},
                       {DNNL_ARG_SCRATCHPAD, scratch_for(dpd)}});
        diff = unflat ? memory(unflat, eng, dsrc.get_data_handle()) : dsrc;
    });
    cur = dst;
    add_activation(l);
}

void TrainNet::Impl::add_lrn(const LayerSpec& l) {
    const auto alg = lrn_algorithm(l.lrn);
    memory src = cur;
    const memory::desc md = src.get_desc();
    const LrnParams& p = l.lrn;
    dnnl::lrn_forward::primitive_desc fpd({prop_kind::forward_training, alg, md, p.size, p.alpha, p.beta, p.k},
                                          attr(), eng);
    memory dst = make(fpd.dst_desc()), ws = make(fpd.workspace_desc());
    push_forward(dnnl::lrn_forward(fpd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, ws},
                                          {DNNL_ARG_SCRATCHPAD, scratch_for(fpd)}});
    backward_builders.push_back([=, this] {
        dnnl::lrn_backward::primitive_desc bpd({alg, md, fpd.dst_desc(), p.size, p.alpha, p.beta, p.k}, attr(), eng,
                                               fpd);
        memory ddiff = conform(diff, bpd.diff_dst_desc(), backward_steps);
        memory dsrc = make(bpd.diff_src_desc());
        push_backward(dnnl::lrn_backward(bpd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddiff},
                                                {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_DIFF_SRC, dsrc},
                                                {DNNL_ARG_SCRATCHPAD, scratch_for(bpd)}});
        diff = dsrc;
    });
    cur = dst;
}

void TrainNet::Impl::add_pool(const LayerSpec& l, const Shape& in, const Shape& out, dnnl::algorithm alg, int kh,
                              int kw, int sh, int sw, int pad) {
    (void)l;
    // Caffe's ceil mode: extend the bottom/right padding so the last window fits.
    const memory::dims pad_l{pad, pad};
    const memory::dims pad_r{(out.h - 1) * sh + kh - in.h - pad, (out.w - 1) * sw + kw - in.w - pad};
    const memory::desc src_md = cur.get_desc();
    const memory::desc dst_any({batch, out.c, out.h, out.w}, src_md.data_type(), tag::any);
    memory src = cur;
    dnnl::pooling_forward::primitive_desc fpd(
        {prop_kind::forward_training, alg, src_md, dst_any, {sh, sw}, {kh, kw}, pad_l, pad_r}, attr(), eng);
    memory dst = make(fpd.dst_desc());
    memory ws = fpd.workspace_desc().get_size() ? make(fpd.workspace_desc()) : memory();
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch_for(fpd)}};
    if (ws) args[DNNL_ARG_WORKSPACE] = ws;
    push_forward(dnnl::pooling_forward(fpd), args);
    backward_builders.push_back([=, this] {
        dnnl::pooling_backward::primitive_desc bpd({alg, src_md, fpd.dst_desc(), {sh, sw}, {kh, kw}, pad_l, pad_r},
                                                   attr(), eng, fpd);
        memory ddiff = conform(diff, bpd.diff_dst_desc(), backward_steps);
        memory dsrc = make(bpd.diff_src_desc());
        std::unordered_map<int, memory> bargs{{DNNL_ARG_DIFF_DST, ddiff}, {DNNL_ARG_DIFF_SRC, dsrc},
                                              {DNNL_ARG_SCRATCHPAD, scratch_for(bpd)}};
        if (ws) bargs[DNNL_ARG_WORKSPACE] = ws;
        push_backward(dnnl::pooling_backward(bpd), bargs);
        diff = dsrc;
    });
    cur = dst;
}

void TrainNet::Impl::add_adaptive_avg_pool(const LayerSpec& l, const Shape& in, const Shape& out) {
    if (in.h == out.h && in.w == out.w) return;  // identity, as at 224x224
    if (in.h % out.h == 0 && in.w % out.w == 0) {  // PyTorch's windows are then uniform
        const int kh = in.h / out.h, kw = in.w / out.w;
        add_pool(l, in, out, dnnl::algorithm::pooling_avg_exclude_padding, kh, kw, kh, kw, 0);
        return;
    }
    // Uneven windows: plain loops on nchw buffers.
    const int N = batch;
    memory src = conform(cur, {{batch, in.c, in.h, in.w}, dt::f32, tag::nchw}, forward_steps);
    memory dst = make({{batch, out.c, out.h, out.w}, dt::f32, tag::nchw});
    forward_steps.push_back([=, this] {
        strm.wait();
        reference::adaptive_avg_pool_forward(static_cast<float*>(dst.get_data_handle()),
                                             static_cast<const float*>(src.get_data_handle()), N, in, out.h, out.w);
    });
    backward_builders.push_back([=, this] {
        memory ddiff = conform(diff, dst.get_desc(), backward_steps);
        memory dsrc = make(src.get_desc());
        backward_steps.push_back([=, this] {
            strm.wait();
            float* d = static_cast<float*>(dsrc.get_data_handle());
            std::memset(d, 0, dsrc.get_desc().get_size());
            reference::adaptive_avg_pool_backward(d, static_cast<const float*>(ddiff.get_data_handle()), N, in,
                                                  out.h, out.w);
        });
        diff = dsrc;
    });
    cur = dst;
}

}  // namespace alexnet
