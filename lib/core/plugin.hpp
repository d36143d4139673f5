#pragma once
// Parts of the tools that pull in many shared libraries but are needed by few runs live in
// plugins loaded with dlopen on first use, so every other run starts without mapping them:
// alexnet-imgcodecs.so (OpenCV's imgcodecs, for BMP and TIFF) and alexnet-mpi.so (Open MPI, only
// under mpirun). Each exports one C function.
#include <string>

namespace alexnet {

struct PluginSymbol {
    void* address = nullptr;  // null when it could not be loaded
    std::string failure;      // why, for the caller's message: "X not found (looked for A, B)"
};

// `symbol` from plugin `file`, found at $`env_var` (the test programs set it), beside the
// executable (the build tree), or in PREFIX/LIBDIR/alexnet (installed). `global`: the plugin's
// libraries are made visible to the modules they dlopen themselves (Open MPI's components need it).
// Loaded once per process; never unloaded.
PluginSymbol plugin_symbol(const std::string& file, const char* env_var, const char* symbol, bool global = false);

}  // namespace alexnet
