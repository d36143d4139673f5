#include "model/weights.hpp"

#include <cstdio>

#include <sys/mman.h>
#include <unistd.h>

#include <random>

#include "core/checked_size.hpp"
#include "core/error.hpp"

namespace alexnet {

namespace {

void check_count(const std::string& name, const std::vector<int64_t>& shape, size_t count) {
    const uint64_t numel = checked_numel(shape, "weights", name);
    check(numel == count, "weights", name, std::to_string(numel) + " values for shape " + shape_string(shape),
          std::to_string(count));
}

}  // namespace

Tensor::Tensor(std::string name, std::vector<int64_t> shape, const float* view, bool mapped)
    : shape(std::move(shape)), name_(std::move(name)), s8_(false), data_(view), mapped_(mapped) {}

Tensor::Tensor(std::string name, std::vector<int64_t> shape, const int8_t* view, bool mapped)
    : shape(std::move(shape)), name_(std::move(name)), s8_(true), data_(view), mapped_(mapped) {}

Tensor::Tensor(std::string name, std::vector<int64_t> shape, std::vector<float> values)
    : shape(std::move(shape)), name_(std::move(name)), s8_(false), owned_f32_(std::move(values)) {
    check_count(name_, this->shape, owned_f32_.size());
    data_ = owned_f32_.data();
}

Tensor::Tensor(std::string name, std::vector<int64_t> shape, std::vector<int8_t> values)
    : shape(std::move(shape)), name_(std::move(name)), s8_(true), owned_s8_(std::move(values)) {
    check_count(name_, this->shape, owned_s8_.size());
    data_ = owned_s8_.data();
}

Tensor::Tensor(const Tensor& o)
    : shape(o.shape), name_(o.name_), s8_(o.s8_), data_(o.data_), mapped_(o.mapped_), owned_f32_(o.owned_f32_),
      owned_s8_(o.owned_s8_) {
    if (!owned_f32_.empty()) data_ = owned_f32_.data();
    if (!owned_s8_.empty()) data_ = owned_s8_.data();
}

int64_t Tensor::numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

const float* Tensor::floats() const {
    if (is_s8())
        throw Error("weights", name_, "float32 values",
                    "s8 values (a quantized model's weights; dequantize_weights() turns them into floats)");
    return static_cast<const float*>(data_);
}

const int8_t* Tensor::s8() const {
    if (!is_s8()) throw Error("weights", name_, "s8 values (a quantized model's weights)", "float32 values");
    return static_cast<const int8_t*>(data_);
}

std::string metadata_floats(const float* v, int n) {
    std::string out;
    char buf[32];
    for (int i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, "%.9g", double(v[i]));
        if (i) out += ',';
        out += buf;
    }
    return out;
}

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

void Weights::add(const std::string& name, std::vector<int64_t> shape, std::vector<float> data) {
    tensors_[name] = Tensor(name, std::move(shape), std::move(data));
}

void Weights::add_s8(const std::string& name, std::vector<int64_t> shape, std::vector<int8_t> data) {
    tensors_[name] = Tensor(name, std::move(shape), std::move(data));
}

void Weights::add_view(const std::string& name, std::vector<int64_t> shape, const float* data, bool mapped) {
    tensors_[name] = Tensor(name, std::move(shape), data, mapped);
}

void Weights::add_view(const std::string& name, std::vector<int64_t> shape, const int8_t* data, bool mapped) {
    tensors_[name] = Tensor(name, std::move(shape), data, mapped);
}

void Weights::add_view(const std::string& name, const Tensor& t) {
    if (t.is_s8())
        add_view(name, t.shape, t.s8(), t.mapped());
    else
        add_view(name, t.shape, t.floats(), t.mapped());
}

const Tensor& Weights::at(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw Error("weights", name, "a tensor of that name", "none");
    return it->second;
}

std::vector<std::string> Weights::names() const {
    std::vector<std::string> out;
    for (const auto& [name, t] : tensors_) out.push_back(name);
    return out;
}

void Weights::rename(const std::string& from, const std::string& to) {
    if (from == to || !contains(from)) return;
    auto node = tensors_.extract(from);
    node.key() = to;
    node.mapped().name_ = to;
    tensors_.erase(to);
    tensors_.insert(std::move(node));
}

void Weights::release(const std::string& name) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return;
    Tensor& t = it->second;
    if (t.mapped()) release_pages(t.data_, t.bytes());
    tensors_.erase(it);  // and the values it owns with it
}

std::vector<float> Weights::take(const std::string& name) {
    auto it = tensors_.find(name);
    if (it == tensors_.end() || it->second.owned_f32_.empty()) return {};
    std::vector<float> data = std::move(it->second.owned_f32_);
    tensors_.erase(it);
    return data;
}

void release_pages(const void* data, size_t bytes) {
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(data) + page - 1) & ~(page - 1);
    const uintptr_t end = (uintptr_t(data) + bytes) & ~(page - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

Weights random_weights(const ModelSpec& spec, uint64_t seed, float std) {
    Weights w;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.f, std);
    for (const auto& p : param_specs(spec)) {
        int64_t n = 1;
        for (auto d : p.shape) n *= d;
        std::vector<float> data(n);
        const bool bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
        for (auto& v : data) v = bias ? 0.1f * normal(rng) / std : normal(rng);
        w.add(p.name, p.shape, std::move(data));
    }
    w.metadata["arch"] = spec.arch;
    w.metadata["num_classes"] = std::to_string(spec.num_classes());
    return w;
}

void validate_weights(const ModelSpec& spec, const Weights& weights, const std::string& source) {
    for (const auto& p : param_specs(spec)) {
        check(weights.contains(p.name), source, p.name,
              "a tensor of shape " + shape_string(p.shape) + " for " + spec.arch, "none");
        const Tensor& t = weights.at(p.name);
        check(t.shape == p.shape, source, p.name, "shape " + shape_string(p.shape) + " for " + spec.arch,
              shape_string(t.shape));
    }
}

}  // namespace alexnet
