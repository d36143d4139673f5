// Caffe .caffemodel: NetParameter with current and V1 layers, blobs and their shapes.
#include "fuzz_input.hpp"
#include "formats/caffe.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("caffemodel");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        volatile float sum = fuzz::touch_all(read_caffemodel(path));
        (void)sum;
    });
    return 0;
}
