#pragma once
// Scans large arrays (floats, s8 weights) for the first value a test rejects, a chunk at a time:
// the test runs on every value of a chunk without a branch (so the compiler vectorises it) and
// only a chunk with a rejected value is searched again for its first one. Weight checks on every
// load use it.
#include <algorithm>
#include <cstdint>

namespace alexnet {

// The index of the first x[i] with bad(x[i]), or -1. `bad` must be branch-free and return bool.
template <class T, class Bad>
int64_t first_bad(const T* x, int64_t n, Bad bad) {
    constexpr int64_t kChunk = 4096;
    for (int64_t c = 0; c < n; c += kChunk) {
        const int64_t end = std::min(n, c + kChunk);
        uint32_t any = 0;
        for (int64_t i = c; i < end; ++i) any |= uint32_t(bad(x[i]));
        if (any)
            for (int64_t i = c; i < end; ++i)
                if (bad(x[i])) return i;
    }
    return -1;
}

}  // namespace alexnet
