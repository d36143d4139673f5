#include "data/image.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/error.hpp"

namespace alexnet {

CropMode parse_crop_mode(const std::string& text) {
    if (text == "center") return CropMode::center;
    if (text == "ten") return CropMode::ten;
    throw Error("--crop", "", "center or ten", "'" + text + "'");
}

int crops_per_image(CropMode mode) { return mode == CropMode::ten ? 10 : 1; }

namespace {

// One output pixel's source pixels and weights along one axis, in OpenCV's order
// (computeResizeAreaTab in imgproc/src/resize.cpp): a partial first cell, whole cells, a partial
// last cell. taps[first[d] .. first[d + 1]) belong to output index d.
struct AreaTaps {
    std::vector<int> first, source;
    std::vector<float> weight;
};

AreaTaps area_taps(int source_size, int size, double scale) {
    AreaTaps t;
    t.first.reserve(size_t(size) + 1);
    auto add = [&t](int s, float w) {
        t.source.push_back(s);
        t.weight.push_back(w);
    };
    for (int d = 0; d < size; ++d) {
        t.first.push_back(int(t.source.size()));
        const double f1 = d * scale, f2 = f1 + scale, cell = std::min(scale, source_size - f1);
        int s1 = int(std::ceil(f1)), s2 = int(std::floor(f2));
        s2 = std::min(s2, source_size - 1);
        s1 = std::min(s1, s2);
        if (s1 - f1 > 1e-3) add(s1 - 1, float((s1 - f1) / cell));
        for (int s = s1; s < s2; ++s) add(s, float(1.0 / cell));
        if (f2 - s2 > 1e-3) add(s2, float(std::min(std::min(f2 - s2, 1.), cell) / cell));
    }
    t.first.push_back(int(t.source.size()));
    return t;
}

// Source row `row` filtered horizontally for output columns [x0, x0 + width): out[d * cn + c] is
// the sum over column x0 + d's taps of weight * pixel, accumulated from 0 in tap order, as
// OpenCV's buf[]. `pixels` is scratch for the row converted to float once.
template <int cn>
void filter_row(const uint8_t* row, const AreaTaps& x, int x0, int width, float* pixels, float* out) {
    const int s0 = x.source[size_t(x.first[size_t(x0)])], s1 = x.source[size_t(x.first[size_t(x0 + width)] - 1)];
    for (int i = s0 * cn; i < (s1 + 1) * cn; ++i) pixels[i] = float(row[i]);
    for (int d = 0; d < width; ++d) {
        float acc[cn] = {};
        const int k1 = x.first[size_t(x0 + d) + 1];
        for (int k = x.first[size_t(x0 + d)]; k < k1; ++k) {
            const float* px = pixels + x.source[size_t(k)] * cn;
            const float w = x.weight[size_t(k)];
            for (int c = 0; c < cn; ++c) acc[c] = acc[c] + px[c] * w;
        }
        for (int c = 0; c < cn; ++c) out[d * cn + c] = acc[c];
    }
}

// Output rows and columns `roi` of the area resize whose taps are x and y, into dst (roi's size).
template <int cn>
void resize_area_rows(const cv::Mat& src, cv::Mat& dst, const AreaTaps& x, const AreaTaps& y, cv::Rect roi) {
    const size_t n = size_t(roi.width) * cn;
    std::vector<float> cached(n), fresh(n), sum(n), pixels(size_t(src.cols) * cn);
    int cached_row = -1;
    for (int r = 0; r < roi.height; ++r) {
        const int dy = roi.y + r;
        for (int k = y.first[size_t(dy)]; k < y.first[size_t(dy) + 1]; ++k) {
            const int sy = y.source[size_t(k)];
            if (sy != cached_row) {  // rows are visited in increasing order: keep the last one
                filter_row<cn>(src.ptr<uint8_t>(sy), x, roi.x, roi.width, pixels.data(), fresh.data());
                std::swap(fresh, cached);
                cached_row = sy;
            }
            const float beta = y.weight[size_t(k)];
            const float* h = cached.data();
            if (k == y.first[size_t(dy)])
                for (size_t i = 0; i < n; ++i) sum[i] = beta * h[i];
            else
                for (size_t i = 0; i < n; ++i) sum[i] += beta * h[i];
        }
        uint8_t* out = dst.ptr<uint8_t>(r);
        size_t i = 0;
#ifdef __SSE2__
        // saturate_cast<uint8_t>(float) 16 at a time: round to nearest even (as cvRound), then
        // saturate through int16 to 0..255.
        for (; i + 16 <= n; i += 16) {
            const __m128i a = _mm_cvtps_epi32(_mm_loadu_ps(&sum[i])), b = _mm_cvtps_epi32(_mm_loadu_ps(&sum[i + 4]));
            const __m128i c = _mm_cvtps_epi32(_mm_loadu_ps(&sum[i + 8])), d = _mm_cvtps_epi32(_mm_loadu_ps(&sum[i + 12]));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)));
        }
#endif
        for (; i < n; ++i) out[i] = cv::saturate_cast<uint8_t>(sum[i]);
    }
}

}  // namespace

