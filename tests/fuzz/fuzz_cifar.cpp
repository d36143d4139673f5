// CIFAR-10 binary batches, raw or gzip.
#include "data/datasets.hpp"
#include "fuzz_input.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("cifar");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        const ImageSet s = read_cifar10({path});
        volatile unsigned sum = 0;
        for (int i = 0; i < s.count; ++i) sum = sum + s.image(i)[3071] + unsigned(s.labels[size_t(i)]);
    });
    return 0;
}
