#include "model/weights.hpp"

#include <cstdio>

#include <sys/mman.h>
#include <unistd.h>

#include <random>

#include "core/checked_size.hpp"
#include "core/error.hpp"

namespace alexnet {

int64_t Tensor::numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
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
    const uint64_t numel = checked_numel(shape, "weights", name);
    check(numel == data.size(), "weights", name, std::to_string(numel) + " values for shape " + shape_string(shape),
          std::to_string(data.size()));
    Tensor& t = tensors_[name];
    t.shape = std::move(shape);
    t.owned = std::move(data);
    t.data = t.owned.data();
    t.mapped = false;
}

void Weights::add_view(const std::string& name, std::vector<int64_t> shape, const float* data, bool mapped) {
    Tensor& t = tensors_[name];
    t.shape = std::move(shape);
    t.owned.clear();
    t.data = data;
    t.mapped = mapped;
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

void Weights::release(const std::string& name) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return;
    Tensor& t = it->second;
    if (!t.owned.empty()) {
        std::vector<float>().swap(t.owned);
    } else if (t.data) {  // a view into a read-only file mapping
        release_pages(t.data, size_t(t.numel()) * sizeof(float));
    }
    tensors_.erase(it);
}

std::vector<float> Weights::take(const std::string& name) {
    auto it = tensors_.find(name);
    if (it == tensors_.end() || it->second.owned.empty()) return {};
    std::vector<float> data = std::move(it->second.owned);
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
