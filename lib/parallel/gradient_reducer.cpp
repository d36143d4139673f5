#include "parallel/gradient_reducer.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace alexnet {

GradientReducer::GradientReducer(Communicator& comm, TrainNet& net, double bucket_mb) : comm_(comm), net_(net) {
    if (comm.size() == 1) return;
    // Each layer's weight and bias are neighbours in the arena: a layer is one range.
    const ParamLayout& L = net.layout();
    struct Range {
        std::string layer;
        int64_t begin, end;
    };
    std::vector<Range> layers;  // in arena (forward) order
    for (size_t i = 0; i < L.tensors.size(); ++i) {
        const std::string& name = L.tensors[i].name;
        const std::string layer = name.substr(0, name.find('.'));
        if (layers.empty() || layers.back().layer != layer) {
            layers.push_back({layer, L.offset[i], L.offset[i]});
        }
        check(layers.back().end == L.offset[i], "engine", name, "parameters of a layer side by side", "a gap");
        layers.back().end = L.offset[i] + L.numel(i);
    }
    const auto cap = int64_t(bucket_mb * 1024 * 1024 / sizeof(float));
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        if (buckets_.empty() || (bucket_mb > 0 && buckets_.back().end - buckets_.back().begin >= cap))
            buckets_.push_back({it->begin, it->end});
        Bucket& b = buckets_.back();
        b.begin = it->begin;  // backward order walks the arena downwards
        b.pending = ++b.layers;
        bucket_of_[it->layer] = int(buckets_.size()) - 1;
    }
    if (bucket_mb > 0) net.on_gradients_ready([this](const std::string& layer) { layer_ready(layer); });
}

void GradientReducer::start(Bucket& b) {
    b.ticket = comm_.start_sum(net_.grads() + b.begin, b.end - b.begin);
}

void GradientReducer::layer_ready(const std::string& layer) {
    const auto it = bucket_of_.find(layer);
    if (it == bucket_of_.end()) return;
    Bucket& b = buckets_[size_t(it->second)];
    if (--b.pending == 0) start(b);
}

void GradientReducer::finish() {
    if (buckets_.empty()) return;
    for (Bucket& b : buckets_)
        if (b.ticket < 0) start(b);
    const auto t0 = std::chrono::steady_clock::now();
    for (Bucket& b : buckets_) {
        comm_.wait(b.ticket);
        b.ticket = -1;
        b.pending = b.layers;
    }
    waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void GradientReducer::reduce_zero() {
    std::memset(net_.grads(), 0, size_t(net_.layout().total) * sizeof(float));
    finish();
}

}  // namespace alexnet
