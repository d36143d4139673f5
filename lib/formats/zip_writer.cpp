#include <zlib.h>

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "formats/zip.hpp"

namespace alexnet {

namespace {

constexpr uint64_t kDataAlignment = 64;   // torch.save aligns each record so it can be mapped
constexpr uint16_t kPaddingField = 0x4246;  // "FB": the extra field torch.save pads with
constexpr uint16_t kVersion = 20;         // zip 2.0: stored entries, no zip64
constexpr uint64_t kMaxZip32 = std::numeric_limits<uint32_t>::max();
constexpr size_t kMaxEntries = std::numeric_limits<uint16_t>::max();

void put(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += char(uint8_t(v >> (8 * i)));
}

}  // namespace

void ZipWriter::add(const std::string& name, const void* data, size_t bytes) {
    check(written_.size() < kMaxEntries && bytes <= kMaxZip32 && name.size() < 0xffff, path_, name,
          "at most 65535 entries of under 4 GiB each (no zip64)", std::to_string(bytes) + " bytes");
    const uint64_t header = 30 + name.size();
    const uint64_t pad = (kDataAlignment - (offset_ + header + 4) % kDataAlignment) % kDataAlignment;
    const uint64_t end = offset_ + header + 4 + pad + bytes;
    check(end <= kMaxZip32, path_, name, "an archive under 4 GiB (no zip64)", std::to_string(end) + " bytes");
    // crc32 takes a uInt count per call: feed it in 1 GiB steps
    const auto* p = static_cast<const Bytef*>(data);
    uLong crc = crc32(0, nullptr, 0);
    for (size_t done = 0; done < bytes;) {
        const size_t n = std::min<size_t>(bytes - done, size_t(1) << 30);
        crc = crc32(crc, p + done, uInt(n));
        done += n;
    }
    const Written w{name, uint32_t(crc), uint32_t(bytes), uint32_t(offset_)};
    std::string local;
    put(local, 0x04034b50, 4);
    put(local, kVersion, 2);
    put(local, 0, 2);  // flags
    put(local, 0, 2);  // stored
    put(local, 0, 4);  // time and date: none, so the same weights give the same bytes
    put(local, w.crc, 4);
    put(local, bytes, 4);
    put(local, bytes, 4);
    put(local, name.size(), 2);
    put(local, 4 + pad, 2);
    local += name;
    put(local, kPaddingField, 2);
    put(local, pad, 2);
    local.append(size_t(pad), 'Z');
    file_.write(local);
    file_.write(data, bytes);
    offset_ = end;
    written_.push_back(w);
}

void ZipWriter::commit() {
    std::string cd;
    for (const Written& w : written_) {
        put(cd, 0x02014b50, 4);
        put(cd, kVersion, 2);  // made by
        put(cd, kVersion, 2);  // needed
        put(cd, 0, 2);
        put(cd, 0, 2);
        put(cd, 0, 4);
        put(cd, w.crc, 4);
        put(cd, w.size, 4);
        put(cd, w.size, 4);
        put(cd, w.name.size(), 2);
        put(cd, 0, 2);  // extra
        put(cd, 0, 2);  // comment
        put(cd, 0, 2);  // disk
        put(cd, 0, 2);  // internal attributes
        put(cd, 0, 4);  // external attributes
        put(cd, w.local_offset, 4);
        cd += w.name;
    }
    const uint64_t cd_size = cd.size();
    check(offset_ + cd_size + 22 <= kMaxZip32, path_, "zip", "an archive under 4 GiB (no zip64)",
          std::to_string(offset_ + cd.size() + 22) + " bytes");
    put(cd, 0x06054b50, 4);
    put(cd, 0, 2);
    put(cd, 0, 2);
    put(cd, written_.size(), 2);
    put(cd, written_.size(), 2);
    put(cd, cd_size, 4);
    put(cd, offset_, 4);
    put(cd, 0, 2);  // comment
    file_.write(cd);
    file_.commit();
}

}  // namespace alexnet
