// The image decoders (libjpeg-turbo, libpng, libwebp directly; BMP/TIFF through OpenCV) against
// OpenCV's own imdecode as the independent reference, and every refusal message.
#include <doctest/doctest.h>
#include <zlib.h>

#include <fstream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "data/batch_loader.hpp"
#include "data/decode.hpp"
#include "data/image.hpp"
#include "test_util.hpp"

using namespace alexnet;
using test::TempDir;

namespace {

std::vector<uint8_t> encode(const cv::Mat& img, const std::string& ext, const std::vector<int>& params = {}) {
    std::vector<uint8_t> bytes;
    REQUIRE(cv::imencode(ext, img, bytes, params));
    return bytes;
}

// Smooth content with detail, like a downsized photo.
cv::Mat photo_like(int w, int h, int type = CV_8UC3) {
    cv::Mat small(6, 8, CV_8UC3), img;
    cv::RNG rng(7);
    rng.fill(small, cv::RNG::UNIFORM, 0, 255);
    cv::resize(small, img, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
    if (type == CV_8UC1) cv::cvtColor(img, img, cv::COLOR_BGR2GRAY);
    if (type == CV_8UC4) cv::cvtColor(img, img, cv::COLOR_BGR2BGRA);
    if (type == CV_16UC3) img.convertTo(img, CV_16UC3, 257.0);
    return img;
}

void check_same_as_opencv(const std::vector<uint8_t>& bytes) {
    const cv::Mat ours = decode_image(bytes.data(), bytes.size(), "test");
    const cv::Mat theirs = cv::imdecode(bytes, cv::IMREAD_COLOR);
    REQUIRE(ours.type() == CV_8UC3);
    REQUIRE(ours.size() == theirs.size());
    CHECK(cv::norm(ours, theirs, cv::NORM_INF) == 0);
}

std::string message_of(const std::vector<uint8_t>& bytes) {
    try {
        decode_image(bytes.data(), bytes.size(), "f");
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// A PNG whose header declares `w` x `h`, followed by a tiny IDAT: what a decompression bomb starts with.
std::vector<uint8_t> png_header_only(uint32_t w, uint32_t h) {
    std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
        const uint32_t n = uint32_t(data.size());
        for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(n >> s));
        std::vector<uint8_t> body(type, type + 4);
        body.insert(body.end(), data.begin(), data.end());
        out.insert(out.end(), body.begin(), body.end());
        const uint32_t crc = uint32_t(crc32(0, body.data(), uInt(body.size())));
        for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(crc >> s));
    };
    std::vector<uint8_t> ihdr;
    for (uint32_t v : {w, h})
        for (int s = 24; s >= 0; s -= 8) ihdr.push_back(uint8_t(v >> s));
    ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // 8-bit grey
    chunk("IHDR", ihdr);
    chunk("IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
    chunk("IEND", {});
    return out;
}

}  // namespace

TEST_CASE("JPEG, PNG and WebP decode exactly as OpenCV's imdecode does") {
    check_same_as_opencv(encode(photo_like(61, 47), ".jpg", {cv::IMWRITE_JPEG_QUALITY, 90}));
    check_same_as_opencv(encode(photo_like(64, 40, CV_8UC1), ".jpg"));  // grey JPEG
    check_same_as_opencv(encode(photo_like(33, 20), ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
    check_same_as_opencv(encode(photo_like(61, 47), ".png"));
    check_same_as_opencv(encode(photo_like(30, 31, CV_8UC1), ".png"));
    check_same_as_opencv(encode(photo_like(30, 31, CV_8UC4), ".png"));   // opaque alpha: the same
    check_same_as_opencv(encode(photo_like(30, 31, CV_16UC3), ".png"));  // 16 bits: the high byte
    check_same_as_opencv(encode(photo_like(30, 31), ".png", {cv::IMWRITE_PNG_BILEVEL, 0, cv::IMWRITE_PNG_STRATEGY, 0}));
    check_same_as_opencv(encode(photo_like(40, 24), ".webp", {cv::IMWRITE_WEBP_QUALITY, 80}));
    check_same_as_opencv(encode(photo_like(40, 24), ".webp", {cv::IMWRITE_WEBP_QUALITY, 101}));  // lossless
    check_same_as_opencv(encode(photo_like(40, 24), ".bmp"));
    check_same_as_opencv(encode(photo_like(40, 24), ".tiff"));
    // EXIF orientation 6 (the fixture is stored 40x30 and shown 30x40), as OpenCV applies it
    std::ifstream in(std::string(ALEXNET_FIXTURES) + "/exif_rotated.jpg", std::ios::binary);
    const std::vector<uint8_t> exif((std::istreambuf_iterator<char>(in)), {});
    check_same_as_opencv(exif);
    CHECK(decode_image(exif.data(), exif.size(), "exif").cols == 30);
}

TEST_CASE("PNG and WebP transparency is composited onto black, not dropped") {
    cv::Mat bgra = photo_like(32, 24, CV_8UC4);
    for (int y = 0; y < bgra.rows; ++y)
        for (int x = 0; x < bgra.cols; ++x) bgra.at<cv::Vec4b>(y, x)[3] = uint8_t(x < 8 ? 0 : x < 16 ? 128 : 255);
    for (const auto& bytes : {encode(bgra, ".png"), encode(bgra, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101})}) {
        const cv::Mat ours = decode_image(bytes.data(), bytes.size(), "alpha");
        const cv::Mat stored = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);  // BGRA as the file holds it
        REQUIRE(ours.type() == CV_8UC3);
        REQUIRE(stored.type() == CV_8UC4);
        int differ = 0;
        for (int y = 0; y < ours.rows; ++y)
            for (int x = 0; x < ours.cols; ++x) {
                const cv::Vec4b s = stored.at<cv::Vec4b>(y, x);
                for (int c = 0; c < 3; ++c) differ += ours.at<cv::Vec3b>(y, x)[c] != (s[c] * s[3] + 127) / 255;
            }
        CHECK(differ == 0);
        CHECK(ours.at<cv::Vec3b>(5, 3) == cv::Vec3b(0, 0, 0));  // transparent: black
        CHECK(ours.at<cv::Vec3b>(5, 20) == cv::Vec3b(stored.at<cv::Vec4b>(5, 20)[0], stored.at<cv::Vec4b>(5, 20)[1],
                                                     stored.at<cv::Vec4b>(5, 20)[2]));  // opaque: as stored
    }
    // Without transparency nothing is composited
    cv::Mat grey(8, 8, CV_8UC1, cv::Scalar(200));
    const std::vector<uint8_t> plain = encode(grey, ".png");
    CHECK(decode_image(plain.data(), plain.size(), "grey").at<cv::Vec3b>(0, 0) == cv::Vec3b(200, 200, 200));
}

TEST_CASE("unsupported formats are named, with what is supported") {
    CHECK(message_of(bytes_of("GIF89a\x01\x00\x01\x00")) ==
          "f: image: expected a JPEG, PNG, WebP, BMP or TIFF image, found a GIF image (not supported; convert it, e.g. to PNG)");
    CHECK(message_of(bytes_of(std::string("\0\0\0\x18" "ftypheic", 12))) ==
          "f: image: expected a JPEG, PNG, WebP, BMP or TIFF image, found a HEIF/HEIC image (not supported; convert it, e.g. to JPEG)");
    CHECK(message_of(bytes_of("just text")) == "f: image: expected a JPEG, PNG, WebP, BMP or TIFF image, found an unknown format");
    cv::Mat f(8, 8, CV_32FC1, cv::Scalar(0.5));
    CHECK(message_of(encode(f, ".tiff")) == "f: TIFF samples: expected 8- or 16-bit integers, found floating point (not supported)");
}

TEST_CASE("sizes are checked from the header before decoding: --max-pixels and decompression bombs") {
    const auto bomb = png_header_only(20000, 20000);  // 100 bytes declaring 400 million pixels
    CHECK(bomb.size() < 100);
    CHECK(message_of(bomb) == "f: image size: expected at most 178956970 pixels (--max-pixels), found 20000x20000 = 400000000 pixels");
    DecodeSettings small;
    small.max_pixels = 100;
    configure_decoding(small);
    const auto png = encode(photo_like(11, 10), ".png");
    CHECK(message_of(png) == "f: image size: expected at most 100 pixels (--max-pixels), found 11x10 = 110 pixels");
    CHECK(message_of(encode(photo_like(11, 10), ".jpg")) == "f: image size: expected at most 100 pixels (--max-pixels), found 11x10 = 110 pixels");
    CHECK(message_of(encode(photo_like(11, 10), ".webp")) == "f: image size: expected at most 100 pixels (--max-pixels), found 11x10 = 110 pixels");
    configure_decoding({});
    CHECK(decode_image(png.data(), png.size(), "f").cols == 11);
    // TIFF sizes are 32 bits each: their product can pass 63 bits (found by fuzz_image; the
    // message once multiplied them first, a signed overflow).
    for (const bool little : {true, false}) {
        const auto u32 = [&](std::string& s, uint32_t v) {
            for (int i = 0; i < 4; ++i) s += char(little ? v >> (8 * i) : v >> (8 * (3 - i)));
        };
        const auto u16 = [&](std::string& s, uint16_t v) {
            s += char(little ? v : v >> 8), s += char(little ? v >> 8 : v);
        };
        std::string tiff = little ? "II*" + std::string(1, '\0') : std::string("MM\0*", 4);
        u32(tiff, 8);  // the first directory's offset
        u16(tiff, 2);  // two entries: ImageWidth, ImageLength (type LONG, count 1)
        for (const auto& [tag, value] : {std::pair<uint16_t, uint32_t>{256, 3048584629u}, {257, 3638089944u}}) {
            u16(tiff, tag), u16(tiff, 4), u32(tiff, 1), u32(tiff, value);
        }
        u32(tiff, 0);
        CHECK(message_of(bytes_of(tiff)) == "f: image size: expected at most 178956970 pixels (--max-pixels), found "
                                           "3048584629x3638089944 = more than 9223372036854775807 pixels");
    }
}

TEST_CASE("an extreme aspect ratio cannot blow up the shorter-side resize") {
    Preprocessing p;
    p.resize = 256;
    p.resize_shorter = true;
    const cv::Mat strip(1, 20000, CV_8UC3, cv::Scalar(1, 2, 3));
    const cv::Mat resized = resize_for(strip, p);
    CHECK(resized.rows == 256);
    CHECK(resized.cols == 256 * kMaxResizedAspect);  // not 5,120,000 (3.9 GB)
    const cv::Mat wide(100, 300, CV_8UC3);
    CHECK(resize_for(wide, p).cols == 768);  // ordinary ratios keep torchvision's long side
}

TEST_CASE("resize_area is cv::resize with INTER_AREA bit for bit: the tools' sizes, random sizes, 1 to 4 channels") {
    cv::RNG rng(2026);
    struct Case {
        int cols, rows, width, height, channels;
    };
    std::vector<Case> cases = {{500, 375, 256, 256, 3}, {500, 375, 341, 256, 3}, {375, 500, 256, 341, 3},
                               {500, 375, 256, 256, 1}, {4000, 3000, 256, 256, 3}, {513, 300, 256, 256, 3},
                               {512, 512, 256, 256, 3},  // whole ratios: OpenCV's own fast path
                               {256, 300, 256, 256, 3},  // one axis unchanged
                               {301, 299, 1, 1, 2},     {7, 5, 3, 2, 4}};
    for (int i = 0; i < 40; ++i) {
        const int cols = rng.uniform(1, 700), rows = rng.uniform(1, 700);
        cases.push_back({cols, rows, rng.uniform(1, cols + 1), rng.uniform(1, rows + 1), rng.uniform(1, 5)});
    }
    for (const Case& c : cases) {
        CAPTURE(c.cols);
        CAPTURE(c.rows);
        CAPTURE(c.width);
        CAPTURE(c.height);
        CAPTURE(c.channels);
        cv::Mat src(c.rows, c.cols, CV_8UC(c.channels));
        rng.fill(src, cv::RNG::UNIFORM, 0, 256);
        cv::Mat want;
        cv::resize(src, want, cv::Size(c.width, c.height), 0, 0, cv::INTER_AREA);
        const cv::Mat got = resize_area(src, c.width, c.height);
        REQUIRE(got.size() == want.size());
        REQUIRE(got.type() == want.type());
        CHECK(cv::norm(got, want, cv::NORM_INF) == 0);
        // A region alone (preprocess's center crop) is that region of the whole.
        const int x0 = rng.uniform(0, c.width), y0 = rng.uniform(0, c.height);
        const cv::Rect roi(x0, y0, rng.uniform(1, c.width - x0 + 1), rng.uniform(1, c.height - y0 + 1));
        CAPTURE(roi);
        const cv::Mat part = resize_area(src, c.width, c.height, roi);
        REQUIRE(part.size() == roi.size());
        CHECK(cv::norm(part, want(roi), cv::NORM_INF) == 0);
    }
    CHECK_THROWS_WITH_AS(resize_area(cv::Mat(4, 4, CV_8UC3), 5, 4), "resize: size: expected at most 4x4, found 5x4", Error);
    CHECK_THROWS_WITH_AS(resize_area(cv::Mat(4, 4, CV_8UC3), 3, 3, cv::Rect(1, 1, 3, 1)), "resize: region: expected inside 3x3, found 3x1 at 1,1", Error);
}

TEST_CASE("decoder warnings reach the handler (the tool prints or silences them), never stderr directly") {
    auto jpeg = encode(photo_like(32, 32), ".jpg");
    REQUIRE(jpeg[3] == 0xE0);  // JFIF APP0 first: stray bytes after it, before the next marker
    jpeg.insert(jpeg.begin() + 4 + (jpeg[4] << 8 | jpeg[5]), {0x00, 0x01, 0x02});
    std::vector<std::string> seen;
    std::mutex m;
    DecodeSettings s;
    s.on_warning = [&](const std::string& path, const std::string& message) {
        std::lock_guard lock(m);
        seen.push_back(path + ": " + message);
    };
    configure_decoding(s);
    const cv::Mat img = decode_image(jpeg.data(), jpeg.size(), "odd.jpg");
    configure_decoding({});
    CHECK(img.cols == 32);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == "odd.jpg: Corrupt JPEG data: 3 extraneous bytes before marker 0xdb");
}