cv::Mat resize_area(const cv::Mat& src, int width, int height, cv::Rect roi) {
    check(src.depth() == CV_8U && src.channels() >= 1 && src.channels() <= 4, "resize", "image",
          "8-bit, 1 to 4 channels", "OpenCV type " + std::to_string(src.type()));
    check(width >= 1 && height >= 1 && width <= src.cols && height <= src.rows, "resize", "size",
          "at most " + std::to_string(src.cols) + "x" + std::to_string(src.rows),
          std::to_string(width) + "x" + std::to_string(height));
    if (roi.empty()) roi = cv::Rect(0, 0, width, height);
    check(roi.x >= 0 && roi.y >= 0 && roi.x + roi.width <= width && roi.y + roi.height <= height, "resize", "region",
          "inside " + std::to_string(width) + "x" + std::to_string(height),
          std::to_string(roi.width) + "x" + std::to_string(roi.height) + " at " + std::to_string(roi.x) + "," + std::to_string(roi.y));
    // cv::resize's own arithmetic: the inverse of the inverse scale, and its test for whole ratios.
    const double scale_x = 1. / (double(width) / src.cols), scale_y = 1. / (double(height) / src.rows);
    const bool whole = std::abs(scale_x - std::round(scale_x)) < DBL_EPSILON && std::abs(scale_y - std::round(scale_y)) < DBL_EPSILON;
    cv::Mat dst;
    if (whole) {
        cv::resize(src, dst, cv::Size(width, height), 0, 0, cv::INTER_AREA);
        return dst(roi);
    }
    dst.create(roi.height, roi.width, src.type());
    const AreaTaps x = area_taps(src.cols, width, scale_x), y = area_taps(src.rows, height, scale_y);
    switch (src.channels()) {
        case 1: resize_area_rows<1>(src, dst, x, y, roi); break;
        case 2: resize_area_rows<2>(src, dst, x, y, roi); break;
        case 3: resize_area_rows<3>(src, dst, x, y, roi); break;
        default: resize_area_rows<4>(src, dst, x, y, roi); break;
    }
    return dst;
}

cv::Size resized_size(const cv::Mat& bgr, const Preprocessing& p) {
    int w = p.resize, h = p.resize;
    if (p.resize_shorter) {  // torchvision: the long side is int(size * long / short)
        const int64_t long_side_cap = int64_t(p.resize) * kMaxResizedAspect;  // a 1x20000 strip: not 256x5120000
        if (bgr.cols <= bgr.rows)
            h = int(std::min(int64_t(p.resize) * bgr.rows / bgr.cols, long_side_cap));
        else
            w = int(std::min(int64_t(p.resize) * bgr.cols / bgr.rows, long_side_cap));
    }
    return {w, h};
}

cv::Mat resize_for(const cv::Mat& bgr, const Preprocessing& p) {
    const auto [w, h] = resized_size(bgr, p);
    if (w == bgr.cols && h == bgr.rows) return bgr;
    if (w <= bgr.cols && h <= bgr.rows) return resize_area(bgr, w, h);  // shrinking
    cv::Mat out;
    cv::resize(bgr, out, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
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
    const int crop = p.crop;
    const cv::Size size = resized_size(converted, p);
    if (mode == CropMode::center && size.width >= crop && size.height >= crop && size.width <= converted.cols &&
        size.height <= converted.rows && size != converted.size()) {
        // Shrinking for one center crop: resize only the pixels the crop keeps.
        const cv::Rect keep(center_offset(size.width, crop, p.resize_shorter), center_offset(size.height, crop, p.resize_shorter),
                            crop, crop);
        write_crop(resize_area(converted, size.width, size.height, keep), 0, 0, false, p, out);
        return;
    }
    const cv::Mat img = resize_for(converted, p);
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

bool has_colour(const cv::Mat& bgr) {
    if (bgr.channels() != 3 || bgr.empty()) return false;
    const int step = std::max(1, int(std::sqrt(double(bgr.total()) / 4096.0)));
    int64_t sampled = 0, coloured = 0;
    for (int y = 0; y < bgr.rows; y += step) {
        const uint8_t* row = bgr.ptr<uint8_t>(y);
        for (int x = 0; x < bgr.cols; x += step, ++sampled) {
            const int b = row[3 * x], g = row[3 * x + 1], r = row[3 * x + 2];
            coloured += std::max({b, g, r}) - std::min({b, g, r}) > 24;
        }
    }
    return coloured * 100 > sampled;
}

}  // namespace alexnet
