// alexnet-embed's .npy files as alexnet-search reads them: the header (magic, version, length,
// descr, order, shape) and the data's size, then the rows.
#include "formats/npy.hpp"
#include "fuzz_input.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::expect_error_or_success([&] {
        const NpyMatrix m = parse_npy_matrix(data, size, "vectors.npy");
        if (m.values.size() != size_t(m.rows) * size_t(m.dim)) __builtin_trap();
    });
    return 0;
}
