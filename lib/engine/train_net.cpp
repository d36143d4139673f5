#include "engine/train_net.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/reference.hpp"

namespace alexnet {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using dnnl::prop_kind;

bool dropout_keep(uint64_t key, uint64_t index, float p) {
    // splitmix64 of (key, index): 24 uniform bits against p
    uint64_t z = key * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return float(z >> 40) * (1.0f / 16777216.0f) >= p;
}

struct TrainNet::Impl {
    using Step = std::function<void()>;

    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    ModelSpec spec;
    ParamLayout layout;
    int batch = 0, classes = 0;
    float dropout = 0;
    std::vector<float> params, grads;

    std::vector<Buffer> buffers;     // every activation, gradient, workspace and weight copy
    std::vector<Step> sync_weights;  // parameter arena -> oneDNN layouts, before each step
    std::vector<Step> forward_steps, backward_steps;
    // Filled in forward order, called in reverse: each appends a layer's backward steps.
    std::vector<std::function<void()>> backward_builders;
    size_t scratchpad_bytes = 0;
    std::vector<memory> scratchpad_users;
    Buffer scratchpad;

    memory cur;   // build time, forward: the output of the last layer built
    memory diff;  // build time, backward: the gradient w.r.t. the output of the layer being built
    memory user_src, logits, dlogits;
    struct Hidden {
        std::string layer;
        Activation act;
        memory out;  // the activation's output, in the layer's layout
    };
    std::vector<Hidden> hidden;
    bool training = false;
    uint64_t dropout_key = 0;
    int first_item = 0, global_batch = 0;  // set_share(); 0: the batch is the whole batch
    std::function<void(const std::string&)> gradients_ready;

    memory make(const memory::desc& md) {
        buffers.push_back(allocate(md.get_size()));
        std::memset(buffers.back().get(), 0, md.get_size());  // blocked layouts' padding stays zero
        return memory(md, eng, buffers.back().get());
    }
    memory scratch_for(const dnnl::primitive_desc_base& pd) {
        const memory::desc md = pd.scratchpad_desc();
        scratchpad_bytes = std::max(scratchpad_bytes, md.get_size());
        memory m(md, eng, DNNL_MEMORY_NONE);
        scratchpad_users.push_back(m);
        return m;
    }
    static dnnl::primitive_attr attr() {
        dnnl::primitive_attr a;
        a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        return a;
    }
    float* arena_tensor(std::vector<float>& arena, const std::string& name) {
        const int i = layout.index_of(name);
        check(i >= 0, "engine", name, "a parameter of " + spec.arch, "none");
        return arena.data() + layout.offset[size_t(i)];
    }
    // `m` if it already has layout `want`, else a copy in `want` made by a reorder appended to `steps`.
    memory conform(const memory& m, const memory::desc& want, std::vector<Step>& steps) {
        if (m.get_desc() == want) return m;
        memory out = make(want);
        dnnl::reorder r(m, out);
        steps.push_back([this, r, src = memory(m), out]() mutable { r.execute(strm, src, out); });
        return out;
    }
    // A parameter as the primitive wants it: the arena itself when the layouts agree, else a copy
    // refreshed before every step.
    memory weights_for(const std::string& name, const memory::desc& plain, const memory::desc& want) {
        memory user(plain, eng, arena_tensor(params, name));
        if (want == plain) return user;
        memory m = make(want);
        dnnl::reorder r(user, m);
        sync_weights.push_back([this, r, user, m]() mutable { r.execute(strm, user, m); });
        return m;
    }
    // A gradient the primitive writes in layout `have`: straight into the arena when that is the
    // plain layout, else into a buffer reordered into the arena by a step appended to `after`.
    memory grad_for(const std::string& name, const memory::desc& plain, const memory::desc& have,
                    std::vector<Step>& after) {
        memory user(plain, eng, arena_tensor(grads, name));
        if (have == plain) return user;
        memory m = make(have);
        dnnl::reorder r(m, user);
        after.push_back([this, r, m, user]() mutable { r.execute(strm, m, user); });
        return m;
    }
    void push_forward(const dnnl::primitive& p, std::unordered_map<int, memory> args) {
        forward_steps.push_back([this, p, args]() { p.execute(strm, args); });
    }
    void push_backward(const dnnl::primitive& p, std::unordered_map<int, memory> args) {
        backward_steps.push_back([this, p, args]() { p.execute(strm, args); });
    }
    void announce_gradients(const std::string& layer) {
        backward_steps.push_back([this, layer] {
            if (!gradients_ready) return;
            strm.wait();
            gradients_ready(layer);
        });
    }

