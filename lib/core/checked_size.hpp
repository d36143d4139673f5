#pragma once
// Sizes, dimensions and offsets read from files, combined without overflow. Every reader in
// lib/io and lib/data computes element counts, byte sizes and "offset + length <= size" through
// these before it touches a byte: a product or sum that does not fit in 64 bits, a negative
// dimension, or a span outside its buffer throws Error(where, field, expected, found) instead of
// wrapping around into a small, plausible number.
#include <cstdint>
#include <string>
#include <vector>

namespace alexnet {

// Upper bound on the elements of one tensor (2^40, 4 TiB of floats): far above any model, and
// small enough that count * 8 bytes and a sum of a few such counts stay inside 64 bits.
constexpr uint64_t kMaxElements = uint64_t(1) << 40;

// a * b and a + b, or Error(where, field, "a size that fits in 64 bits", "a * b" / "a + b").
uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& where, const std::string& field);
uint64_t checked_add(uint64_t a, uint64_t b, const std::string& where, const std::string& field);

// The product of `dims` (each >= 0), at most kMaxElements; Error naming the shape otherwise.
uint64_t checked_numel(const std::vector<int64_t>& dims, const std::string& where, const std::string& field);

// True when [offset, offset + length) lies inside [0, size), without computing a wrapped sum.
inline bool span_fits(uint64_t offset, uint64_t length, uint64_t size) {
    return offset <= size && length <= size - offset;
}

// Error(where, field, "<length> bytes inside the <size>-byte <what>", "offset <offset>") unless
// span_fits(offset, length, size).
void check_span(uint64_t offset, uint64_t length, uint64_t size, const std::string& where, const std::string& field,
                const std::string& what);

}  // namespace alexnet
