#pragma once
// In-memory labelled image sets from the binary formats of DESIGN.md section 6: IDX (MNIST,
// Fashion-MNIST; raw or gzip) and CIFAR-10's binary batches. Every header and size is checked
// before use; a mismatch names the file and field.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct z_stream_s;

namespace alexnet {

struct ImageSet {
    int count = 0, channels = 0, height = 0, width = 0;
    std::vector<uint8_t> pixels;  // (count, channels, height, width)
    std::vector<int> labels;      // count entries
    const uint8_t* image(int i) const { return pixels.data() + size_t(i) * channels * height * width; }
};

// IDX and CIFAR sets are held in memory: at most this many bytes of each file (compressed or not)
// and of a set's pixels in all.
constexpr uint64_t kMaxInMemoryBytes = uint64_t(4) << 30;

// A data set file (regular files only), gunzipped when it starts with the gzip magic (1f 8b), read
// in steps so that a header can say how much to expect before anything large is decompressed: a
// gzip bomb stops one byte past what its header implies.
class DataFile {
public:
    explicit DataFile(const std::string& path);
    ~DataFile();
    DataFile(const DataFile&) = delete;
    DataFile& operator=(const DataFile&) = delete;
    // The content's first `n` bytes or more (all of it for a raw file; fewer only when it is shorter).
    const std::vector<uint8_t>& read(uint64_t n);
    uint64_t size() const;  // bytes read so far
    bool gzip() const { return gzip_; }
    // Raw: the file size. Gzip: the size its trailer declares (ISIZE, the original size mod 2^32;
    // exact below kMaxInMemoryBytes), known before decompressing.
    uint64_t declared_size() const { return declared_; }

private:
    std::string path_;
    std::vector<uint8_t> in_, out_;
    std::unique_ptr<z_stream_s> z_;
    bool gzip_ = false, ended_ = false;
    uint64_t declared_ = 0;
};

// images: magic 0x00000803 (unsigned bytes, 3 dims N x H x W); labels: 0x00000801 (N).
ImageSet read_idx(const std::string& images_path, const std::string& labels_path);

// CIFAR-10 binary: records of 1 label byte and 3072 pixel bytes (3 x 32 x 32, R then G then B).
ImageSet read_cifar10(const std::vector<std::string>& batch_files);

}  // namespace alexnet
