#include "core/checked_size.hpp"

#include "core/error.hpp"

namespace alexnet {

namespace {

std::string dims_string(const std::vector<int64_t>& dims) {
    constexpr size_t kShown = 8;
    std::string s = "[";
    for (size_t i = 0; i < dims.size() && i < kShown; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    if (dims.size() > kShown) s += ", ... (" + std::to_string(dims.size()) + " dimensions)";
    return s + "]";
}

}  // namespace

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& where, const std::string& field) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        throw Error(where, field, "a size that fits in 64 bits", std::to_string(a) + " * " + std::to_string(b));
    return r;
}

uint64_t checked_add(uint64_t a, uint64_t b, const std::string& where, const std::string& field) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r))
        throw Error(where, field, "a size that fits in 64 bits", std::to_string(a) + " + " + std::to_string(b));
    return r;
}

uint64_t checked_numel(const std::vector<int64_t>& dims, const std::string& where, const std::string& field) {
    uint64_t n = 1;  // of the non-zero dimensions: an empty tensor's other dimensions must be sane too
    bool ok = true, empty = false;
    for (int64_t d : dims) {
        ok = d >= 0 && (d == 0 || (!__builtin_mul_overflow(n, uint64_t(d), &n) && n <= kMaxElements));
        if (!ok) break;
        empty = empty || d == 0;
    }
    if (!ok)
        throw Error(where, field,
                    "non-negative dimensions of at most 2^40 elements in all (" + std::to_string(kMaxElements) + ")",
                    dims_string(dims));
    return empty ? 0 : n;
}

void check_span(uint64_t offset, uint64_t length, uint64_t size, const std::string& where, const std::string& field,
                const std::string& what) {
    if (!span_fits(offset, length, size))
        throw Error(where, field, std::to_string(length) + " bytes inside the " + std::to_string(size) + "-byte " + what,
                    "offset " + std::to_string(offset));
}

}  // namespace alexnet
