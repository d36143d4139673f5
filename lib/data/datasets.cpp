#include "data/datasets.hpp"

#include <zlib.h>

#include <algorithm>

#include "core/checked_size.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"

namespace alexnet {

namespace {

uint32_t read_be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

// A gzip stream is read one byte past `expected` at most, so beyond that its size is unknown.
std::string bytes_found(const DataFile& f, uint64_t expected) {
    const uint64_t got = f.size();
    return f.gzip() && got > expected ? "more than " + std::to_string(expected) + " bytes" : std::to_string(got) + " bytes";
}

}  // namespace

DataFile::DataFile(const std::string& path) : path_(path) {
    in_ = read_regular_file(path, kMaxInMemoryBytes, "a data set file held in memory");
    gzip_ = in_.size() >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
    if (!gzip_) {
        declared_ = in_.size();
        return;
    }
    if (in_.size() >= 18)  // ISIZE, the last 4 bytes of a gzip member: the original size modulo 2^32
        declared_ = uint64_t(in_[in_.size() - 4]) | uint64_t(in_[in_.size() - 3]) << 8 |
                    uint64_t(in_[in_.size() - 2]) << 16 | uint64_t(in_[in_.size() - 1]) << 24;
    z_ = std::make_unique<z_stream>();
    if (inflateInit2(z_.get(), 16 + MAX_WBITS) != Z_OK) throw Error(path, "gzip: cannot initialise zlib");
    z_->next_in = in_.data();
    z_->avail_in = uInt(std::min<uint64_t>(in_.size(), UINT32_MAX));
}

DataFile::~DataFile() {
    if (z_) inflateEnd(z_.get());
}

const std::vector<uint8_t>& DataFile::read(uint64_t n) {
    if (!gzip_) return in_;
    while (!ended_ && out_.size() < n) {
        // grow step by step: memory follows what the stream really holds, not what a header claims
        const uint64_t want = std::min<uint64_t>(n, std::max<uint64_t>(uint64_t(1) << 16, 2 * uint64_t(out_.size())));
        const size_t before = out_.size();
        out_.resize(size_t(want));
        z_->next_out = out_.data() + before;
        z_->avail_out = uInt(want - before);
        const int rc = inflate(z_.get(), Z_NO_FLUSH);
        out_.resize(size_t(want - z_->avail_out));
        if (rc == Z_STREAM_END) {
            ended_ = true;
        } else if (rc != Z_OK) {
            const std::string why = rc == Z_BUF_ERROR ? "a truncated stream" : (z_->msg ? z_->msg : "corrupt data");
            throw Error(path_, "gzip data", "a complete gzip stream", why);
        }
    }
    return out_;
}

uint64_t DataFile::size() const { return gzip_ ? out_.size() : in_.size(); }

ImageSet read_idx(const std::string& images_path, const std::string& labels_path) {
    DataFile img(images_path), lab(labels_path);
    const std::vector<uint8_t>& img_head = img.read(16);
    check(img_head.size() >= 16, images_path, "IDX header", "16 bytes", std::to_string(img_head.size()) + " bytes");
    check(read_be32(img_head.data()) == 0x803, images_path, "IDX magic", "0x00000803 (unsigned bytes, 3 dimensions)",
          hex(read_be32(img_head.data())));
    const std::vector<uint8_t>& lab_head = lab.read(8);
    check(lab_head.size() >= 8, labels_path, "IDX header", "8 bytes", std::to_string(lab_head.size()) + " bytes");
    check(read_be32(lab_head.data()) == 0x801, labels_path, "IDX magic", "0x00000801 (unsigned bytes, 1 dimension)",
          hex(read_be32(lab_head.data())));
    ImageSet s;
    const uint32_t n = read_be32(img_head.data() + 4), h = read_be32(img_head.data() + 8), w = read_be32(img_head.data() + 12);
    check(h > 0 && w > 0 && h <= 4096 && w <= 4096, images_path, "image size", "1..4096 per side",
          std::to_string(h) + "x" + std::to_string(w));
    check(n <= uint32_t(INT32_MAX), images_path, "image count", "at most " + std::to_string(INT32_MAX), std::to_string(n));
    const uint64_t expected = 16 + uint64_t(n) * h * w;  // < 2^31 * 2^24 + 16: no overflow
    const std::string what = std::to_string(expected) + " bytes for " + std::to_string(n) + " images of " +
                             std::to_string(h) + "x" + std::to_string(w);
    check(expected <= kMaxInMemoryBytes, images_path, "file size",
          "at most " + std::to_string(kMaxInMemoryBytes) + " bytes (data sets read into memory)", what);
    // The header says how much follows: a gzip stream is decompressed that far and one byte more.
    const std::vector<uint8_t>& pixels = img.read(expected + 1);
    check(pixels.size() == expected, images_path, "file size", what, bytes_found(img, expected));
    const uint32_t nl = read_be32(lab_head.data() + 4);
    check(nl == n, labels_path, "label count", std::to_string(n) + " (the image count)", std::to_string(nl));
    const uint64_t lab_expected = 8 + uint64_t(n);
    const std::vector<uint8_t>& labels = lab.read(lab_expected + 1);
    check(labels.size() == lab_expected, labels_path, "file size", std::to_string(lab_expected) + " bytes",
          bytes_found(lab, lab_expected));
    s.count = int(n);
    s.channels = 1;
    s.height = int(h);
    s.width = int(w);
    s.pixels.assign(pixels.begin() + 16, pixels.end());
    s.labels.assign(labels.begin() + 8, labels.end());
    return s;
}

ImageSet read_cifar10(const std::vector<std::string>& batch_files) {
    constexpr uint64_t kRecord = 1 + 3 * 32 * 32;
    ImageSet s;
    s.channels = 3;
    s.height = s.width = 32;
    uint64_t total = 0;
    for (const auto& path : batch_files) {
        DataFile f(path);
        // CIFAR has no header: the size comes from the file, or from the gzip trailer before decompressing
        const uint64_t declared = f.declared_size();
        const std::string expected = "a multiple of " + std::to_string(kRecord) + " bytes (1 label + 3072 pixels per record)";
        check(declared > 0 && declared % kRecord == 0, path, "file size", expected,
              std::to_string(declared) + " bytes" + (f.gzip() ? " (as its gzip trailer says; a damaged file?)" : ""));
        total = checked_add(total, declared, path, "file size");
        check(total <= kMaxInMemoryBytes, path, "file size",
              "at most " + std::to_string(kMaxInMemoryBytes) + " bytes in all (data sets read into memory)",
              std::to_string(total) + " bytes");
        const std::vector<uint8_t>& bytes = f.read(declared + 1);
        check(bytes.size() == declared, path, "file size", std::to_string(declared) + " bytes (as its gzip trailer says)",
              bytes_found(f, declared));
        for (size_t r = 0; r < bytes.size() / kRecord; ++r) {
            const uint8_t* rec = bytes.data() + r * kRecord;
            check(rec[0] < 10, path, "label of record " + std::to_string(r), "0..9", std::to_string(rec[0]));
            s.labels.push_back(rec[0]);
            s.pixels.insert(s.pixels.end(), rec + 1, rec + kRecord);
        }
    }
    check(s.labels.size() <= size_t(INT32_MAX), batch_files.front(), "records", "at most " + std::to_string(INT32_MAX),
          std::to_string(s.labels.size()));
    s.count = int(s.labels.size());
    return s;
}

}  // namespace alexnet
