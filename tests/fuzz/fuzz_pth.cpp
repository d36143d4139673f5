// PyTorch .pth: torch.save's zip (data.pkl + storages) or the legacy stream, through the
// restricted unpickler and the strided tensor reader.
#include "fuzz_input.hpp"
#include "formats/pth.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemoryFile file("pth");
    const std::string path = file.set(data, size);
    fuzz::expect_error_or_success([&] {
        volatile float sum = fuzz::touch_all(read_pth(path));
        (void)sum;
    });
    return 0;
}
