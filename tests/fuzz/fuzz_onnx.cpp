// ONNX: the protobuf reader over ModelProto, initializers (raw and float data), nodes, attributes
// and graph inputs.
#include "fuzz_input.hpp"
#include "formats/onnx.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("onnx");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        volatile float sum = fuzz::touch_all(read_onnx(path));
        (void)sum;
    });
    return 0;
}
