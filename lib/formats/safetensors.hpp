#pragma once
// safetensors: 8-byte little-endian header length, a JSON header, raw little-endian data.
// Reading memory-maps the file and validates every entry before any byte of data is used.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/weights.hpp"

namespace alexnet {

struct SafetensorsEntry {
    std::string name;
    std::string dtype;  // F32, F16, BF16 or I8
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // offsets into the data section
};

class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string& path);  // throws Error naming the field at fault
    const std::vector<SafetensorsEntry>& entries() const { return entries_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const uint8_t* data(const SafetensorsEntry& e) const { return data_ + e.begin; }
    // The mapping; keep it alive as long as views into it are used.
    std::shared_ptr<void> mapping() const { return mapping_; }

private:
    std::shared_ptr<void> mapping_;
    const uint8_t* data_ = nullptr;
    std::vector<SafetensorsEntry> entries_;
    std::map<std::string, std::string> metadata_;
};

// True when the first bytes look like a safetensors header.
bool looks_like_safetensors(const std::string& path);

// Every tensor: F32 data viewed in place when aligned (else copied), I8 viewed in place as s8,
// F16/BF16 converted to float32.
Weights read_safetensors(const std::string& path);

// Writes every tensor of `weights` in its type (float32 as F32, s8 as I8) with `weights.metadata`,
// atomically.
void write_safetensors(const std::string& path, const Weights& weights);

float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);

}  // namespace alexnet
