#pragma once
// Writes to a temporary file beside the target and renames it into place on commit(), so a crash
// or an error never leaves a half-written file under the real name. The temporary is named
// `<target>.tmp.XXXXXX` and locked (flock) while its writer lives; a writer killed with -9 leaves
// it behind unlocked, and the next write of the same target (or remove_stale_temporaries) removes it.
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
    void commit();  // flush, fsync, rename, fsync the folder (so the rename itself survives a crash)

private:
    std::string path_, tmp_path_;
    int fd_ = -1;
    bool committed_ = false;
};

// Removes the `<path>.tmp.XXXXXX` files that no live writer holds; returns how many.
int remove_stale_temporaries(const std::string& path);

// Error(dir, "cannot write in this folder: <reason>") unless a file can be created in `dir`, so a
// long run fails before its work rather than at its first save.
void check_writable_directory(const std::string& dir);

}  // namespace alexnet
