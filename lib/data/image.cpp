#include "data/image.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "core/error.hpp"

namespace alexnet {

CropMode parse_crop_mode(const std::string& text) {
    if (text == "center") return CropMode::center;
    if (text == "ten") return CropMode::ten;
    throw Error("--crop", "", "center or ten", "'" + text + "'");
}

int crops_per_image(CropMode mode) { return mode == CropMode::ten ? 10 : 1; }

cv::Mat resize_for(const cv::Mat& bgr, const Preprocessing& p) {
    int w = p.resize, h = p.resize;
    if (p.resize_shorter) {  // torchvision: the long side is int(size * long / short)
        const int64_t long_side_cap = int64_t(p.resize) * kMaxResizedAspect;  // a 1x20000 strip: not 256x5120000
        if (bgr.cols <= bgr.rows)
            h = int(std::min(int64_t(p.resize) * bgr.rows / bgr.cols, long_side_cap));
        else
            w = int(std::min(int64_t(p.resize) * bgr.cols / bgr.rows, long_side_cap));
    }
    if (w == bgr.cols && h == bgr.rows) return bgr;
    const bool shrinking = w <= bgr.cols && h <= bgr.rows;
    cv::Mat out;
    cv::resize(bgr, out, cv::Size(w, h), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    return out;
}

int center_offset(int size, int crop, bool torchvision_rounding) {
    if (!torchvision_rounding) return (size - crop) / 2;
    return int(std::nearbyint((size - crop) / 2.0));  // Python's round(): halves to even
}

namespace {

// `img` is 8-bit BGR, or 8-bit grey when p.channels == 1.
void write_crop(const cv::Mat& img, int x0, int y0, bool mirror, const Preprocessing& p, float* out) {
    const int crop = p.crop, channels = p.channels;
    const int64_t plane = int64_t(crop) * crop;
    float scale[3], shift[3];
    for (int c = 0; c < channels; ++c) {
        scale[c] = p.pixel_scale / 255.f / p.std[c];
        shift[c] = p.mean[c] / p.std[c];
    }
    for (int y = 0; y < crop; ++y) {
        const uint8_t* row = img.ptr<uint8_t>(y0 + y);
        for (int x = 0; x < crop; ++x) {
            const uint8_t* px = row + channels * (x0 + (mirror ? crop - 1 - x : x));
            for (int c = 0; c < channels; ++c) {
                const uint8_t v = channels == 1 ? px[0] : px[p.bgr ? c : 2 - c];  // OpenCV pixels are BGR
                out[c * plane + int64_t(y) * crop + x] = float(v) * scale[c] - shift[c];
            }
        }
    }
}

}  // namespace

void preprocess(const cv::Mat& bgr, const Preprocessing& p, CropMode mode, float* out) {
    check(p.channels == 1 || p.channels == 3, "preprocessing", "channels", "1 or 3", std::to_string(p.channels));
    check(bgr.type() == CV_8UC3 || bgr.type() == CV_8UC1, "preprocessing", "image", "8-bit BGR or grey",
          "OpenCV type " + std::to_string(bgr.type()));
    cv::Mat converted = bgr;
    if (p.channels == 1 && bgr.channels() == 3) cv::cvtColor(bgr, converted, cv::COLOR_BGR2GRAY);  // exact when R=G=B
    if (p.channels == 3 && bgr.channels() == 1) cv::cvtColor(bgr, converted, cv::COLOR_GRAY2BGR);
    const cv::Mat img = resize_for(converted, p);
    const int crop = p.crop;
    if (img.cols < crop || img.rows < crop)
        throw Error("preprocessing", "crop", "at most the resized size " + std::to_string(img.cols) + "x" +
                                                 std::to_string(img.rows),
                    std::to_string(crop));
    const int64_t stride = p.channels * int64_t(crop) * crop;
    const int cx = center_offset(img.cols, crop, p.resize_shorter);
    const int cy = center_offset(img.rows, crop, p.resize_shorter);
    if (mode == CropMode::center) {
        write_crop(img, cx, cy, false, p, out);
        return;
    }
    const int rx = img.cols - crop, by = img.rows - crop;
    const int xs[5] = {cx, 0, rx, 0, rx}, ys[5] = {cy, 0, 0, by, by};
    for (int m = 0; m < 2; ++m)
        for (int i = 0; i < 5; ++i) write_crop(img, xs[i], ys[i], m == 1, p, out + (m * 5 + i) * stride);
}

}  // namespace alexnet
