// alexnet-search's index files: the container (safetensors), the metadata, every tensor's shape
// and values, then one search of the rebuilt index.
#include <algorithm>
#include <vector>

#include "fuzz_input.hpp"
#include "search/index_file.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("index");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        IndexFile f = load_index(path);
        if (f.index.size() == 0) return;
        const std::vector<float> query(size_t(f.index.dim()), 0.5f);
        f.index.search(query.data(), 1, 1, 1);
        // every row, every list: the exact widening and the inverted file's scan over all of it
        f.index.search(query.data(), 1, int(std::min<int64_t>(f.index.size(), 1000)), 1 << 20);
    });
    return 0;
}
