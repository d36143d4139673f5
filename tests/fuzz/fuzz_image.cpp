// Image decoding (JPEG, PNG, WebP, BMP, TIFF: lib/data/decode.cpp, header checks included) and
// preprocessing of the result for three presets: Caffe's warp to 256 and centre 227, torchvision's
// shorter side to 256 with ten crops, and a grey 28x28 network's. The bytes come straight from
// memory (decode_image), as they would from a file.
#include "data/decode.hpp"
#include "data/image.hpp"
#include "fuzz_input.hpp"

using namespace alexnet;

namespace {

Preprocessing torchvision() {
    Preprocessing p;
    p.resize_shorter = true;
    p.crop = 224;
    p.bgr = false;
    return p;
}

Preprocessing grey28() {
    Preprocessing p;
    p.resize = 28;
    p.crop = 28;
    p.channels = 1;
    return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const bool settled = [] {
        DecodeSettings s;
        s.max_pixels = 1 << 24;  // as --max-pixels would: large headers are refused, not decoded
        configure_decoding(s);
        return true;
    }();
    (void)settled;
    static std::vector<float> out(size_t(10) * 3 * 227 * 227);
    const Preprocessing presets[] = {Preprocessing{}, torchvision(), grey28()};
    const CropMode modes[] = {CropMode::center, CropMode::ten, CropMode::center};
    for (int i = 0; i < 3; ++i)
        fuzz::expect_error_or_success([&] {
            const cv::Mat img = decode_image(data, size, "fuzz", size_hint(presets[i]));
            preprocess(img, presets[i], modes[i], out.data());
        });
    return 0;
}
