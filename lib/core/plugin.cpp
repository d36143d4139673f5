#include "core/plugin.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "core/executable.hpp"

namespace alexnet {

PluginSymbol plugin_symbol(const std::string& file, const char* env_var, const char* symbol, bool global) {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv(env_var)) candidates.push_back(env);
    const std::string exe = executable_dir();
    if (!exe.empty()) {
        candidates.push_back(exe + "/" + file);
        candidates.push_back(exe + "/../" ALEXNET_LIBDIR "/alexnet/" + file);
    }
    std::string tried;
    for (const auto& path : candidates) {
        if (::access(path.c_str(), R_OK) != 0) {
            tried += (tried.empty() ? "" : ", ") + path;
            continue;
        }
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
        if (!handle) return {nullptr, ::dlerror()};
        void* address = ::dlsym(handle, symbol);
        if (!address) return {nullptr, path + " has no " + symbol};
        return {address, ""};
    }
    return {nullptr, file + " not found (looked for " + tried + ")"};
}

}  // namespace alexnet
