#pragma once
// A whole regular file (core/regular_file.hpp) mapped read-only; tensors read from it can be views
// that keep the mapping alive.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace alexnet {

class MappedFile {
public:
    explicit MappedFile(const std::string& path);  // throws Error(path, reason)
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    std::shared_ptr<void> mapping() const { return mapping_; }  // keep alive while views are used

private:
    std::shared_ptr<void> mapping_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace alexnet
