// ONNX: the protobuf reader over ModelProto, initializers (raw and float data), nodes, attributes
// and graph inputs; then the model built from it (load_model: the preset, alexnet-convert's
// metadata_props, the preprocessing checked against the network).
#include "fuzz_input.hpp"
#include "formats/model_file.hpp"
#include "formats/onnx.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("onnx");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        volatile float sum = fuzz::touch_all(read_onnx(path));
        (void)sum;
    });
    fuzz::expect_error_or_success([&] {
        const LoadedModel m = load_model(path);
        volatile size_t n = m.labels.size() + size_t(m.spec.preprocessing.crop);
        (void)n;
    });
    return 0;
}
