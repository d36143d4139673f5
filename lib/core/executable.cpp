#include "core/executable.hpp"

#include <filesystem>

namespace alexnet {

std::string executable_dir() {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? "" : exe.parent_path().string();
}

}  // namespace alexnet