    void add_activation(const LayerSpec& l);
    void add_dropout(const LayerSpec& l);
    void add_conv(const LayerSpec& l, const Shape& in, const Shape& out, bool first);
    void add_fc(const LayerSpec& l, const Shape& in, bool first);
    void add_lrn(const LayerSpec& l);
    void add_pool(const LayerSpec& l, const Shape& in, const Shape& out, dnnl::algorithm alg, int kh, int kw,
                  int sh, int sw, int pad);
    void add_adaptive_avg_pool(const LayerSpec& l, const Shape& in, const Shape& out);
    void run_all(std::vector<Step>& steps) {
        for (auto& s : steps) s();
    }
};

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
    memory in = cur, out = make(in.get_desc()), mask = make(in.get_desc());
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
    const memory::desc src_any({batch, in.c, in.h, in.w}, dt::f32, tag::any),
        dst_any({batch, out.c, out.h, out.w}, dt::f32, tag::any), w_any(w_dims, dt::f32, tag::any);
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
            {alg, src_any, w_any, b_plain, dst_any, strides, pad, pad}, attr(), eng, fpd);
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
        unflat = memory::desc({batch, in.c, in.h, in.w}, dt::f32, tag::nchw);
        memory plain = conform(cur, unflat, forward_steps);
        if (plain.get_data_handle() == nullptr) {  // the network's input, bound per step: a copy
            plain = make(unflat);
            dnnl::reorder r(cur, plain);
            forward_steps.push_back([this, r, src = cur, plain]() mutable { r.execute(strm, src, plain); });
        }
        cur = memory(memory::desc({batch, features}, dt::f32, tag::nc), eng, plain.get_data_handle());
    }
    const memory::dims w_dims{l.out_channels, features};
    const memory::desc w_plain(w_dims, dt::f32, tag::oi), b_plain({l.out_channels}, dt::f32, tag::x);
    const memory::desc src_any({batch, features}, dt::f32, tag::any), w_any(w_dims, dt::f32, tag::any);
    const memory::desc dst_md({batch, l.out_channels}, dt::f32, tag::nc);

    dnnl::inner_product_forward::primitive_desc fpd({prop_kind::forward_training, src_any, w_any, b_plain, dst_md},
                                                    attr(), eng);
    memory src = conform(cur, fpd.src_desc(), forward_steps);
    memory w = weights_for(l.name + ".weight", w_plain, fpd.weights_desc());
    memory b(b_plain, eng, arena_tensor(params, l.name + ".bias"));
    memory dst = make(dst_md);
    push_forward(dnnl::inner_product_forward(fpd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b},
                                                    {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch_for(fpd)}});
    backward_builders.push_back([=, this] {
        dnnl::inner_product_backward_weights::primitive_desc wpd({src_any, w_any, b_plain, dst_md}, attr(), eng, fpd);
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
        const memory::desc dsrc_md({batch, features}, dt::f32, tag::nc);
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
    const memory::desc dst_any({batch, out.c, out.h, out.w}, dt::f32, tag::any);
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

TrainNet::TrainNet(const ModelSpec& spec, int batch, float dropout) : impl_(std::make_unique<Impl>()) {
    check(batch > 0, "engine", "batch", "> 0", std::to_string(batch));
    check(dropout >= 0 && dropout < 1, "engine", "dropout", "a probability in [0, 1)", std::to_string(dropout));
    Impl& m = *impl_;
    m.spec = spec;
    m.layout = param_layout(spec);
    m.batch = batch;
    m.dropout = dropout;
    m.classes = spec.num_classes();
    m.params.assign(size_t(m.layout.total), 0.f);
    m.grads.assign(size_t(m.layout.total), 0.f);
    const std::vector<Shape> shapes = infer_shapes(spec);
    int last_fc = -1;
    for (size_t i = 0; i < spec.layers.size(); ++i)
        if (spec.layers[i].kind == LayerKind::fc) last_fc = int(i);
    check(last_fc >= 0 && (last_fc + 1 == int(spec.layers.size()) ||
                           spec.layers[size_t(last_fc) + 1].kind == LayerKind::softmax),
          "engine", spec.arch, "a network ending in an fc layer (and softmax)", "another layout");

    const Shape& in0 = spec.input;
    m.user_src = memory({{batch, in0.c, in0.h, in0.w}, dt::f32, tag::nchw}, m.eng, DNNL_MEMORY_NONE);
    m.cur = m.user_src;
    Shape in = in0;
    bool first = true;
    try {
        for (int i = 0; i <= last_fc; ++i) {
            const LayerSpec& l = spec.layers[size_t(i)];
            const Shape& out = shapes[size_t(i)];
            switch (l.kind) {
                case LayerKind::conv: m.add_conv(l, in, out, first); break;
                case LayerKind::fc:
                    m.add_fc(l, in, first);
                    if (i != last_fc && dropout > 0) m.add_dropout(l);
                    break;
                case LayerKind::lrn: m.add_lrn(l); break;
                case LayerKind::max_pool:
                    m.add_pool(l, in, out, dnnl::algorithm::pooling_max, l.kernel, l.kernel, l.stride, l.stride,
                               l.pad);
                    break;
                case LayerKind::avg_pool:
                    m.add_pool(l, in, out, dnnl::algorithm::pooling_avg_exclude_padding, l.kernel, l.kernel, l.stride,
                               l.stride, l.pad);
                    break;
                case LayerKind::adaptive_avg_pool: m.add_adaptive_avg_pool(l, in, out); break;
                case LayerKind::softmax: break;
            }
            first = first && !l.has_params();
            in = out;
        }
        m.logits = m.cur;  // nc, plain (fc layers write nc)
        m.dlogits = m.make(m.logits.get_desc());
        m.diff = m.dlogits;
        for (auto it = m.backward_builders.rbegin(); it != m.backward_builders.rend(); ++it) (*it)();
    } catch (const dnnl::error& e) {
        throw Error("oneDNN", std::string("building the training network: ") + e.what());
    }
    m.scratchpad = allocate(m.scratchpad_bytes);
    for (auto& s : m.scratchpad_users) s.set_data_handle(m.scratchpad.get());
}

TrainNet::~TrainNet() = default;

int TrainNet::batch() const { return impl_->batch; }
int TrainNet::num_classes() const { return impl_->classes; }
const ModelSpec& TrainNet::spec() const { return impl_->spec; }
const ParamLayout& TrainNet::layout() const { return impl_->layout; }
float* TrainNet::params() { return impl_->params.data(); }
const float* TrainNet::grads() const { return impl_->grads.data(); }
float* TrainNet::grads() { return impl_->grads.data(); }

void TrainNet::set_share(int first_item, int global_batch) {
    check(first_item >= 0 && global_batch >= first_item + impl_->batch, "engine", "share",
          "items within a global batch of " + std::to_string(global_batch),
          std::to_string(first_item) + ".." + std::to_string(first_item + impl_->batch - 1));
    impl_->first_item = first_item;
    impl_->global_batch = global_batch;
}

void TrainNet::on_gradients_ready(std::function<void(const std::string& layer)> fn) {
    impl_->gradients_ready = std::move(fn);
}

void TrainNet::set_weights(const Weights& w) {
    validate_weights(impl_->spec, w, "weights");
    const ParamLayout& L = impl_->layout;
    for (size_t i = 0; i < L.tensors.size(); ++i)
        std::memcpy(impl_->params.data() + L.offset[i], w.at(L.tensors[i].name).floats(),
                    size_t(L.numel(i)) * sizeof(float));
}

Weights TrainNet::weights() const {
    Weights w;
    const ParamLayout& L = impl_->layout;
    for (size_t i = 0; i < L.tensors.size(); ++i)
        w.add_view(L.tensors[i].name, L.tensors[i].shape, impl_->params.data() + L.offset[i]);
    return w;
}

float TrainNet::train_step(const float* input, const int* labels, uint64_t dropout_key, float* logits) {
    Impl& m = *impl_;
    m.user_src.set_data_handle(const_cast<float*>(input));
    m.training = true;
    m.dropout_key = dropout_key;
    m.run_all(m.sync_weights);
    m.run_all(m.forward_steps);
    m.strm.wait();
    const float* z = static_cast<const float*>(m.logits.get_data_handle());
    float* dz = static_cast<float*>(m.dlogits.get_data_handle());
    std::memset(dz, 0, size_t(m.batch) * m.classes * sizeof(float));
    const float loss = reference::softmax_cross_entropy(dz, z, labels, m.batch, m.classes, m.global_batch);
    if (logits) std::memcpy(logits, z, size_t(m.batch) * m.classes * sizeof(float));
    m.run_all(m.backward_steps);
    m.strm.wait();
    return loss;
}

void TrainNet::evaluate(const float* input, float* logits) {
    Impl& m = *impl_;
    m.user_src.set_data_handle(const_cast<float*>(input));
    m.training = false;
    m.run_all(m.sync_weights);
    m.run_all(m.forward_steps);
    m.strm.wait();
    std::memcpy(logits, m.logits.get_data_handle(), size_t(m.batch) * m.classes * sizeof(float));
}

std::vector<TrainNet::ActivationStats> TrainNet::activation_stats() const {
    Impl& m = *impl_;
    std::vector<ActivationStats> out;
    std::vector<float> y, slope, ones;
    for (const auto& h : m.hidden) {
        const memory::desc md = h.out.get_desc();
        const memory::dims dims = md.dims();
        const memory::desc plain(dims, dt::f32, dims.size() == 4 ? tag::nchw : tag::nc);
        int64_t n = 1;
        for (auto d : dims) n *= d;
        y.resize(size_t(n));
        memory src = h.out, dst(plain, m.eng, y.data());
        dnnl::reorder(src, dst).execute(m.strm, src, dst);
        m.strm.wait();
        slope.assign(size_t(n), 0.f);
        ones.assign(size_t(n), 1.f);
        reference::activation_backward(slope.data(), ones.data(), y.data(), n, h.act);
        const float max_slope = h.act == Activation::sigmoid ? 0.25f : 1.f;
        const int64_t units = n / dims[0];
        int64_t saturated = 0, dead = 0;
        std::vector<char> alive(size_t(units), 0);
        for (int64_t i = 0; i < n; ++i) {
            const bool sat = slope[size_t(i)] < 0.01f * max_slope;
            saturated += sat;
            if (!sat) alive[size_t(i % units)] = 1;
        }
        for (char a : alive) dead += !a;
        out.push_back({h.layer, units, double(saturated) / double(n), double(dead) / double(units)});
    }
    return out;
}

}  // namespace alexnet
