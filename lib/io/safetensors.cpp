#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/mapped_file.hpp"
#include "io/atomic_file.hpp"

namespace alexnet {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's bound

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

    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(path, "header", "JSON", std::string("invalid JSON (") + e.what() + ")");
    }
    check(header.is_object(), path, "header", "a JSON object", header.type_name());
    for (auto& [name, v] : header.items()) {
        if (name == "__metadata__") {
            check(v.is_object(), path, "__metadata__", "an object of strings", v.type_name());
            for (auto& [k, s] : v.items()) {
                check(s.is_string(), path, "__metadata__." + k, "a string", s.type_name());
                metadata_[k] = s.get<std::string>();
            }
            continue;
        }
        const std::string where = path + ": tensor " + name;
        check(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
              where, "entry", "dtype, shape and data_offsets", v.dump());
        SafetensorsEntry e;
        e.name = name;
        check(v["dtype"].is_string(), where, "dtype", "a string", v["dtype"].dump());
        e.dtype = v["dtype"].get<std::string>();
        check(dtype_size(e.dtype) != 0, where, "dtype", "F32, F16, BF16 or I8", e.dtype);
        check(v["shape"].is_array(), where, "shape", "an array", v["shape"].dump());
        uint64_t numel = 1;
        for (auto& d : v["shape"]) {
            check(d.is_number_unsigned() && d.get<uint64_t>() < (1ull << 40), where, "shape",
                  "non-negative dimensions", v["shape"].dump());
            e.shape.push_back(d.get<int64_t>());
            numel *= d.get<uint64_t>();
        }
        const auto& off = v["data_offsets"];
        check(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
              where, "data_offsets", "[begin, end]", off.dump());
        e.begin = off[0].get<uint64_t>();
        e.end = off[1].get<uint64_t>();
        check(e.begin <= e.end && e.end <= data_size, where, "data_offsets",
              "inside the " + std::to_string(data_size) + "-byte data section", off.dump());
        check(e.end - e.begin == numel * dtype_size(e.dtype), where, "byte size",
              std::to_string(numel * dtype_size(e.dtype)) + " bytes for " + e.dtype + " " +
                  shape_string(e.shape),
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
    std::ifstream in(path, std::ios::binary);
    uint8_t head[9] = {};
    if (!in.read(reinterpret_cast<char*>(head), 9)) return false;
    return read_le64(head) < kMaxHeaderBytes && head[8] == '{';
}

Weights read_safetensors(const std::string& path) {
    SafetensorsFile file(path);
    Weights w;
    w.metadata = file.metadata();
    for (const auto& e : file.entries()) {
        const uint8_t* p = file.data(e);
        const int64_t n = int64_t(e.end - e.begin) / int64_t(dtype_size(e.dtype));
        if (e.dtype == "F32" && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
            w.add_view(e.name, e.shape, reinterpret_cast<const float*>(p));
            continue;
        }
        std::vector<float> data(n);
        if (e.dtype == "F32") {
            std::memcpy(data.data(), p, n * 4);
        } else if (e.dtype == "I8") {
            for (int64_t i = 0; i < n; ++i) data[i] = float(int8_t(p[i]));
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

void write_safetensors(const std::string& path, const Weights& weights, const std::set<std::string>& as_int8) {
    nlohmann::json header = nlohmann::json::object();
    if (!weights.metadata.empty()) header["__metadata__"] = weights.metadata;
    uint64_t offset = 0;
    std::vector<std::string> names = weights.names();
    // F32 data first, so it stays 4-byte aligned (and is mapped in place when read).
    std::stable_partition(names.begin(), names.end(), [&](const std::string& n) { return !as_int8.count(n); });
    for (const auto& name : names) {
        const Tensor& t = weights.at(name);
        const bool i8 = as_int8.count(name) != 0;
        const uint64_t bytes = uint64_t(t.numel()) * (i8 ? 1 : 4);
        header[name] = {{"dtype", i8 ? "I8" : "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
    AtomicFile out(path);
    out.write(len, 8);
    out.write(text);
    std::vector<int8_t> bytes;
    for (const auto& name : names) {
        const Tensor& t = weights.at(name);
        if (!as_int8.count(name)) {
            out.write(t.data, size_t(t.numel()) * 4);
            continue;
        }
        bytes.resize(size_t(t.numel()));
        for (int64_t i = 0; i < t.numel(); ++i) {
            check(t.data[i] == float(int8_t(t.data[i])), path, name, "integers in [-128, 127] to store as I8",
                  std::to_string(t.data[i]));
            bytes[size_t(i)] = int8_t(t.data[i]);
        }
        out.write(bytes.data(), bytes.size());
    }
    out.commit();
}

}  // namespace alexnet
