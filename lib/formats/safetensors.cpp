#include "formats/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/checked_size.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "io/atomic_file.hpp"
#include "io/bounded_json.hpp"
#include "io/mapped_file.hpp"

namespace alexnet {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's bound
constexpr size_t kMaxDims = 8;  // dimensions of one tensor; AlexNet's have at most 4

size_t dtype_size(const std::string& dtype) {
    if (dtype == "F32") return 4;
    if (dtype == "F16" || dtype == "BF16") return 2;
    if (dtype == "I8") return 1;  // a quantized model's weights
    return 0;
}

uint64_t read_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) mant <<= 1, --exp;
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float bfloat16_to_float(uint16_t b) {
    const uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

SafetensorsFile::SafetensorsFile(const std::string& path) {
    const MappedFile file(path);
    const uint64_t file_size = file.size();
    if (file_size < 8) throw Error(path, "safetensors header", "at least 8 bytes", std::to_string(file_size) + " bytes");
    mapping_ = file.mapping();
    const uint8_t* bytes = file.data();

    const uint64_t header_len = read_le64(bytes);
    check(header_len <= kMaxHeaderBytes && header_len <= file_size - 8, path, "header length",
          "at most " + std::to_string(std::min(kMaxHeaderBytes, file_size - 8)) + " bytes",
          std::to_string(header_len));
    data_ = bytes + 8 + header_len;
    const uint64_t data_size = file_size - 8 - header_len;

    const char* text = reinterpret_cast<const char*>(bytes + 8);
    const nlohmann::json header = parse_bounded_json(text, text + header_len, path, "header");
    check(header.is_object(), path, "header", "a JSON object", header.type_name());
    for (auto& [name, v] : header.items()) {
        if (name == "__metadata__") {
            check(v.is_object(), path, "__metadata__", "an object of strings", v.type_name());
            for (auto& [k, s] : v.items()) {
                if (!s.is_string()) throw Error(path, "__metadata__." + text_excerpt(k), "a string", s.type_name());
                metadata_[k] = s.get<std::string>();
            }
            continue;
        }
        const std::string where = path + ": tensor " + text_excerpt(name);
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            throw Error(where, "entry", "dtype, shape and data_offsets", json_excerpt(v));
        SafetensorsEntry e;
        e.name = name;
        const auto& dtype = v["dtype"];
        if (!dtype.is_string()) throw Error(where, "dtype", "a string", json_excerpt(dtype));
        e.dtype = dtype.get<std::string>();
        if (dtype_size(e.dtype) == 0) throw Error(where, "dtype", "F32, F16, BF16 or I8", text_excerpt(e.dtype));
        const auto& shape = v["shape"];
        if (!shape.is_array() || shape.size() > kMaxDims)
            throw Error(where, "shape", "an array of at most " + std::to_string(kMaxDims) + " dimensions",
                        json_excerpt(shape));
        for (auto& d : shape) {
            if (!d.is_number_unsigned() || d.get<uint64_t>() > kMaxElements)
                throw Error(where, "shape", "non-negative integers", json_excerpt(shape));
            e.shape.push_back(d.get<int64_t>());
        }
        const uint64_t numel = checked_numel(e.shape, where, "shape");
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            throw Error(where, "data_offsets", "[begin, end]", json_excerpt(off));
        e.begin = off[0].get<uint64_t>();
        e.end = off[1].get<uint64_t>();
        if (e.begin > e.end || e.end > data_size)
            throw Error(where, "data_offsets", "inside the " + std::to_string(data_size) + "-byte data section",
                        json_excerpt(off));
        const uint64_t bytes_needed = numel * dtype_size(e.dtype);  // numel <= 2^40: no overflow
        if (e.end - e.begin != bytes_needed)
            throw Error(where, "byte size",
                        std::to_string(bytes_needed) + " bytes for " + e.dtype + " " + shape_string(e.shape),
                        std::to_string(e.end - e.begin) + " bytes");
        entries_.push_back(std::move(e));
    }
    std::vector<const SafetensorsEntry*> by_offset;
    for (const auto& e : entries_) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(),
              [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const auto *prev = by_offset[i - 1], *cur = by_offset[i];
        if (cur->begin < prev->end && cur->end > cur->begin)
            throw Error(path + ": tensor " + cur->name, "data_offsets",
                        "no overlap with other tensors", "overlap with " + prev->name);
    }
}

bool looks_like_safetensors(const std::string& path) {
    const std::string head = read_file_head(path, 9);
    if (head.size() < 9) return false;
    return read_le64(reinterpret_cast<const uint8_t*>(head.data())) < kMaxHeaderBytes && head[8] == '{';
}

Weights read_safetensors(const std::string& path) {
    SafetensorsFile file(path);
    Weights w;
    w.metadata = file.metadata();
    for (const auto& e : file.entries()) {
        const uint8_t* p = file.data(e);
        const int64_t n = int64_t(e.end - e.begin) / int64_t(dtype_size(e.dtype));
        if (e.dtype == "F32" && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
            w.add_view(e.name, e.shape, reinterpret_cast<const float*>(p), /*mapped=*/true);
            continue;
        }
        if (e.dtype == "I8") {  // a quantized model's weights, held as they are stored
            w.add_view(e.name, e.shape, reinterpret_cast<const int8_t*>(p), /*mapped=*/true);
            continue;
        }
        std::vector<float> data(n);
        if (e.dtype == "F32") {
            if (n > 0) std::memcpy(data.data(), p, n * 4);
        } else {
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = uint16_t(p[2 * i] | (p[2 * i + 1] << 8));
                data[i] = e.dtype == "F16" ? half_to_float(h) : bfloat16_to_float(h);
            }
        }
        w.add(e.name, e.shape, std::move(data));
    }
    w.keep_alive(file.mapping());
    return w;
}

void write_safetensors(const std::string& path, const Weights& weights) {
    nlohmann::json header = nlohmann::json::object();
    if (!weights.metadata.empty()) header["__metadata__"] = weights.metadata;
    uint64_t offset = 0;
    std::vector<std::string> names = weights.names();
    // F32 data first, so it stays 4-byte aligned (and is mapped in place when read).
    std::stable_partition(names.begin(), names.end(), [&](const std::string& n) { return !weights.at(n).is_s8(); });
    for (const auto& name : names) {
        const Tensor& t = weights.at(name);
        const uint64_t bytes = t.bytes();
        header[name] = {{"dtype", t.is_s8() ? "I8" : "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
    AtomicFile out(path);
    out.write(len, 8);
    out.write(text);
    for (const auto& name : names) {
        const Tensor& t = weights.at(name);
        if (t.is_s8())
            out.write(t.s8(), t.bytes());
        else
            out.write(t.floats(), t.bytes());
    }
    out.commit();
}

}  // namespace alexnet