TEST_CASE("corrupt data that would come out grey is refused") {
    auto jpeg = encode(photo_like(64, 64), ".jpg");
    std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + long(jpeg.size() / 2));
    CHECK(message_of(cut) == "f: JPEG data: expected an end-of-image marker after the last scan, found a truncated file");
    const auto png = encode(photo_like(64, 64), ".png");
    std::vector<uint8_t> png_cut(png.begin(), png.begin() + long(png.size() / 2));
    CHECK(message_of(png_cut) == "f: PNG data: expected an IEND chunk, found a truncated file");
    const auto webp = encode(photo_like(64, 64), ".webp");
    std::vector<uint8_t> webp_cut(webp.begin(), webp.begin() + 20);
    CHECK(message_of(webp_cut).rfind("f: WebP data: expected", 0) == 0);
}

TEST_CASE("EXIF orientation: every value read from both byte orders; malformed blocks mean 1") {
    for (int o = 1; o <= 8; ++o) {
        const uint8_t le[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, uint8_t(o), 0, 0, 0, 0, 0};
        const uint8_t be[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, uint8_t(o), 0, 0, 0, 0};
        CHECK(exif_orientation(le, sizeof le) == o);
        CHECK(exif_orientation(be, sizeof be) == o);
    }
    const uint8_t cut[] = {'I', 'I', 42, 0, 200, 0, 0, 0};
    CHECK(exif_orientation(cut, sizeof cut) == 1);
    const uint8_t huge_count[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 0xff, 0xff};
    CHECK(exif_orientation(huge_count, sizeof huge_count) == 1);
}

