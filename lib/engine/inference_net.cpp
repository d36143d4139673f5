#include "engine/inference_net.hpp"

#include <omp.h>

#include <chrono>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/inference_net_impl.hpp"
#include "engine/precision.hpp"
#include "engine/reference.hpp"

namespace alexnet {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// Reorders `cur` into `want` stored with `want_scale` when layout, type or scale differ (a
// step named after `layer`): int8 tensors are quantized, requantized or dequantized on the way.
void InferenceNet::Impl::conform(const memory::desc& want, const std::string& layer, float want_scale) {
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
memory InferenceNet::Impl::load_weights(const std::string& name, const Tensor& t, const memory::dims& dims,
                                        tag user_tag, const memory::desc& want, bool release, bool* in_place,
                                        Weights* owner, bool halve) {
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

void InferenceNet::Impl::plan_memory() {
    size_t bytes[3] = {0, 0, scratchpad_bytes};
    for (const auto& a : activations) bytes[a.slot] = std::max(bytes[a.slot], a.mem.get_desc().get_size());
    if (shared) {
        shared->reserve(bytes);
        bind_shared();
        return;
    }
    for (int i = 0; i < 2; ++i) slots[i] = allocate(bytes[i]);
    scratchpad = allocate(bytes[2]);
    bind_planned(slots[0].get(), slots[1].get(), scratchpad.get());
}

void InferenceNet::Impl::bind_planned(char* slot0, char* slot1, char* scratch) {
    for (auto& a : activations) a.mem.set_data_handle(a.slot == 0 ? slot0 : slot1);
    for (auto& m : scratchpad_users) m.set_data_handle(scratch);
}

void InferenceNet::Impl::bind_shared() {
    if (!shared || bound_generation == shared->generation) return;
    bind_planned(shared->buffers[0].get(), shared->buffers[1].get(), shared->buffers[2].get());
    bound_generation = shared->generation;
}

void InferenceNet::Impl::bind(const float* input, float* output) {
    bind_shared();
    user_src.set_data_handle(const_cast<float*>(input));
    user_dst.set_data_handle(output);
}

void InferenceNet::Impl::finish(float* output) {
    strm.wait();
    if (softmax_last) {
        const int classes = out_shape.c;
        reference::softmax_forward(output, output, batch, classes);
    }
}

InferenceNet::InferenceNet(const ModelSpec& spec, Weights& weights, int batch,
                           const std::string& output_layer, bool release_weights, Precision precision,
                           NetWorkspace* workspace)
    : impl_(std::make_unique<Impl>()) {
    check(batch > 0, "engine", "batch", "> 0", std::to_string(batch));
    Impl& m = *impl_;
    m.batch = batch;
    if (workspace) m.shared = workspace->impl_.get();
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

NetWorkspace::NetWorkspace() : impl_(std::make_unique<Impl>()) {}
NetWorkspace::~NetWorkspace() = default;
size_t NetWorkspace::bytes() const { return impl_->sizes[0] + impl_->sizes[1] + impl_->sizes[2]; }

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
