#pragma once
// Where the running program lives: files installed beside it (the default model, the imgcodecs
// plugin) and the other tools are found from there.
#include <string>

namespace alexnet {

// The folder of the running executable (from /proc/self/exe); "" when it cannot be read.
std::string executable_dir();

}  // namespace alexnet
