#pragma once
// InferenceNet::Impl, shared by inference_net.cpp (the net: its layers in order, weights loaded,
// memory planned, steps run) and inference_net_layers.cpp (each layer's primitive): in one file
// they were over 500 lines. Internal to the engine; callers use inference_net.hpp.
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <oneapi/dnnl/dnnl.hpp>

#include "engine/dnnl_util.hpp"
#include "engine/inference_net.hpp"
#include "engine/precision.hpp"

namespace alexnet {

struct NetWorkspace::Impl {
    Buffer buffers[3];  // ping-pong slots 0 and 1, scratchpad
    size_t sizes[3] = {0, 0, 0};
    uint64_t generation = 1;  // changes whenever a buffer is reallocated
    void reserve(const size_t want[3]) {
        for (int i = 0; i < 3; ++i)
            if (want[i] > sizes[i]) {
                buffers[i] = allocate(want[i]);
                sizes[i] = want[i];
                ++generation;
            }
    }
};

struct InferenceNet::Impl {
    using memory = dnnl::memory;
    using tag = memory::format_tag;
    using dt = memory::data_type;

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
    NetWorkspace::Impl* shared = nullptr;  // else slots and scratchpad are the net's own
    uint64_t bound_generation = 0;         // the shared buffers' generation the memories point into

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

    // inference_net.cpp: moving activations and weights into oneDNN's layouts, planning memory,
    // running.
    void conform(const memory::desc& want, const std::string& layer, float want_scale = 1.f);
    memory load_weights(const std::string& name, const Tensor& t, const memory::dims& dims, tag user_tag,
                        const memory::desc& want, bool release, bool* in_place = nullptr, Weights* owner = nullptr,
                        bool halve = false);
    void plan_memory();
    void bind_planned(char* slot0, char* slot1, char* scratch);
    void bind_shared();  // to the shared buffers, when they have moved since the last forward
    void bind(const float* input, float* output);
    void finish(float* output);

    // inference_net_layers.cpp: each layer's primitive, appended to the steps.
    dnnl::primitive_attr attr_for(alexnet::Activation act, const std::vector<float>& output_scales = {});
    std::pair<memory, memory> load_params(const LayerSpec& l, Weights& w, const LayerPlan& p, const Int8Layer& q8,
                                          const memory::dims& w_dims, tag w_tag, const memory::desc& w_want,
                                          const memory::desc& b_want, bool release);
    void note_kernel(const LayerSpec& l, const dnnl::primitive_desc_base& pd);
    void add_conv(const LayerSpec& l, const LayerPlan& p, const Shape& in, const Shape& out, Weights& w, bool release);
    void add_fc(const LayerSpec& l, const LayerPlan& p, const Shape& in, Weights& w, bool release);
    void add_lrn(const LayerSpec& l, const LayerPlan& plan);
    void add_pool(const LayerSpec& l, const Shape& in, const Shape& out, dnnl::algorithm alg,
                  int kernel_h, int kernel_w, int stride_h, int stride_w, int pad);
    void add_adaptive_avg_pool(const LayerSpec& l, const Shape& in, const Shape& out);
};

}  // namespace alexnet