TEST_CASE("JPEGs decode at the largest DCT reduction that stays at least as large as the resize target") {
    CHECK(jpeg_reduction(4000, 3000, {256, false}) == 8);  // 500x375: both sides >= 256
    CHECK(jpeg_reduction(4000, 3000, {256, true}) == 8);
    CHECK(jpeg_reduction(2048, 1536, {256, false}) == 4);  // 1/8 would give 256x192
    CHECK(jpeg_reduction(1024, 600, {256, true}) == 2);    // shorter side 300 at 1/2, 150 at 1/4
    CHECK(jpeg_reduction(500, 375, {256, false}) == 1);
    CHECK(jpeg_reduction(4000, 3000, {0, false}) == 1);    // no hint: full size
    CHECK(jpeg_reduction(2041, 2041, {256, false}) == 8);  // libjpeg rounds up: 256x256
    const auto big = encode(photo_like(2048, 1536), ".jpg", {cv::IMWRITE_JPEG_QUALITY, 90});
    const cv::Mat reduced = decode_image(big.data(), big.size(), "big", {256, false});
    CHECK(reduced.size() == cv::Size(512, 384));
    DecodeSettings exact;
    exact.exact = true;
    configure_decoding(exact);
    const cv::Mat full = decode_image(big.data(), big.size(), "big", {256, false});
    configure_decoding({});
    CHECK(full.size() == cv::Size(2048, 1536));
    // After the network's own resize and crop, the two agree closely (cosine of the inputs).
    Preprocessing p;  // Caffe's: warp to 256, center 227, BGR minus the mean
    std::vector<float> a(size_t(3) * 227 * 227), b(a.size());
    preprocess(full, p, CropMode::center, a.data());
    preprocess(reduced, p, CropMode::center, b.data());
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
    CHECK(ab / std::sqrt(aa * bb) > 0.999);
}

