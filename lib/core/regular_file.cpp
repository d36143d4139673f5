#include "core/regular_file.hpp"

#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace alexnet {

namespace {

std::string file_type(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

// Reads up to `n` bytes at the current position; fewer only at the end of the file.
size_t read_fully(int fd, uint8_t* out, size_t n, const std::string& path) {
    size_t got = 0;
    while (got < n) {
        const ssize_t r = ::read(fd, out + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw Error(path, std::string("cannot read: ") + std::strerror(errno));
        if (r == 0) break;
        got += size_t(r);
    }
    return got;
}

template <class Bytes>
Bytes read_whole(const std::string& path, uint64_t max_bytes, const std::string& what) {
    const FileDescriptor fd = open_regular_file(path);
    const uint64_t size = fd.size();
    if (size > max_bytes)
        throw Error(path, "file size", "at most " + std::to_string(max_bytes) + " bytes for " + what,
                    std::to_string(size) + " bytes");
    Bytes out(size_t(size), 0);
    out.resize(read_fully(fd.get(), reinterpret_cast<uint8_t*>(out.data()), out.size(), path));
    return out;
}

}  // namespace

FileDescriptor::~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
}

uint64_t FileDescriptor::size() const {
    struct stat st {};
    fstat(fd_, &st);
    return uint64_t(st.st_size);
}

FileDescriptor open_regular_file(const std::string& path) {
    // O_NONBLOCK: opening a FIFO without a writer would otherwise wait for one.
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) throw Error(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) throw Error(path, std::string("cannot read: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw Error(path, "file type", "a regular file", file_type(st.st_mode));
    fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    return fd;
}

std::vector<uint8_t> read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
    return read_whole<std::vector<uint8_t>>(path, max_bytes, what);
}

std::string read_text_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
    return read_whole<std::string>(path, max_bytes, what);
}

std::string read_file_head(const std::string& path, size_t n) {
    const FileDescriptor fd = open_regular_file(path);
    std::string out(n, '\0');
    out.resize(read_fully(fd.get(), reinterpret_cast<uint8_t*>(out.data()), n, path));
    return out;
}

bool path_exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

bool is_folder(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_directory(path, ec);
}

}  // namespace alexnet
