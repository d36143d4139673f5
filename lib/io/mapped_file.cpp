#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace alexnet {

MappedFile::MappedFile(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) throw Error(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    fstat(fd, &st);
    size_ = size_t(st.st_size);
    if (size_ == 0) {
        close(fd);
        mapping_ = std::make_shared<int>(0);
        static const uint8_t empty = 0;
        data_ = &empty;
        return;
    }
    void* map = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) throw Error(path, std::string("cannot map: ") + std::strerror(errno));
    const size_t n = size_;
    mapping_ = std::shared_ptr<void>(map, [n](void* p) { munmap(p, n); });
    data_ = static_cast<const uint8_t*>(map);
}

}  // namespace alexnet