TEST_CASE("BatchLoader: the consumer alone completes every batch (decode threads that never run), the same as with threads") {
    TempDir dir;
    std::vector<std::string> paths;
    for (int i = 0; i < 7; ++i) {
        cv::Mat img(30 + i, 40, CV_8UC3, cv::Scalar(10 * i, 50, 200 - 20 * i));
        paths.push_back(dir / ("img" + std::to_string(i) + ".png"));
        cv::imwrite(paths.back(), img);
    }
    paths.insert(paths.begin() + 3, dir / "missing.png");
    Preprocessing p;
    p.resize = 32;
    p.crop = 28;
    auto run = [&](int threads) {
        PathSource source(paths);
        BatchLoader loader(source, p, CropMode::center, 3, threads);
        std::vector<std::string> out;
        while (auto b = loader.next()) {
            for (const auto& item : b->items) {
                const float* row = b->data.data() + size_t(std::max(item.image, 0)) * 3 * 28 * 28;
                out.push_back(item.path + " " + (item.error.empty() ? std::to_string(row[100]) : item.error));
            }
            loader.recycle(std::move(*b));
        }
        return out;
    };
    const auto alone = run(0);
    REQUIRE(alone.size() == 8);
    CHECK(alone[3].find("missing.png") != std::string::npos);
    CHECK(alone[3].find("cannot") != std::string::npos);
    CHECK(run(2) == alone);
    CHECK(run(1) == alone);
}
