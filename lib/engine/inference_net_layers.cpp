// Each layer of the inference network: its primitive chosen for the layer's precision plan, its
// weights loaded into the primitive's layouts, and a step appended that runs it.
#include <optional>
#include <tuple>
#include <oneapi/dnnl/dnnl.hpp>

#include "engine/dnnl_util.hpp"
#include "engine/fc_layout.hpp"
#include "engine/inference_net_impl.hpp"
#include "engine/precision.hpp"
#include "engine/reference.hpp"

namespace alexnet {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

// oneDNN halves the weights of an s8-input layer itself where there is no VNNI; a u8-input
// layer's are halved here (the plan as this net loads it).
LayerPlan as_loaded(const LayerPlan& p) {
    LayerPlan own = p;
    own.halve_weights = p.halve_weights && p.src == DType::u8;
    return own;
}
dt weights_type(const LayerPlan& p) {
    return p.int8_weights ? dt::s8 : p.src == DType::bf16 ? dt::bf16 : dt::f32;
}

}  // namespace

dnnl::primitive_attr InferenceNet::Impl::attr_for(alexnet::Activation act, const std::vector<float>& output_scales) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (!output_scales.empty()) attr.set_output_scales(1 << 1, output_scales);  // per output channel
    if (act != alexnet::Activation::none) {
        dnnl::post_ops ops;
        const EltwiseOp op = eltwise_op(act, false);
        ops.append_eltwise(1.f, op.algorithm, op.alpha, 0.f);
        attr.set_post_ops(ops);
    }
    return attr;
}

// A conv/fc layer's weights and bias in the primitive's layouts: the f32 tensors (converted to
// bf16 when it wants them), or an int8 layer's s8 values and its bias in accumulator units.
std::pair<memory, memory> InferenceNet::Impl::load_params(const LayerSpec& l, Weights& w, const LayerPlan& p,
                                                          const Int8Layer& q8, const memory::dims& w_dims, tag w_tag,
                                                          const memory::desc& w_want, const memory::desc& b_want,
                                                          bool release) {
    const std::string wn = l.name + ".weight", bn = l.name + ".bias";
    bool weight_in_place = false, bias_in_place = false;
    Weights* owner = release ? &w : nullptr;
    std::pair<memory, memory> r;
    if (p.int8_weights) {
        const Tensor acc_bias(bn, {l.out_channels}, q8.bias.data());
        r = {load_weights(wn, w.at(wn), w_dims, w_tag, w_want, release, &weight_in_place, owner, p.halve_weights),
             load_weights(bn, acc_bias, {l.out_channels}, tag::x, b_want, false)};
    } else {  // a quantized layer the plan keeps float runs on its real weights, q * step
        const bool quantized = w.contains(l.name + ".weight_scale");
        const Tensor real = quantized ? Tensor(wn, w.at(wn).shape, dequantized(l, w)) : Tensor();
        r = {load_weights(wn, quantized ? real : w.at(wn), w_dims, w_tag, w_want, release, &weight_in_place,
                          quantized ? nullptr : owner),
             load_weights(bn, w.at(bn), {l.out_channels}, tag::x, b_want, release, &bias_in_place, owner)};
    }
    if (weight_in_place || bias_in_place) mappings.insert(mappings.end(), w.owners().begin(), w.owners().end());
    if (release) {
        if (!weight_in_place) w.release(wn);
        if (!bias_in_place) w.release(bn);
        w.release(l.name + ".weight_scale");
    }
    return r;
}

void InferenceNet::Impl::note_kernel(const LayerSpec& l, const dnnl::primitive_desc_base& pd) {
    kernels += (kernels.empty() ? "" : ", ") + l.name + " " + pd.impl_info_str();
}

