#pragma once
// Opening the files users name (weights, lists, data sets, images): only regular files are read.
// A FIFO with no writer would block forever, a device or /dev/zero never ends, a directory is no
// data: each is refused at once with Error(path, "file type", "a regular file", "a FIFO (named
// pipe)"). ("-" for stdin is the caller's business.) The file is opened without blocking, checked
// with fstat on the same descriptor, and only then read.
#include <cstdint>
#include <string>
#include <vector>

namespace alexnet {

// An open descriptor, closed at scope end.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor();
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    FileDescriptor(FileDescriptor&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    int get() const { return fd_; }
    uint64_t size() const;  // from fstat

private:
    int fd_;
};

// A regular file opened read-only; Error(path, "cannot open: <reason>") or the file type error.
FileDescriptor open_regular_file(const std::string& path);

// The whole file; Error(path, "file size", "at most <max_bytes> bytes for <what>", ...) when larger.
std::vector<uint8_t> read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what);
std::string read_text_file(const std::string& path, uint64_t max_bytes, const std::string& what);

// Whether `path` names something / a folder; false also when it cannot be looked at (no
// permission, a name too long): never throws, unlike std::filesystem's one-argument forms.
bool path_exists(const std::string& path);
bool is_folder(const std::string& path);

// Up to the first `n` bytes (fewer when the file is shorter).
std::string read_file_head(const std::string& path, size_t n);

}  // namespace alexnet
