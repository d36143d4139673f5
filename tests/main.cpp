#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>

#include "test_util.hpp"

namespace alexnet::test {
std::vector<std::string>& cpu_skips() {
    static std::vector<std::string> skips;
    return skips;
}
}  // namespace alexnet::test

// CTest's SKIP_RETURN_CODE (tests/CMakeLists.txt): nothing failed, but a case could not run here.
constexpr int kSkipped = 77;

// The test programs live in build/tests; decoding a BMP or TIFF in them loads the build's
// alexnet-imgcodecs.so, and one under mpirun alexnet-mpi.so (the tools find them beside themselves).
int main(int argc, char** argv) {
    setenv("ALEXNET_IMGCODECS", ALEXNET_BIN_DIR "/alexnet-imgcodecs.so", 0);
    setenv("ALEXNET_MPI", ALEXNET_BIN_DIR "/alexnet-mpi.so", 0);
    const int result = doctest::Context(argc, argv).run();
    const auto& skips = alexnet::test::cpu_skips();
    if (result != 0 || skips.empty()) return result;
    for (const auto& why : skips) std::cerr << "skipped: " << why << "\n";
    return kSkipped;
}
