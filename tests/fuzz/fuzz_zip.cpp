// The zip reader: end record, zip64 records and extra fields, local headers, stored and deflated
// entries.
#include "fuzz_input.hpp"
#include "formats/zip.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("zip");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        const ZipArchive zip(path);
        for (const auto& e : zip.entries()) {
            if (e.size > (uint64_t(1) << 24)) continue;  // big but honest entries only cost time
            volatile size_t n = zip.read(e).size();
            (void)n;
        }
    });
    return 0;
}
