#pragma once
// Parameters by canonical name (conv1.weight ... fc8.bias) in PyTorch layouts, as float32.
// A tensor either owns its floats or views memory kept alive by its owner (a mapped file).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace alexnet {

struct Tensor {
    std::vector<int64_t> shape;
    const float* data = nullptr;
    std::vector<float> owned;       // when the floats had to be converted or copied
    bool mapped = false;            // a view into a read-only file mapping the Weights keep alive
    int64_t numel() const;

    Tensor() = default;
    // A copy that owns its floats points at its own copy of them, not at the original's.
    Tensor(const Tensor& o) : shape(o.shape), data(o.data), owned(o.owned), mapped(o.mapped) {
        if (!owned.empty()) data = owned.data();
    }
    Tensor& operator=(const Tensor& o) {
        if (this != &o) *this = Tensor(o);
        return *this;
    }
    Tensor(Tensor&&) = default;  // a moved vector keeps its buffer, so `data` stays valid
    Tensor& operator=(Tensor&&) = default;
};

std::string shape_string(const std::vector<int64_t>& shape);
// Comma-separated floats for metadata, each printed with 9 significant digits (reads back exactly).
std::string metadata_floats(const float* v, int n);

class Weights {
public:
    void add(const std::string& name, std::vector<int64_t> shape, std::vector<float> data);
    // `mapped`: `data` lies in a read-only file mapping kept alive by keep_alive (an engine may then
    // use it in place for as long as it holds owners()).
    void add_view(const std::string& name, std::vector<int64_t> shape, const float* data, bool mapped = false);
    void keep_alive(std::shared_ptr<void> owner) { owners_.push_back(std::move(owner)); }
    const std::vector<std::shared_ptr<void>>& owners() const { return owners_; }

    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    const Tensor& at(const std::string& name) const;  // throws Error naming the tensor
    std::vector<std::string> names() const;
    // Gives the memory of a tensor back to the system once the engine holds its own copy.
    void release(const std::string& name);
    // Removes a tensor that owns its floats and hands them over (an engine that uses them as they
    // are); empty, and nothing removed, for a view into a mapping or a missing name.
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
