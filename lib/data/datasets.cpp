#include "data/datasets.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace alexnet {

namespace {

uint32_t read_be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

}  // namespace

std::vector<uint8_t> read_file_maybe_gzip(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, std::string("cannot open: ") + std::strerror(errno));
    std::vector<uint8_t> raw((std::istreambuf_iterator<char>(in)), {});
    if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;

    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error(path, "gzip: cannot initialise zlib");
    std::vector<uint8_t> out(raw.size() * 4);
    z.next_in = raw.data();
    z.avail_in = uInt(raw.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (z.total_out == out.size()) out.resize(out.size() * 2);
        z.next_out = out.data() + z.total_out;
        z.avail_out = uInt(out.size() - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            const std::string why = rc == Z_BUF_ERROR ? "a truncated stream" : (z.msg ? z.msg : "corrupt data");
            inflateEnd(&z);
            throw Error(path, "gzip data", "a complete gzip stream", why);
        }
    }
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
}

ImageSet read_idx(const std::string& images_path, const std::string& labels_path) {
    const std::vector<uint8_t> img = read_file_maybe_gzip(images_path);
    const std::vector<uint8_t> lab = read_file_maybe_gzip(labels_path);
    check(img.size() >= 16, images_path, "IDX header", "16 bytes", std::to_string(img.size()) + " bytes");
    check(read_be32(img.data()) == 0x803, images_path, "IDX magic", "0x00000803 (unsigned bytes, 3 dimensions)",
          hex(read_be32(img.data())));
    check(lab.size() >= 8, labels_path, "IDX header", "8 bytes", std::to_string(lab.size()) + " bytes");
    check(read_be32(lab.data()) == 0x801, labels_path, "IDX magic", "0x00000801 (unsigned bytes, 1 dimension)",
          hex(read_be32(lab.data())));
    ImageSet s;
    const uint32_t n = read_be32(img.data() + 4), h = read_be32(img.data() + 8), w = read_be32(img.data() + 12);
    check(h > 0 && w > 0 && h <= 4096 && w <= 4096, images_path, "image size", "1..4096 per side",
          std::to_string(h) + "x" + std::to_string(w));
    const uint64_t expected = 16 + uint64_t(n) * h * w;
    check(img.size() == expected, images_path, "file size",
          std::to_string(expected) + " bytes for " + std::to_string(n) + " images of " + std::to_string(h) + "x" +
              std::to_string(w),
          std::to_string(img.size()) + " bytes");
    const uint32_t nl = read_be32(lab.data() + 4);
    check(nl == n, labels_path, "label count", std::to_string(n) + " (the image count)", std::to_string(nl));
    check(lab.size() == 8 + uint64_t(n), labels_path, "file size", std::to_string(8 + uint64_t(n)) + " bytes",
          std::to_string(lab.size()) + " bytes");
    s.count = int(n);
    s.channels = 1;
    s.height = int(h);
    s.width = int(w);
    s.pixels.assign(img.begin() + 16, img.end());
    s.labels.assign(lab.begin() + 8, lab.end());
    return s;
}

ImageSet read_cifar10(const std::vector<std::string>& batch_files) {
    constexpr size_t kRecord = 1 + 3 * 32 * 32;
    ImageSet s;
    s.channels = 3;
    s.height = s.width = 32;
    for (const auto& path : batch_files) {
        const std::vector<uint8_t> bytes = read_file_maybe_gzip(path);
        check(!bytes.empty() && bytes.size() % kRecord == 0, path, "file size",
              "a multiple of " + std::to_string(kRecord) + " bytes (1 label + 3072 pixels per record)",
              std::to_string(bytes.size()) + " bytes");
        for (size_t r = 0; r < bytes.size() / kRecord; ++r) {
            const uint8_t* rec = bytes.data() + r * kRecord;
            check(rec[0] < 10, path, "label of record " + std::to_string(r), "0..9", std::to_string(rec[0]));
            s.labels.push_back(rec[0]);
            s.pixels.insert(s.pixels.end(), rec + 1, rec + kRecord);
        }
    }
    s.count = int(s.labels.size());
    return s;
}

}  // namespace alexnet
