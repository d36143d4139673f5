#pragma once
// TrainNet::Impl, shared by train_net.cpp (the net: its layers in order, a step run) and
// train_net_layers.cpp (each layer's forward primitives and the builder of its backward ones): in
// one file they were over 500 lines. Internal to the engine; callers use train_net.hpp.
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/train_net.hpp"

namespace alexnet {

struct TrainNet::Impl {
    using memory = dnnl::memory;
    using Step = std::function<void()>;

    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    ModelSpec spec;
    ParamLayout layout;
    int batch = 0, classes = 0;
    float dropout = 0;
    Precision precision = Precision::fp32;
    // What conv/fc layers read and write and ReLU, LRN and pooling run on: f32, or bf16.
    memory::data_type act = memory::data_type::f32;
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

}  // namespace alexnet