void InferenceNet::Impl::add_conv(const LayerSpec& l, const LayerPlan& p, const Shape& in, const Shape& out, Weights& w, bool release) {
    const memory::dims src_dims{batch, in.c, in.h, in.w}, dst_dims{batch, out.c, out.h, out.w};
    const int G = l.groups;
    const memory::dims w_dims = G > 1 ? memory::dims{G, l.out_channels / G, in.c / G, l.kernel, l.kernel}
                                      : memory::dims{l.out_channels, in.c, l.kernel, l.kernel};
    const memory::dims strides{l.stride, l.stride}, pad{l.pad, l.pad};
    const LayerPlan own = as_loaded(p);
    const Int8Layer q8 = own.int8_weights ? int8_layer(l, w, own) : Int8Layer{};
    dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        {src_dims, dnnl_type(p.src), tag::any}, {w_dims, weights_type(p), tag::any}, {{out.c}, dt::f32, tag::x},
        {dst_dims, dnnl_type(p.dst), tag::any}, strides, pad, pad);
    dnnl::convolution_forward::primitive_desc pd(d, attr_for(l.activation, q8.output_scale), eng);
    note_kernel(l, pd);
    conform(pd.src_desc(), l.name, p.src_scale);
    memory weights, bias;  // not a structured binding: clang 14 cannot capture one in the lambda below
    std::tie(weights, bias) = load_params(l, w, own, q8, w_dims, G > 1 ? tag::goihw : tag::oihw,
                                          pd.weights_desc(), pd.bias_desc(), release);
    memory src = cur, dst = new_activation(pd.dst_desc()), scratch = scratch_for(pd);
    dnnl::convolution_forward prim(pd);
    steps.push_back({l.name, [=](dnnl::stream& s) mutable {
                         prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights},
                                          {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst},
                                          {DNNL_ARG_SCRATCHPAD, scratch}});
                     }});
    advance(dst);
    cur_scale = p.dst_scale;
}

void InferenceNet::Impl::add_fc(const LayerSpec& l, const LayerPlan& p, const Shape& in, Weights& w, bool release) {
    // A 4-D input (after pooling) keeps 4-D weights (O, C, H, W), the same bytes as PyTorch's
    // (O, C*H*W); after another fc both are 2-D. Which layout runs fastest is this CPU's to
    // say (engine/fc_layout.hpp).
    const bool spatial = cur.get_desc().dims().size() == 4;
    const memory::dim features = memory::dim(in.c) * in.h * in.w;
    const LayerPlan own = as_loaded(p);
    const Int8Layer q8 = own.int8_weights ? int8_layer(l, w, own) : Int8Layer{};
    auto dims_of = [&](FcLayout layout, int out_rows) {
        const bool flat = layout == FcLayout::flat || layout == FcLayout::flat_stored;
        if (!spatial || flat) return std::pair{memory::dims{batch, features}, memory::dims{out_rows, features}};
        return std::pair{memory::dims{batch, in.c, in.h, in.w}, memory::dims{out_rows, in.c, in.h, in.w}};
    };
    const FcCandidateMaker make = [&](FcLayout layout, int out_rows) -> std::optional<dnnl::inner_product_forward::primitive_desc> {
        const auto [src_dims, w_dims] = dims_of(layout, out_rows);
        const bool flat = layout == FcLayout::flat || layout == FcLayout::flat_stored;
        const bool stored = layout == FcLayout::stored || layout == FcLayout::flat_stored;
        const tag weights_tag = !stored ? tag::any : w_dims.size() == 4 ? tag::oihw : tag::oi;
        dnnl::inner_product_forward::desc d(
            dnnl::prop_kind::forward_inference, {src_dims, dnnl_type(p.src), flat && spatial ? tag::nc : tag::any},
            {w_dims, weights_type(p), weights_tag}, {{out_rows}, dt::f32, tag::x},
            {{batch, out_rows}, dnnl_type(p.dst), tag::any});
        const std::vector<float> scales(q8.output_scale.begin(), q8.output_scale.begin() + std::min<size_t>(q8.output_scale.size(), size_t(out_rows)));
        try {
            return dnnl::inner_product_forward::primitive_desc(d, attr_for(l.activation, scales), eng);
        } catch (const dnnl::error&) {  // no implementation for this layout
            return std::nullopt;
        }
    };
    const bool stored_is_free = weights_type(p) == dt::f32;
    FcChoice choice = choose_fc_layout(make, l.out_channels, batch, spatial, stored_is_free, eng);
    const dnnl::inner_product_forward::primitive_desc& pd = choice.pd;
    kernels += (kernels.empty() ? "" : ", ") + l.name + " " + pd.impl_info_str() + " [" +
               to_string(choice.layout) + " layout; " + choice.why + "]";
    const auto [src_dims, w_dims] = dims_of(choice.layout, l.out_channels);
    if (spatial && src_dims.size() == 2) {  // rows: the 4-D source in nchw, read as (N, C*H*W)
        const memory::desc nchw({batch, in.c, in.h, in.w}, dnnl_type(p.src), tag::nchw);
        conform(nchw, l.name, p.src_scale);
        if (cur_slot < 0) {  // the caller's input itself (a one-layer net): a view needs a buffer of ours
            memory src = cur, dst = new_activation(nchw);
            dnnl::reorder r(src, dst);
            steps.push_back({l.name + ".reorder", [r, src, dst](dnnl::stream& s) mutable { r.execute(s, src, dst); }});
            advance(dst);
        }
        memory rows(pd.src_desc(), eng, DNNL_MEMORY_NONE);
        activations.push_back({rows, cur_slot});  // the same bytes, in the same buffer
        cur = rows;
    } else {
        conform(pd.src_desc(), l.name, p.src_scale);
    }
    memory weights, bias;
    std::tie(weights, bias) = load_params(l, w, own, q8, w_dims, w_dims.size() == 4 ? tag::oihw : tag::oi,
                                          pd.weights_desc(), pd.bias_desc(), release);
    memory src = cur, dst = new_activation(pd.dst_desc()), scratch = scratch_for(pd);
    dnnl::inner_product_forward prim(pd);
    steps.push_back({l.name, [=](dnnl::stream& s) mutable {
                         prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights},
                                          {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst},
                                          {DNNL_ARG_SCRATCHPAD, scratch}});
                     }});
    advance(dst);
    cur_scale = p.dst_scale;
}

