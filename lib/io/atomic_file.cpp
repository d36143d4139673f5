#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"

namespace alexnet {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
    std::string tmpl = path_ + ".tmp.XXXXXX";
    fd_ = mkstemp(tmpl.data());
    if (fd_ < 0) throw Error(path_, std::string("cannot create a file beside it: ") + std::strerror(errno));
    tmp_path_ = tmpl;
    fchmod(fd_, 0644);
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) close(fd_);
    if (!committed_ && !tmp_path_.empty()) unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::write(fd_, p, bytes);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error(path_, std::string("write failed: ") + std::strerror(errno));
        p += n;
        bytes -= size_t(n);
    }
}

void AtomicFile::write_at(size_t offset, const void* data, size_t bytes) {
    if (pwrite(fd_, data, bytes, off_t(offset)) != ssize_t(bytes))
        throw Error(path_, std::string("write failed: ") + std::strerror(errno));
}

void AtomicFile::commit() {
    if (fsync(fd_) != 0) throw Error(path_, std::string("fsync failed: ") + std::strerror(errno));
    close(fd_);
    fd_ = -1;
    if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        throw Error(path_, std::string("rename failed: ") + std::strerror(errno));
    committed_ = true;
}

}  // namespace alexnet
