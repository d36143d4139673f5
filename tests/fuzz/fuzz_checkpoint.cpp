// A training checkpoint's metadata (the "checkpoint" JSON): its state fields, and the run options
// a resumed run takes from it.
#include "fuzz_input.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

using namespace alexnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    fuzz::expect_error_or_success([&] {
        nlohmann::json options;
        const TrainState s = parse_checkpoint_state(text, "last.safetensors", options);
        TrainOptions o;
        apply_checkpoint_options(options, "last.safetensors", o);
        check_resume_position(s, 8, o.batch, "last.safetensors");
    });
    return 0;
}
