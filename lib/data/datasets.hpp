#pragma once
// In-memory labelled image sets from the binary formats of DESIGN.md section 6: IDX (MNIST,
// Fashion-MNIST; raw or gzip) and CIFAR-10's binary batches. Every header and size is checked
// before use; a mismatch names the file and field.
#include <cstdint>
#include <string>
#include <vector>

namespace alexnet {

struct ImageSet {
    int count = 0, channels = 0, height = 0, width = 0;
    std::vector<uint8_t> pixels;  // (count, channels, height, width)
    std::vector<int> labels;      // count entries
    const uint8_t* image(int i) const { return pixels.data() + size_t(i) * channels * height * width; }
};

// A whole file, gunzipped when it starts with the gzip magic (1f 8b).
std::vector<uint8_t> read_file_maybe_gzip(const std::string& path);

// images: magic 0x00000803 (unsigned bytes, 3 dims N x H x W); labels: 0x00000801 (N).
ImageSet read_idx(const std::string& images_path, const std::string& labels_path);

// CIFAR-10 binary: records of 1 label byte and 3072 pixel bytes (3 x 32 x 32, R then G then B).
ImageSet read_cifar10(const std::vector<std::string>& batch_files);

}  // namespace alexnet
