#pragma once
// A small synthetic IDX data set for the training tests.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace alexnet::test {

inline void put_be32(std::ofstream& f, uint32_t v) {
    const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    f.write(b, 4);
}

// `prefix`-images-idx3-ubyte / -labels-idx1-ubyte: 28x28 images whose bright quadrant is the
// class (4 classes), with noise. (Flipping would swap classes: the tests train with --no-flip.)
inline void write_quadrants(const std::filesystem::path& dir, const std::string& prefix, int n, unsigned seed, int classes = 4) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> noise(0, 120);
    std::ofstream img(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary), lab(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
    put_be32(img, 0x803), put_be32(img, uint32_t(n)), put_be32(img, 28), put_be32(img, 28);
    put_be32(lab, 0x801), put_be32(lab, uint32_t(n));
    for (int i = 0; i < n; ++i) {
        const int c = int(rng() % unsigned(classes));
        lab.put(char(c));
        for (int y = 0; y < 28; ++y)
            for (int x = 0; x < 28; ++x) {
                const int q = (y >= 14) * 2 + (x >= 14);
                img.put(char(noise(rng) + (q == c ? 60 : 0)));
            }
    }
}

}  // namespace alexnet::test
