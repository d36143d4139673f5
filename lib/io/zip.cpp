#include "io/zip.hpp"

#include <zlib.h>

#include <cstring>

#include "core/error.hpp"

namespace alexnet {

namespace {

uint64_t le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

ZipArchive::ZipArchive(const std::string& path) : path_(path), file_(path) {
    const uint8_t* d = file_.data();
    const size_t n = file_.size();
    // End of central directory: 22 bytes plus a comment of up to 65535.
    size_t eocd = std::string::npos;
    for (size_t back = 22; back <= n && back <= 22 + 65535; ++back)
        if (le(d + n - back, 4) == 0x06054b50) {
            eocd = n - back;
            break;
        }
    check(eocd != std::string::npos, path, "zip", "an end-of-central-directory record", "none (not a zip archive, or truncated)");
    uint64_t count = le(d + eocd + 10, 2), cd_offset = le(d + eocd + 16, 4);
    if ((count == 0xffff || cd_offset == 0xffffffff) && eocd >= 20 && le(d + eocd - 20, 4) == 0x07064b50) {
        const uint64_t z64 = le(d + eocd - 20 + 8, 8);  // zip64 end of central directory record
        check(z64 + 56 <= n && le(d + z64, 4) == 0x06064b50, path, "zip64 record", "a valid offset", std::to_string(z64));
        count = le(d + z64 + 32, 8);
        cd_offset = le(d + z64 + 48, 8);
    }
    uint64_t at = cd_offset;
    for (uint64_t i = 0; i < count; ++i) {
        check(at + 46 <= n && le(d + at, 4) == 0x02014b50, path, "zip central directory entry " + std::to_string(i),
              "a file header", "damaged data at offset " + std::to_string(at));
        Entry e;
        e.method = uint16_t(le(d + at + 10, 2));
        e.compressed = le(d + at + 20, 4);
        e.size = le(d + at + 24, 4);
        const uint64_t name_len = le(d + at + 28, 2), extra_len = le(d + at + 30, 2), comment_len = le(d + at + 32, 2);
        uint64_t local = le(d + at + 42, 4);
        check(at + 46 + name_len + extra_len <= n, path, "zip central directory entry " + std::to_string(i), "its name",
              "truncated");
        e.name.assign(reinterpret_cast<const char*>(d + at + 46), name_len);
        // zip64 extra field: the 0xffffffff fields, in order
        for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
            const uint64_t id = le(d + x, 2), len = le(d + x + 2, 2);
            if (id == 1) {
                uint64_t p = x + 4;
                if (e.size == 0xffffffff) e.size = le(d + p, 8), p += 8;
                if (e.compressed == 0xffffffff) e.compressed = le(d + p, 8), p += 8;
                if (local == 0xffffffff) local = le(d + p, 8);
            }
            x += 4 + len;
        }
        check(local + 30 <= n && le(d + local, 4) == 0x04034b50, path, e.name, "a local file header",
              "damaged data at offset " + std::to_string(local));
        e.data_offset = local + 30 + le(d + local + 26, 2) + le(d + local + 28, 2);
        check(e.data_offset + e.compressed <= n, path, e.name, "data inside the file",
              std::to_string(e.compressed) + " bytes at offset " + std::to_string(e.data_offset) + " of " +
                  std::to_string(n));
        check(e.method == 0 || e.method == 8, path, e.name, "stored or deflated data",
              "compression method " + std::to_string(e.method));
        check(e.method != 0 || e.compressed == e.size, path, e.name, "equal stored and original sizes",
              std::to_string(e.compressed) + " and " + std::to_string(e.size));
        entries_.push_back(e);
        at += 46 + name_len + extra_len + comment_len;
    }
}

const ZipArchive::Entry* ZipArchive::find_suffix(const std::string& suffix) const {
    for (const auto& e : entries_)
        if (e.name.size() >= suffix.size() && e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0)
            return &e;
    return nullptr;
}

const uint8_t* ZipArchive::stored(const Entry& e) const { return e.method == 0 ? file_.data() + e.data_offset : nullptr; }

std::vector<uint8_t> ZipArchive::read(const Entry& e) const {
    const uint8_t* src = file_.data() + e.data_offset;
    if (e.method == 0) return {src, src + e.size};
    std::vector<uint8_t> out(e.size);
    z_stream z{};
    check(inflateInit2(&z, -MAX_WBITS) == Z_OK, path_, e.name, "zlib", "initialisation failure");
    z.next_in = const_cast<uint8_t*>(src);
    z.avail_in = uInt(e.compressed);
    z.next_out = out.data();
    z.avail_out = uInt(out.size());
    const int rc = inflate(&z, Z_FINISH);
    const uint64_t produced = z.total_out;
    inflateEnd(&z);
    check(rc == Z_STREAM_END && produced == e.size, path_, e.name, std::to_string(e.size) + " bytes of deflated data",
          "damaged data");
    return out;
}

}  // namespace alexnet
