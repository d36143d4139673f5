#include "engine/inference_net.hpp"

#include <omp.h>
#include <sys/mman.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <tuple>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/fc_layout.hpp"
#include "engine/precision.hpp"
#include "engine/reference.hpp"

namespace alexnet {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct InferenceNet::Impl {
    struct Step {
        std::string layer;
        std::function<void(dnnl::stream&)> run;
    };
    // An activation memory whose handle points into ping-pong buffer `slot` once planned.
    struct PlannedMemory {
        memory mem;
        int slot;
    };

    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    int batch = 0;
    Shape out_shape;
    bool softmax_last = false;
    memory user_src, user_dst;
    std::vector<PlannedMemory> activations;
    std::vector<memory> weight_memories;  // in oneDNN's chosen layouts
    std::vector<Buffer> weight_buffers;
    std::vector<std::vector<float>> taken;  // weights taken over from the caller's Weights
    std::vector<std::shared_ptr<void>> mappings;  // files whose weights are used in place
    int in_place_count = 0;
    std::vector<Step> steps;
    size_t scratchpad_bytes = 0;
    std::vector<memory> scratchpad_users;  // memories to point at the shared scratchpad
    Buffer slots[2];
    Buffer scratchpad;

    memory cur;  // the memory the next layer reads
    int cur_slot = -1;  // -1: the user's input
    float cur_scale = 1;  // real = stored * cur_scale (int8 tensors; 1 for floats)
    std::vector<LayerPlan> plan;
    std::string plan_text, kernels;

    static dt dnnl_type(DType t) {
        switch (t) {
            case DType::bf16: return dt::bf16;
            case DType::u8: return dt::u8;
            case DType::s8: return dt::s8;
            case DType::f32: break;
        }
        return dt::f32;
    }
    // The same layout in another data type (oneDNN 2.x keeps strides in elements).
    static memory::desc with_type(const memory::desc& md, dt type) {
        memory::desc d = md;
        d.data.data_type = memory::convert_to_c(type);
        return d;
    }

