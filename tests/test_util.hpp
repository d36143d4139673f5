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
#include "io/model_file.hpp"

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

}  // namespace alexnet::test
