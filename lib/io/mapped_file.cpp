#include "io/mapped_file.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/regular_file.hpp"

namespace alexnet {

MappedFile::MappedFile(const std::string& path) {
    const FileDescriptor fd = open_regular_file(path);
    size_ = size_t(fd.size());
    if (size_ == 0) {
        mapping_ = std::make_shared<int>(0);
        static const uint8_t empty = 0;
        data_ = &empty;
        return;
    }
    void* map = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (map == MAP_FAILED) throw Error(path, std::string("cannot map: ") + std::strerror(errno));
    const size_t n = size_;
    mapping_ = std::shared_ptr<void>(map, [n](void* p) { munmap(p, n); });
    data_ = static_cast<const uint8_t*>(map);
}

}  // namespace alexnet
