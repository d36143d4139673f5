#include "formats/zip.hpp"

#include <zlib.h>

#include <cstring>

#include "core/checked_size.hpp"
#include "core/error.hpp"

namespace alexnet {

namespace {

constexpr uint64_t kMaxDeflateRatio = 1032;  // zlib's bound for its best case (long runs of one byte)

uint64_t le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

ZipArchive::ZipArchive(const std::string& path) : path_(path), file_(path) {
    const uint8_t* d = file_.data();
    const uint64_t n = file_.size();
    // End of central directory: 22 bytes plus a comment of up to 65535.
    uint64_t eocd = UINT64_MAX;
    for (uint64_t back = 22; back <= n && back <= 22 + 65535; ++back)
        if (le(d + n - back, 4) == 0x06054b50) {
            eocd = n - back;
            break;
        }
    check(eocd != UINT64_MAX, path, "zip", "an end-of-central-directory record", "none (not a zip archive, or truncated)");
    uint64_t count = le(d + eocd + 10, 2), cd_offset = le(d + eocd + 16, 4);
    if ((count == 0xffff || cd_offset == 0xffffffff) && eocd >= 20 && le(d + eocd - 20, 4) == 0x07064b50) {
        const uint64_t z64 = le(d + eocd - 20 + 8, 8);  // zip64 end of central directory record
        check(span_fits(z64, 56, n) && le(d + z64, 4) == 0x06064b50, path, "zip64 record", "a valid offset",
              std::to_string(z64));
        count = le(d + z64 + 32, 8);
        cd_offset = le(d + z64 + 48, 8);
    }
    uint64_t at = cd_offset;
    for (uint64_t i = 0; i < count; ++i) {
        const std::string entry = "zip central directory entry " + std::to_string(i);
        check(span_fits(at, 46, n) && le(d + at, 4) == 0x02014b50, path, entry, "a file header",
              "damaged data at offset " + std::to_string(at));
        Entry e;
        e.method = uint16_t(le(d + at + 10, 2));
        e.compressed = le(d + at + 20, 4);
        e.size = le(d + at + 24, 4);
        const uint64_t name_len = le(d + at + 28, 2), extra_len = le(d + at + 30, 2), comment_len = le(d + at + 32, 2);
        uint64_t local = le(d + at + 42, 4);
        const uint64_t header_len = 46 + name_len + extra_len + comment_len;  // at most 46 + 3 * 65535
        check(span_fits(at, header_len, n), path, entry, "its name, extra fields and comment", "truncated");
        e.name.assign(reinterpret_cast<const char*>(d + at + 46), name_len);
        // zip64 extra field: the 0xffffffff fields, in order, each only when the field holds it
        const uint8_t* extra = d + at + 46 + name_len;
        for (uint64_t x = 0; x + 4 <= extra_len;) {
            const uint64_t id = le(extra + x, 2), len = le(extra + x + 2, 2);
            check(len <= extra_len - x - 4, path, e.name, "extra fields inside their " + std::to_string(extra_len) + " bytes",
                  "a field of " + std::to_string(len) + " bytes at " + std::to_string(x));
            if (id == 1) {
                uint64_t p = x + 4;
                const uint64_t end = p + len;
                auto field64 = [&](uint64_t& v) {
                    if (v != 0xffffffff) return;
                    check(p + 8 <= end, path, e.name, "a zip64 extra field holding every 0xffffffff size or offset",
                          "a field of " + std::to_string(len) + " bytes");
                    v = le(extra + p, 8);
                    p += 8;
                };
                field64(e.size);
                field64(e.compressed);
                field64(local);
            }
            x += 4 + len;
        }
        check(span_fits(local, 30, n) && le(d + local, 4) == 0x04034b50, path, e.name, "a local file header",
              "damaged data at offset " + std::to_string(local));
        e.data_offset = local + 30 + le(d + local + 26, 2) + le(d + local + 28, 2);  // local + 30 <= n: no overflow
        check(span_fits(e.data_offset, e.compressed, n), path, e.name, "data inside the file",
              std::to_string(e.compressed) + " bytes at offset " + std::to_string(e.data_offset) + " of " +
                  std::to_string(n));
        check(e.method == 0 || e.method == 8, path, e.name, "stored or deflated data",
              "compression method " + std::to_string(e.method));
        check(e.method != 0 || e.compressed == e.size, path, e.name, "equal stored and original sizes",
              std::to_string(e.compressed) + " and " + std::to_string(e.size));
        // deflate cannot compress better than 1032:1; a larger claimed size is a lie (or a bomb)
        check(e.method != 8 || e.size / kMaxDeflateRatio <= e.compressed, path, e.name,
              "at most " + std::to_string(kMaxDeflateRatio) + " times its " + std::to_string(e.compressed) +
                  " compressed bytes",
              std::to_string(e.size) + " bytes");
        entries_.push_back(e);
        at += header_len;
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
