#pragma once
// Reading a zip archive as PyTorch writes one (torch.save: stored entries, 64-byte aligned data),
// plus deflated entries and zip64 offsets for archives from other writers. Entries are located
// through the central directory; every offset is checked against the file. And writing one the
// same way (ZipWriter, for write_pth).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/mapped_file.hpp"

namespace alexnet {

class ZipArchive {
public:
    explicit ZipArchive(const std::string& path);
    struct Entry {
        std::string name;
        uint16_t method = 0;  // 0 stored, 8 deflate
        uint64_t compressed = 0, size = 0, data_offset = 0;
    };
    const std::vector<Entry>& entries() const { return entries_; }
    const Entry* find_suffix(const std::string& suffix) const;  // the first entry whose name ends so
    // A stored entry's bytes in place (nullptr when it is compressed).
    const uint8_t* stored(const Entry& e) const;
    // Any entry's bytes, inflated when needed.
    std::vector<uint8_t> read(const Entry& e) const;
    std::shared_ptr<void> mapping() const { return file_.mapping(); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    MappedFile file_;
    std::vector<Entry> entries_;
};

// A zip archive of stored (uncompressed) entries written as torch.save writes them: each entry's
// data 64-byte aligned (padded by an extra field), CRC-32 filled in, no zip64 (an archive stays
// under 4 GiB and 65535 entries, or add() throws Error). Written atomically on commit().
class ZipWriter {
public:
    explicit ZipWriter(const std::string& path) : path_(path), file_(path) {}
    void add(const std::string& name, const void* data, size_t bytes);
    void add(const std::string& name, const std::string& data) { add(name, data.data(), data.size()); }
    void commit();  // the central directory, then AtomicFile::commit

private:
    struct Written {
        std::string name;
        uint32_t crc = 0, size = 0, local_offset = 0;
    };
    std::string path_;
    AtomicFile file_;
    uint64_t offset_ = 0;
    std::vector<Written> written_;
};

}  // namespace alexnet
