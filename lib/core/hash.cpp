#include "core/hash.hpp"

#include <cstring>

namespace alexnet {

uint64_t hash_bytes(const void* data, size_t bytes, uint64_t h) {
    const auto* p = static_cast<const unsigned char*>(data);
    auto mix = [&h](uint64_t w) {
        h ^= w * 0x9E3779B97F4A7C15ull;
        h = ((h << 31) | (h >> 33)) * 0xBF58476D1CE4E5B9ull;
    };
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        mix(w);
    }
    uint64_t tail = 0;
    if (bytes > i) std::memcpy(&tail, p + i, bytes - i);  // never from a null pointer (empty input)
    mix(tail);
    mix(uint64_t(bytes));  // so "" and "\0" differ
    return h;
}

}  // namespace alexnet
