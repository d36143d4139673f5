// Caffe's prototxt (protobuf text format): tokens, quotes, comments, nesting.
#include "fuzz_input.hpp"
#include "formats/caffe.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    fuzz::expect_error_or_success([&] { prototxt_layer_types(text, "fuzz.prototxt"); });
    return 0;
}
