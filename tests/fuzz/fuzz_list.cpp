// Path-label lists (the training/evaluation sets' text form) and class-name files.
#include "data/labelled_set.hpp"
#include "data/labels.hpp"
#include "fuzz_input.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("list");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        const LabelledSet s = open_labelled_set(path, Split::train, "/nonexistent-root");
        volatile int classes = s.num_classes();
        (void)classes;
    });
    fuzz::expect_error_or_success([&] { read_labels_file(path); });
    return 0;
}