void InferenceNet::Impl::add_lrn(const LayerSpec& l, const LayerPlan& plan) {
    conform(with_type(cur.get_desc(), dnnl_type(plan.src)), l.name);  // LRN has no int8 kernels
    dnnl::lrn_forward::desc d(dnnl::prop_kind::forward_inference, lrn_algorithm(l.lrn), cur.get_desc(),
                              l.lrn.size, l.lrn.alpha, l.lrn.beta, l.lrn.k);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::lrn_forward::primitive_desc pd(d, attr, eng);
    memory src = cur, dst = new_activation(pd.dst_desc()), scratch = scratch_for(pd);
    dnnl::lrn_forward prim(pd);
    steps.push_back({l.name, [=](dnnl::stream& s) mutable {
                         prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst},
                                       {DNNL_ARG_SCRATCHPAD, scratch}});
                     }});
    advance(dst);
}

void InferenceNet::Impl::add_pool(const LayerSpec& l, const Shape& in, const Shape& out, dnnl::algorithm alg,
                                  int kernel_h, int kernel_w, int stride_h, int stride_w, int pad) {
    // Caffe's ceil mode: extend the bottom/right padding so the last window fits.
    const memory::dims pad_l{pad, pad};
    const memory::dims pad_r{(out.h - 1) * stride_h + kernel_h - in.h - pad,
                             (out.w - 1) * stride_w + kernel_w - in.w - pad};
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, cur.get_desc(),
                                  {{batch, out.c, out.h, out.w}, cur.get_desc().data_type(), tag::any},
                                  {stride_h, stride_w}, {kernel_h, kernel_w}, pad_l, pad_r);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::pooling_forward::primitive_desc pd(d, attr, eng);
    memory src = cur, dst = new_activation(pd.dst_desc()), scratch = scratch_for(pd);
    dnnl::pooling_forward p(pd);
    steps.push_back({l.name, [=](dnnl::stream& s) mutable {
                         p.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst},
                                       {DNNL_ARG_SCRATCHPAD, scratch}});
                     }});
    advance(dst);
}

void InferenceNet::Impl::add_adaptive_avg_pool(const LayerSpec& l, const Shape& in, const Shape& out) {
    if (in.h == out.h && in.w == out.w) return;  // identity, as at 224x224
    if (in.h % out.h == 0 && in.w % out.w == 0) {  // PyTorch's windows are then uniform
        const int kh = in.h / out.h, kw = in.w / out.w;
        add_pool(l, in, out, dnnl::algorithm::pooling_avg_exclude_padding, kh, kw, kh, kw, 0);
        return;
    }
    // Uneven windows: plain loop on f32 nchw buffers.
    conform(memory::desc({batch, in.c, in.h, in.w}, dt::f32, tag::nchw), l.name);
    memory src = cur, dst = new_activation({{batch, out.c, out.h, out.w}, dt::f32, tag::nchw});
    const int N = batch;
    steps.push_back({l.name, [=](dnnl::stream& s) mutable {
                         s.wait();
                         reference::adaptive_avg_pool_forward(
                             static_cast<float*>(dst.get_data_handle()),
                             static_cast<const float*>(src.get_data_handle()), N, in, out.h, out.w);
                     }});
    advance(dst);
}

}  // namespace alexnet
