#pragma once
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "core/temp_dir.hpp"
#include "engine/precision.hpp"
#include "formats/model_file.hpp"

namespace alexnet::test {

// load_model's one-line message for a bad weights file ("no error" when it loads).
inline std::string load_error(const std::string& path) {
    try {
        load_model(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

inline std::vector<float> random_vector(size_t n, unsigned seed, float scale = 1.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// max |a - b| / max |b|: the relative max error the issues speak of
inline double relative_max_error(const float* a, const float* b, size_t n) {
    double diff = 0, ref = 0;
    for (size_t i = 0; i < n; ++i) {
        diff = std::max(diff, double(std::fabs(a[i] - b[i])));
        ref = std::max(ref, double(std::fabs(b[i])));
    }
    return ref > 0 ? diff / ref : diff;
}

// A fresh directory under /tmp, removed with everything in it at scope end.
using alexnet::TempDir;

// Test cases that need what not every CPU has carry "[needs bf16]" or "[needs int8]" in their
// names and start with `if (!cpu_runs(Precision::bf16)) return;`. CTest runs them as a test of
// their own (NAME_cpu, tests/CMakeLists.txt), which then exits with CTest's skip code and says why
// (main.cpp) instead of passing; their refusal on such a CPU is tested in cases that always run.
std::vector<std::string>& cpu_skips();
inline bool cpu_runs(Precision p) {
    if (precision_supported(p)) return true;
    cpu_skips().push_back(std::string(to_string(p)) + " needs what this CPU lacks (oneDNN's effective ISA: " + cpu_isa_name() + ")");
    return false;
}

}  // namespace alexnet::test