    memory new_activation(const memory::desc& md) {
        const int slot = cur_slot == 0 ? 1 : 0;
        memory m(md, eng, DNNL_MEMORY_NONE);
        activations.push_back({m, slot});
        return m;
    }
    void advance(const memory& m) {
        cur = m;
        cur_slot = activations.back().slot;
    }
    memory scratch_for(const dnnl::primitive_desc_base& pd) {
        memory::desc md = pd.scratchpad_desc();
        scratchpad_bytes = std::max(scratchpad_bytes, md.get_size());
        memory m(md, eng, DNNL_MEMORY_NONE);
        scratchpad_users.push_back(m);
        return m;
    }
    // Reorders `cur` into `want` stored with `want_scale` when layout, type or scale differ (a
    // step named after `layer`): int8 tensors are quantized, requantized or dequantized on the way.
    void conform(const memory::desc& want, const std::string& layer, float want_scale = 1.f) {
        if (cur.get_desc() == want && cur_scale == want_scale) return;
        memory src = cur, dst = new_activation(want);
        dnnl::primitive_attr attr;
        if (const float f = rescale(cur_scale, want_scale); f != 1.f) attr.set_output_scales(0, {f});
        cur_scale = want_scale;
        dnnl::reorder r(src, dst, attr);
        steps.push_back({layer + ".reorder", [r, src, dst](dnnl::stream& s) mutable {
                             r.execute(s, src, dst);
                         }});
        advance(dst);
    }
    // Reorders a weight tensor into oneDNN's layout: f32 values, or an int8 layer's s8 values
    // (`want` is s8; `halve`: halved to 7 bits on the way). A large one (fc6, fc7) goes in slices
    // of output rows, each slice's source pages given back as soon as it is copied (with
    // `release`), so the file's copy and oneDNN's copy of fc6 are never both resident: the peak
    // memory of a full-size model stays near one copy of the weights.
    //
    // A tensor whose layout is already the one oneDNN wants (fc6-fc8, plain rows) is used where it
    // lies: no copy, no fresh pages to fault in (for a full-size model that copy was most of the
    // network's build time). In a mapped file, the net then keeps the mapping (`*in_place`) and its
    // pages are not released; floats the Weights own are taken over from `owner` (given only when
    // the caller lets the net release its weights).
    memory load_weights(const std::string& name, const Tensor& t, const memory::dims& dims, tag user_tag,
                        const memory::desc& want, bool release, bool* in_place = nullptr, Weights* owner = nullptr,
                        bool halve = false) {
        if (in_place) *in_place = false;
        const dt type = want.data_type() == dt::s8 ? dt::s8 : dt::f32;
        const bool as_stored = want == memory::desc(dims, type, user_tag), mapped = t.mapped();
        const bool usable = type == dt::s8 ? t.is_s8() && !halve && mapped : mapped || (owner && t.owns());
        if (in_place && as_stored && usable) {
            const void* data = type == dt::s8 ? static_cast<const void*>(t.s8()) : t.floats();
            if (type == dt::f32) {
                if (const int64_t bad = first_non_finite(t.floats(), t.numel()); bad >= 0)  // damaged weights
                    throw Error("weights", name, "finite values",
                                std::to_string(t.floats()[bad]) + " at flat index " + std::to_string(bad));
                if (!mapped) {  // floats the Weights own, handed over rather than copied
                    taken.push_back(owner->take(name));
                    data = taken.back().data();
                }
            }
            memory m(want, eng, const_cast<void*>(data));  // oneDNN only reads weights
            weight_memories.push_back(m);
            *in_place = mapped;  // (`t` is gone once taken)
            ++in_place_count;
            return m;
        }
        weight_buffers.push_back(allocate(want.get_size()));
        memory m(want, eng, weight_buffers.back().get());
        const int64_t row_values = t.numel() / dims[0], row_bytes = row_values * (t.is_s8() ? 1 : 4);
        const auto* stored = static_cast<const char*>(t.is_s8() ? static_cast<const void*>(t.s8()) : t.floats());
        constexpr int64_t kSliceBytes = 8 << 20, kRowAlign = 64;  // 64: a multiple of oneDNN's row blocks
        constexpr int64_t kWholeValues = 8 << 20;
        int64_t rows = std::max<int64_t>(kSliceBytes / row_bytes / kRowAlign * kRowAlign, kRowAlign);
        // Tensors of fewer than 8 M values at once (the conv layers, fc8), and s8 weights that carry
        // oneDNN's compensation for s8 inputs (sums over each whole output channel, kept past the
        // weights: no slice has a layout of its own).
        if (t.numel() < kWholeValues || want.data.extra.flags != dnnl_memory_extra_flag_none) rows = dims[0];
        std::vector<int8_t> s8_slice;  // halved, or converted from integer-valued floats
        auto source = [&](int64_t r0, int64_t n) -> const void* {
            const int64_t begin = r0 * row_values, count = n * row_values;
            if (type == dt::s8) {
                if (t.is_s8() && !halve) return t.s8() + begin;
                s8_slice.resize(size_t(count));
                int8_weights(t, begin, count, halve, s8_slice.data());
                return s8_slice.data();
            }
            const float* src = t.floats() + begin;
            if (const int64_t bad = first_non_finite(src, count); bad >= 0)  // damaged weights
                throw Error("weights", name, "finite values",
                            std::to_string(src[bad]) + " at flat index " + std::to_string(begin + bad));
            return src;
        };
        auto copy = [&](int64_t r0, int64_t n) {
            memory::dims slice = dims, offsets(dims.size(), 0);
            slice[0] = n;
            offsets[0] = r0;
            memory user({slice, type, user_tag}, eng, const_cast<void*>(source(r0, n)));
            memory dst = n == dims[0] ? m : memory(want.submemory_desc(slice, offsets), eng, m.get_data_handle());
            dnnl::reorder(user, dst).execute(strm, user, dst);
            strm.wait();
            if (release && mapped) release_pages(stored + r0 * row_bytes, size_t(n * row_bytes));
        };
        try {
            for (int64_t r0 = 0; r0 < dims[0]; r0 += rows) copy(r0, std::min(rows, dims[0] - r0));
        } catch (const dnnl::error&) {  // a layout whose blocks do not split at `rows`: all at once
            copy(0, dims[0]);
        }
        weight_memories.push_back(m);
        return m;
    }

