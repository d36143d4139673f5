#pragma once
// Reading a zip archive as PyTorch writes one (torch.save: stored entries, 64-byte aligned data),
// plus deflated entries and zip64 offsets for archives from other writers. Entries are located
// through the central directory; every offset is checked against the file.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

}  // namespace alexnet
