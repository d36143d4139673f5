// IDX images + labels, raw or gzip. The input's first byte chooses where it splits into the
// labels file (first part) and the images file (the rest).
#include "data/datasets.hpp"
#include "fuzz_input.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile labels("labels"), images("images");
    if (size < 1) return 0;
    const size_t split = std::min<size_t>(size - 1, 8 + data[0]);
    const std::string lab = labels.set(data + 1, split), img = images.set(data + 1 + split, size - 1 - split);
    fuzz::expect_error_or_success([&] {
        const ImageSet s = read_idx(img, lab);
        volatile unsigned sum = 0;
        for (int i = 0; i < s.count; ++i) sum = sum + s.image(i)[size_t(s.height) * s.width - 1] + unsigned(s.labels[size_t(i)]);
    });
    return 0;
}
