#include "engine/train_net.hpp"

#include <cstring>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"
#include "engine/dnnl_util.hpp"
#include "engine/reference.hpp"
#include "engine/train_net_impl.hpp"

namespace alexnet {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

bool dropout_keep(uint64_t key, uint64_t index, float p) {
    // splitmix64 of (key, index): 24 uniform bits against p
    uint64_t z = key * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return float(z >> 40) * (1.0f / 16777216.0f) >= p;
}

TrainNet::TrainNet(const ModelSpec& spec, int batch, float dropout, Precision precision)
    : impl_(std::make_unique<Impl>()) {
    check(batch > 0, "engine", "batch", "> 0", std::to_string(batch));
    check(precision != Precision::int8, "engine", "precision", "fp32 or bf16 for training", "int8");
    require_precision_support(precision);
    check(dropout >= 0 && dropout < 1, "engine", "dropout", "a probability in [0, 1)", std::to_string(dropout));
    Impl& m = *impl_;
    m.spec = spec;
    m.layout = param_layout(spec);
    m.batch = batch;
    m.dropout = dropout;
    m.precision = precision;
    m.act = precision == Precision::bf16 ? dt::bf16 : dt::f32;
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
        // nc, plain (fc layers write nc); f32 for the loss (a bf16 net's last layer writes bf16)
        m.logits = m.conform(m.cur, memory::desc({batch, m.classes}, dt::f32, tag::nc), m.forward_steps);
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
Precision TrainNet::precision() const { return impl_->precision; }
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