    dnnl::primitive_attr attr_for(alexnet::Activation act, const std::vector<float>& output_scales = {}) {
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
    std::pair<memory, memory> load_params(const LayerSpec& l, Weights& w, const LayerPlan& p, const Int8Layer& q8,
                                          const memory::dims& w_dims, tag w_tag, const memory::desc& w_want,
                                          const memory::desc& b_want, bool release) {
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

    // oneDNN halves the weights of an s8-input layer itself where there is no VNNI; a u8-input
    // layer's are halved here (the plan as this net loads it).
    static LayerPlan as_loaded(const LayerPlan& p) {
        LayerPlan own = p;
        own.halve_weights = p.halve_weights && p.src == DType::u8;
        return own;
    }
    static dt weights_type(const LayerPlan& p) {
        return p.int8_weights ? dt::s8 : p.src == DType::bf16 ? dt::bf16 : dt::f32;
    }
    void note_kernel(const LayerSpec& l, const dnnl::primitive_desc_base& pd) {
        kernels += (kernels.empty() ? "" : ", ") + l.name + " " + pd.impl_info_str();
    }

    void add_conv(const LayerSpec& l, const LayerPlan& p, const Shape& in, const Shape& out, Weights& w, bool release) {
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

    void add_fc(const LayerSpec& l, const LayerPlan& p, const Shape& in, Weights& w, bool release) {
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

    void add_lrn(const LayerSpec& l, const LayerPlan& plan) {
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

    void add_pool(const LayerSpec& l, const Shape& in, const Shape& out, dnnl::algorithm alg,
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

    void add_adaptive_avg_pool(const LayerSpec& l, const Shape& in, const Shape& out) {
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

    void plan_memory() {
        size_t slot_bytes[2] = {0, 0};
        for (const auto& a : activations) slot_bytes[a.slot] = std::max(slot_bytes[a.slot], a.mem.get_desc().get_size());
        for (int i = 0; i < 2; ++i) slots[i] = allocate(slot_bytes[i]);
        for (auto& a : activations) a.mem.set_data_handle(slots[a.slot].get());
        scratchpad = allocate(scratchpad_bytes);
        for (auto& m : scratchpad_users) m.set_data_handle(scratchpad.get());
    }

    void bind(const float* input, float* output) {
        user_src.set_data_handle(const_cast<float*>(input));
        user_dst.set_data_handle(output);
    }
    void finish(float* output) {
        strm.wait();
        if (softmax_last) {
            const int classes = out_shape.c;
            reference::softmax_forward(output, output, batch, classes);
        }
    }
};

InferenceNet::InferenceNet(const ModelSpec& spec, Weights& weights, int batch,
                           const std::string& output_layer, bool release_weights, Precision precision)
    : impl_(std::make_unique<Impl>()) {
    check(batch > 0, "engine", "batch", "> 0", std::to_string(batch));
    Impl& m = *impl_;
    m.batch = batch;
    const int last = spec.index_of(output_layer);
    const std::vector<Shape> shapes = infer_shapes(spec);
    validate_weights(spec, weights, "weights");
    require_precision_support(precision);
    const Quantization quant = read_quantization("weights", spec, weights);
    if (precision == Precision::int8 && quant.empty())
        throw Error("--precision int8", "weights", "a quantized model (made by alexnet-quantize)", "float weights");
    if (precision != Precision::int8 && !quant.empty())
        throw Error("--precision " + std::string(to_string(precision)), "weights",
                    "float weights (dequantize_weights() turns a quantized model into them)", "a quantized model");
    m.plan = plan_precision(spec, last, weights, quant, precision, !cpu_has_vnni());
    m.plan_text = std::string(to_string(precision)) + ": " + describe(spec, m.plan);

    const Shape& in0 = spec.input;
    m.user_src = memory({{batch, in0.c, in0.h, in0.w}, dt::f32, tag::nchw}, m.eng, DNNL_MEMORY_NONE);
    m.cur = m.user_src;
    Shape in = in0;
    try {
        for (int i = 0; i <= last; ++i) {
            const LayerSpec& l = spec.layers[i];
            const Shape& out = shapes[i];
            switch (l.kind) {
                case LayerKind::conv: m.add_conv(l, m.plan[size_t(i)], in, out, weights, release_weights); break;
                case LayerKind::fc: m.add_fc(l, m.plan[size_t(i)], in, weights, release_weights); break;
                case LayerKind::lrn: m.add_lrn(l, m.plan[size_t(i)]); break;
                case LayerKind::max_pool:
                    m.add_pool(l, in, out, dnnl::algorithm::pooling_max, l.kernel, l.kernel, l.stride,
                               l.stride, l.pad);
                    break;
                case LayerKind::avg_pool:
                    m.add_pool(l, in, out, dnnl::algorithm::pooling_avg_exclude_padding, l.kernel, l.kernel,
                               l.stride, l.stride, l.pad);
                    break;
                case LayerKind::adaptive_avg_pool: m.add_adaptive_avg_pool(l, in, out); break;
                case LayerKind::softmax:
                    check(i == last, "engine", l.name, "softmax as the last layer", "a later layer");
                    m.softmax_last = true;
                    break;
            }
            in = out;
        }
    } catch (const dnnl::error& e) {
        throw Error("oneDNN", std::string("building the network: ") + e.what());
    }
    m.out_shape = in;
    // Into the caller's plain buffer: nchw for a 4-D result (also at 1x1, the same bytes as nc).
    memory src = m.cur;
    const memory::desc out_md = src.get_desc().dims().size() == 4
                                    ? memory::desc({batch, in.c, in.h, in.w}, dt::f32, tag::nchw)
                                    : memory::desc({batch, in.c}, dt::f32, tag::nc);
    m.user_dst = memory(out_md, m.eng, DNNL_MEMORY_NONE);
    memory dst = m.user_dst;
    dnnl::primitive_attr attr;
    if (m.cur_scale != 1.f) attr.set_output_scales(0, {m.cur_scale});  // int8 results dequantized
    dnnl::reorder r(src, dst, attr);
    m.steps.push_back({"output", [r, src, dst](dnnl::stream& s) mutable { r.execute(s, src, dst); }});
    m.plan_memory();
}

InferenceNet::~InferenceNet() = default;

int InferenceNet::batch() const { return impl_->batch; }
const std::string& InferenceNet::plan() const { return impl_->plan_text; }
const std::string& InferenceNet::kernels() const { return impl_->kernels; }
int InferenceNet::weights_in_place() const { return impl_->in_place_count; }
Shape InferenceNet::output_shape() const { return impl_->out_shape; }

void InferenceNet::forward(const float* input, float* output) {
    impl_->bind(input, output);
    for (auto& step : impl_->steps) step.run(impl_->strm);
    impl_->finish(output);
}

std::vector<LayerTime> InferenceNet::forward_timed(const float* input, float* output) {
    using clock = std::chrono::steady_clock;
    impl_->bind(input, output);
    std::vector<LayerTime> times;
    for (auto& step : impl_->steps) {
        const auto t0 = clock::now();
        step.run(impl_->strm);
        impl_->strm.wait();
        times.push_back({step.layer, std::chrono::duration<double, std::milli>(clock::now() - t0).count()});
    }
    const auto t0 = clock::now();
    impl_->finish(output);
    if (impl_->softmax_last)
        times.push_back({"prob", std::chrono::duration<double, std::milli>(clock::now() - t0).count()});
    return times;
}

void set_num_threads(int threads) {
    if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace alexnet
