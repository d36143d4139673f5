#pragma once
// Writes to a temporary file beside the target and renames it into place on commit(), so a crash
// or an error never leaves a half-written file under the real name.
#include <cstddef>
#include <string>

namespace alexnet {

class AtomicFile {
public:
    explicit AtomicFile(std::string path);
    ~AtomicFile();  // removes the temporary file unless committed
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t bytes);
    void write(const std::string& s) { write(s.data(), s.size()); }
    // Overwrites bytes already written (e.g. a header whose counts are known only at the end).
    void write_at(size_t offset, const void* data, size_t bytes);
    void commit();  // flush, fsync, rename

private:
    std::string path_, tmp_path_;
    int fd_ = -1;
    bool committed_ = false;
};

}  // namespace alexnet
