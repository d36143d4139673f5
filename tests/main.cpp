#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

// The test programs live in build/tests; decoding a BMP or TIFF in them loads the build's
// alexnet-imgcodecs.so (the tools find it beside themselves).
int main(int argc, char** argv) {
    setenv("ALEXNET_IMGCODECS", ALEXNET_BIN_DIR "/alexnet-imgcodecs.so", 0);
    return doctest::Context(argc, argv).run();
}
