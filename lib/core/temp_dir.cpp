#include "core/temp_dir.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "core/error.hpp"
#include "core/signals.hpp"

namespace alexnet {

TempDir::TempDir(const std::string& prefix) {
    std::string name = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!make_temporary_folder(name)) throw Error(name, std::string("cannot create a temporary folder: ") + std::strerror(errno));
    path = name;
}

TempDir::~TempDir() {
    std::error_code ignored;  // a destructor must not throw; what cannot be removed stays
    std::filesystem::remove_all(path, ignored);
    untrack_temporary(path.string());
}

}  // namespace alexnet
