#pragma once
// Parameters by canonical name (conv1.weight ... fc8.bias) in PyTorch layouts: float32, or s8 for a
// quantized model's weights (model/quantization.hpp), as the file stores them.
// A tensor either owns its values or views memory kept alive by its owner (a mapped file).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace alexnet {

// One tensor's values: float32 or s8, never both. A reader asks for the type it expects, and
// floats() of s8 values (or s8() of floats) throws Error naming the tensor, so the bytes of one
// are never read as the other.
class Tensor {
public:
    std::vector<int64_t> shape;

    Tensor() = default;
    // A view of values kept alive elsewhere; `mapped`: in a read-only file mapping (its pages can
    // be given back, and an engine may use the values in place while it holds the Weights' owners).
    Tensor(std::string name, std::vector<int64_t> shape, const float* view, bool mapped = false);
    Tensor(std::string name, std::vector<int64_t> shape, const int8_t* view, bool mapped = false);
    // Values of its own; throws Error naming the tensor when their count does not fit `shape`.
    Tensor(std::string name, std::vector<int64_t> shape, std::vector<float> values);
    Tensor(std::string name, std::vector<int64_t> shape, std::vector<int8_t> values);
    // A copy that owns its values points at its own copy of them, not at the original's.
    Tensor(const Tensor& o);
    Tensor& operator=(const Tensor& o) {
        if (this != &o) *this = Tensor(o);
        return *this;
    }
    Tensor(Tensor&&) = default;  // a moved vector keeps its buffer, so the pointer stays valid
    Tensor& operator=(Tensor&&) = default;

    const std::string& name() const { return name_; }
    bool is_s8() const { return s8_; }
    int64_t numel() const;
    size_t bytes() const { return size_t(numel()) * (is_s8() ? 1 : sizeof(float)); }
    bool owns() const { return !owned_f32_.empty() || !owned_s8_.empty(); }
    bool mapped() const { return mapped_; }
    const float* floats() const;   // throws Error for s8 values
    const int8_t* s8() const;      // throws Error for floats

private:
    friend class Weights;
    std::string name_;
    bool s8_ = false;
    const void* data_ = nullptr;
    bool mapped_ = false;
    std::vector<float> owned_f32_;
    std::vector<int8_t> owned_s8_;
};

std::string shape_string(const std::vector<int64_t>& shape);
// Comma-separated floats for metadata, each printed with 9 significant digits (reads back exactly).
std::string metadata_floats(const float* v, int n);

class Weights {
public:
    void add(const std::string& name, std::vector<int64_t> shape, std::vector<float> data);
    void add_s8(const std::string& name, std::vector<int64_t> shape, std::vector<int8_t> data);
    // `mapped`: `data` lies in a read-only file mapping kept alive by keep_alive (an engine may then
    // use it in place for as long as it holds owners()).
    void add_view(const std::string& name, std::vector<int64_t> shape, const float* data, bool mapped = false);
    void add_view(const std::string& name, std::vector<int64_t> shape, const int8_t* data, bool mapped = false);
    // A view of `t`'s values (of either type, mapped as `t` is) under `name`.
    void add_view(const std::string& name, const Tensor& t);
    void keep_alive(std::shared_ptr<void> owner) { owners_.push_back(std::move(owner)); }
    const std::vector<std::shared_ptr<void>>& owners() const { return owners_; }

    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    const Tensor& at(const std::string& name) const;  // throws Error naming the tensor
    std::vector<std::string> names() const;
    // The tensor `from` is called `to` from now on (replacing any tensor of that name); its values
    // stay where they are.
    void rename(const std::string& from, const std::string& to);
    // Gives the memory of a tensor back to the system once the engine holds its own copy.
    void release(const std::string& name);
    // Removes a tensor that owns its floats and hands them over (an engine that uses them as they
    // are); empty, and nothing removed, for a view, s8 values or a missing name.
    std::vector<float> take(const std::string& name);

    std::map<std::string, std::string> metadata;  // safetensors __metadata__

private:
    std::map<std::string, Tensor> tensors_;
    std::vector<std::shared_ptr<void>> owners_;
};

// Gives the whole memory pages inside [data, data + bytes) back to the system. Only for read-only
// file mappings (the pages read back from the file if touched again).
void release_pages(const void* data, size_t bytes);

// Fills every parameter of `spec` with N(0, std) weights and small biases, seeded.
Weights random_weights(const ModelSpec& spec, uint64_t seed, float std = 0.01f);

// Every tensor `spec` needs is present with the expected shape; throws Error naming the first
// missing or mismatched tensor.
void validate_weights(const ModelSpec& spec, const Weights& weights, const std::string& source);

}  // namespace alexnet
