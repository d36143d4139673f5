// safetensors: the header (JSON, depth, shapes, offsets), metadata, and load_model's checks.
#include "fuzz_input.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("safetensors");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        volatile float sum = fuzz::touch_all(read_safetensors(path));
        (void)sum;
        load_model(path);
    });
    return 0;
}
