#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "core/signals.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTmpInfix = ".tmp.";
constexpr size_t kTmpRandom = 6;  // mkstemp's XXXXXX: letters and digits

std::string folder_of(const std::string& path) {
    const fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? "." : parent.string();
}

bool is_temporary_of(const std::string& name, const std::string& target) {
    const std::string prefix = target + kTmpInfix;
    if (name.size() != prefix.size() + kTmpRandom || name.compare(0, prefix.size(), prefix) != 0) return false;
    for (size_t i = prefix.size(); i < name.size(); ++i)
        if (!std::isalnum(static_cast<unsigned char>(name[i]))) return false;
    return true;
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
    remove_stale_temporaries(path_);
    std::string tmpl = path_ + kTmpInfix + std::string(kTmpRandom, 'X');
    fd_ = make_temporary_file(tmpl);
    if (fd_ < 0) throw Error(path_, std::string("cannot create a file beside it: ") + std::strerror(errno));
    tmp_path_ = tmpl;
    flock(fd_, LOCK_EX | LOCK_NB);  // a fresh file: nobody else holds it; marks it as in use until we exit
    fchmod(fd_, 0644);
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) close(fd_);
    if (!committed_ && !tmp_path_.empty()) unlink(tmp_path_.c_str());
    if (!tmp_path_.empty()) untrack_temporary(tmp_path_);
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
    if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        throw Error(path_, std::string("rename failed: ") + std::strerror(errno));
    committed_ = true;
    close(fd_);  // after the rename: the lock holds until the temporary has its real name
    fd_ = -1;
    // The rename is an entry in the folder: without this a power loss can bring back the old file.
    const int dir = open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);  // best effort: some file systems refuse fsync on folders (EINVAL)
        close(dir);
    }
}

int remove_stale_temporaries(const std::string& path) {
    const std::string dir = folder_of(path), target = fs::path(path).filename().string();
    std::error_code ec;
    int removed = 0;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!is_temporary_of(name, target)) continue;
        const int fd = open(it->path().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st {};
        // Unlocked: its writer is gone (locks die with their process). Locked: a live writer's.
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            unlink(it->path().c_str()) == 0)
            ++removed;
        close(fd);
    }
    return removed;
}

void check_writable_directory(const std::string& dir) {
    std::string probe = (fs::path(dir) / ".alexnet-write-check.XXXXXX").string();
    const int fd = make_temporary_file(probe);
    if (fd < 0) throw Error(dir, std::string("cannot write in this folder: ") + std::strerror(errno));
    close(fd);
    unlink(probe.c_str());
    untrack_temporary(probe);
}

}  // namespace alexnet
