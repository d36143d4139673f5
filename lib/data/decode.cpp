#include "data/decode.hpp"

#include <png.h>
#include <webp/decode.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string_view>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "core/error.hpp"
#include "core/plugin.hpp"
#include "core/regular_file.hpp"

namespace alexnet {

using namespace std::literals;

namespace {

DecodeSettings& settings() {
    static DecodeSettings s;
    return s;
}

void warn(const std::string& path, const std::string& message) {
    if (settings().on_warning) settings().on_warning(path, message);
}

constexpr int64_t kMaxFileBytes = int64_t(1) << 30;
const char* const kSupported = "a JPEG, PNG, WebP, BMP or TIFF image";

// The whole file; only a regular file is read (a FIFO or a device would block or never end).
std::vector<uint8_t> read_file(const std::string& path) {
    return read_regular_file(path, uint64_t(kMaxFileBytes), "an image");
}

bool starts_with(const uint8_t* d, size_t n, std::string_view magic, size_t offset = 0) {
    return n >= offset + magic.size() && std::memcmp(d + offset, magic.data(), magic.size()) == 0;
}

void check_pixels(const std::string& name, const char* format, int64_t width, int64_t height) {
    check(width > 0 && height > 0, name, std::string(format) + " header", "a positive width and height",
          std::to_string(width) + "x" + std::to_string(height));
    const int64_t max = settings().max_pixels;
    if (width <= max / height) return;
    // The message only now: a header's sizes (32 bits each in TIFF) can multiply past 63 bits.
    const std::string pixels = width <= std::numeric_limits<int64_t>::max() / height
                                   ? std::to_string(width * height)
                                   : "more than " + std::to_string(std::numeric_limits<int64_t>::max());
    throw Error(name, "image size", "at most " + std::to_string(max) + " pixels (--max-pixels)",
                std::to_string(width) + "x" + std::to_string(height) + " = " + pixels + " pixels");
}

// ---- JPEG (libjpeg-turbo) ----

struct JpegErrors {
    jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    const std::string* name;
    bool truncated;
};

void jpeg_fail(j_common_ptr c) {
    auto* e = reinterpret_cast<JpegErrors*>(c->err);
    e->mgr.format_message(c, e->message);
    std::longjmp(e->jump, 1);
}

// Warnings (level -1) are routed, or fatal when they mean missing data; trace messages are dropped.
void jpeg_message(j_common_ptr c, int level) {
    auto* e = reinterpret_cast<JpegErrors*>(c->err);
    if (level >= 0) return;
    const int code = e->mgr.msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {  // libjpeg would fill the rest with grey
        e->truncated = true;
        std::longjmp(e->jump, 1);
    }
    char text[JMSG_LENGTH_MAX];
    e->mgr.format_message(c, text);
    warn(*e->name, text);
}

// Decodes into `out`, which outlives the longjmp (it is the caller's).
void decode_jpeg(const uint8_t* data, size_t size, const std::string& name, SizeHint hint, cv::Mat& out, int& orientation,
                 SourceSize& source) {
    jpeg_decompress_struct cinfo{};
    JpegErrors errors{};
    errors.name = &name;
    cinfo.err = jpeg_std_error(&errors.mgr);
    errors.mgr.error_exit = jpeg_fail;
    errors.mgr.emit_message = jpeg_message;
    errors.mgr.output_message = [](j_common_ptr) {};
    if (setjmp(errors.jump)) {
        jpeg_destroy_decompress(&cinfo);
        if (errors.truncated) throw Error(name, "JPEG data", "an end-of-image marker after the last scan", "a truncated file");
        throw Error(name, "JPEG data", "a decodable JPEG", std::string("corrupt data (") + errors.message + ")");
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    try {
        check_pixels(name, "JPEG", cinfo.image_width, cinfo.image_height);
        source = {int(cinfo.image_width), int(cinfo.image_height)};
    } catch (...) {
        jpeg_destroy_decompress(&cinfo);
        throw;
    }
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0)
            orientation = exif_orientation(m->data + 6, m->data_length - 6);
    cinfo.scale_num = 1;
    cinfo.scale_denom = unsigned(settings().exact ? 1 : jpeg_reduction(int(cinfo.image_width), int(cinfo.image_height), hint));
    const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_BGR;
    jpeg_start_decompress(&cinfo);
    out.create(int(cinfo.output_height), int(cinfo.output_width), cmyk ? CV_8UC4 : CV_8UC3);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out.ptr<uint8_t>(int(cinfo.output_scanline));
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    const bool adobe_inverted = cinfo.saw_Adobe_marker;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (cmyk) {  // to BGR: Adobe's CMYK JPEGs store inverted ink, so value = ink' * key' / 255
        cv::Mat bgr(out.rows, out.cols, CV_8UC3);
        for (int y = 0; y < out.rows; ++y) {
            const uint8_t* s = out.ptr<uint8_t>(y);
            uint8_t* d = bgr.ptr<uint8_t>(y);
            for (int x = 0; x < out.cols; ++x, s += 4, d += 3) {
                int c = s[0], m = s[1], yy = s[2], k = s[3];
                if (!adobe_inverted) c = 255 - c, m = 255 - m, yy = 255 - yy, k = 255 - k;
                d[0] = uint8_t(yy * k / 255), d[1] = uint8_t(m * k / 255), d[2] = uint8_t(c * k / 255);
            }
        }
        out = bgr;
    }
}

void apply_orientation(cv::Mat& img, int orientation) {
    cv::Mat t;
    switch (orientation) {
        case 2: cv::flip(img, t, 1); break;
        case 3: cv::rotate(img, t, cv::ROTATE_180); break;
        case 4: cv::flip(img, t, 0); break;
        case 5: cv::transpose(img, t); break;
        case 6: cv::rotate(img, t, cv::ROTATE_90_CLOCKWISE); break;
        case 7: cv::transpose(img, t), cv::flip(t, t, -1); break;
        case 8: cv::rotate(img, t, cv::ROTATE_90_COUNTERCLOCKWISE); break;
        default: return;
    }
    img = t;
}

// ---- PNG (libpng) ----

struct PngSource {
    const uint8_t* data;
    size_t size, at;
    const std::string* name;
    bool truncated;
    char message[256];
};

void png_fail(png_structp png, png_const_charp message) {
    auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
    std::snprintf(src->message, sizeof src->message, "%s", message);
    png_longjmp(png, 1);
}

void png_warning_to_caller(png_structp png, png_const_charp message) {
    warn(*static_cast<PngSource*>(png_get_error_ptr(png))->name, message);
}

void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
    auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
    if (n > src->size - src->at) {
        src->truncated = true;
        png_error(png, "the file ends early");
    }
    std::memcpy(out, src->data + src->at, n);
    src->at += n;
}

// A BGRA image as BGR composited onto black, round(c * a / 255): a transparent area becomes
// black, whatever colour its pixels store (OpenCV's IMREAD_COLOR and PIL's convert("RGB") drop
// alpha and show that stored colour, often noise or white).
cv::Mat composite_on_black(const cv::Mat& bgra) {
    cv::Mat bgr(bgra.rows, bgra.cols, CV_8UC3);
    for (int y = 0; y < bgra.rows; ++y) {
        const uint8_t* s = bgra.ptr<uint8_t>(y);
        uint8_t* d = bgr.ptr<uint8_t>(y);
        for (int x = 0; x < bgra.cols; ++x, s += 4, d += 3)
            for (int c = 0; c < 3; ++c) d[c] = uint8_t((s[c] * s[3] + 127) / 255);
    }
    return bgr;
}

void decode_png(const uint8_t* data, size_t size, const std::string& name, cv::Mat& out) {
    PngSource src{data, size, 0, &name, false, {}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_warning_to_caller);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!info) {
        png_destroy_read_struct(&png, nullptr, nullptr);
        throw std::bad_alloc();
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        if (src.truncated) throw Error(name, "PNG data", "an IEND chunk", "a truncated file");
        throw Error(name, "PNG data", "a decodable PNG", std::string("corrupt data (") + src.message + ")");
    }
    png_set_read_fn(png, &src, png_read_memory);
    // Colour profiles are not used here, so libpng's check of them ("iCCP: known incorrect sRGB
    // profile") would only be noise.
    png_set_option(png, PNG_SKIP_sRGB_CHECK_PROFILE, PNG_OPTION_ON);
    png_read_info(png, info);
    const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    try {
        check_pixels(name, "PNG", width, height);
    } catch (...) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw;
    }
    const int colour = png_get_color_type(png, info);
    png_set_strip_16(png);  // 16 bits per sample: the high byte, as OpenCV and PIL reduce them
    png_set_packing(png);
    if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (colour == PNG_COLOR_TYPE_GRAY || colour == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_expand_gray_1_2_4_to_8(png);
        png_set_gray_to_rgb(png);
    }
    // Transparency (an alpha channel or tRNS) is composited onto black, see composite_on_black.
    const bool alpha = (colour & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
    if (alpha) png_set_tRNS_to_alpha(png);
    png_set_bgr(png);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != size_t(width) * (alpha ? 4 : 3)) {  // what the rows below assume
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(name, "PNG data", "8-bit BGR or BGRA rows after conversion", "another layout (an unusual colour type)");
    }
    out.create(int(height), int(width), alpha ? CV_8UC4 : CV_8UC3);  // the caller's: it outlives a longjmp
    for (int pass = 0; pass < passes; ++pass)
        for (png_uint_32 y = 0; y < height; ++y) png_read_row(png, out.ptr<uint8_t>(int(y)), nullptr);
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    if (alpha) out = composite_on_black(out);
}

// ---- WebP (libwebp) ----

void decode_webp(const uint8_t* data, size_t size, const std::string& name, cv::Mat& out) {
    WebPBitstreamFeatures f;
    const VP8StatusCode status = WebPGetFeatures(data, size, &f);
    if (status == VP8_STATUS_NOT_ENOUGH_DATA) throw Error(name, "WebP data", "a complete file", "a truncated file");
    check(status == VP8_STATUS_OK, name, "WebP data", "a decodable WebP", "corrupt data (status " + std::to_string(int(status)) + ")");
    check(!f.has_animation, name, "image", "a still image", "an animated WebP (not supported; extract a frame)");
    check_pixels(name, "WebP", f.width, f.height);
    out.create(f.height, f.width, f.has_alpha ? CV_8UC4 : CV_8UC3);
    const bool ok = f.has_alpha ? WebPDecodeBGRAInto(data, size, out.data, out.total() * 4, int(out.step)) != nullptr
                                : WebPDecodeBGRInto(data, size, out.data, out.total() * 3, int(out.step)) != nullptr;
    if (!ok) throw Error(name, "WebP data", "a decodable WebP", "corrupt data");
    if (f.has_alpha) out = composite_on_black(out);
}

// ---- BMP and TIFF (OpenCV), with their sizes read from the header first ----

uint32_t read_le(const uint8_t* p, int bytes) {
    uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// Width, height and sample format (1 unsigned, 2 signed, 3 float) from a TIFF's first IFD.
void tiff_header(const uint8_t* d, size_t n, const std::string& name, int64_t& width, int64_t& height, int& format,
                 int& bits) {
    const bool little = d[0] == 'I';
    auto get = [&](size_t at, int bytes) -> uint32_t {
        check(at + size_t(bytes) <= n, name, "TIFF header", "a complete first directory", "a truncated file");
        uint32_t v = 0;
        for (int i = 0; i < bytes; ++i) v = little ? v | uint32_t(d[at + size_t(i)]) << (8 * i) : (v << 8) | d[at + size_t(i)];
        return v;
    };
    const size_t ifd = get(4, 4);
    const uint32_t entries = get(ifd, 2);
    width = height = 0, format = 1, bits = 8;
    for (uint32_t e = 0; e < entries; ++e) {
        const size_t at = ifd + 2 + size_t(e) * 12;
        const uint32_t tag = get(at, 2), type = get(at + 2, 2);
        const uint32_t value = type == 3 ? get(at + 8, 2) : get(at + 8, 4);
        if (tag == 256) width = value;
        if (tag == 257) height = value;
        if (tag == 258) bits = int(value);  // for several samples, an offset: the first only matters as a hint
        if (tag == 339) format = int(value);
    }
}

using ImgcodecsDecode = int (*)(const unsigned char*, size_t, void*, char*, size_t);

// alexnet-imgcodecs.so (lib/data/imgcodecs_plugin.cpp, found as core/plugin.hpp says), loaded
// once, at the first BMP or TIFF.
ImgcodecsDecode imgcodecs_decode(const std::string& name, const char* format) {
    static std::mutex mutex;
    static ImgcodecsDecode fn = nullptr;
    static std::string failure;
    std::lock_guard<std::mutex> lock(mutex);
    if (!fn && failure.empty()) {
        const PluginSymbol found = plugin_symbol("alexnet-imgcodecs.so", "ALEXNET_IMGCODECS", "alexnet_imgcodecs_decode");
        fn = reinterpret_cast<ImgcodecsDecode>(found.address);
        failure = found.failure;
    }
    if (!fn) throw Error(name, std::string(format) + " decoder", "OpenCV's imgcodecs (alexnet-imgcodecs.so)", failure);
    return fn;
}

cv::Mat decode_with_opencv(const uint8_t* data, size_t size, const std::string& name, const char* format) {
    const ImgcodecsDecode decode = imgcodecs_decode(name, format);
    cv::Mat img;
    char message[512] = "";
    if (decode(data, size, &img, message, sizeof message) != 0)
        throw Error(name, std::string(format) + " data", std::string("a decodable ") + format, std::string("a decoder error (") + message + ")");
    check(!img.empty(), name, std::string(format) + " data", std::string("a decodable ") + format, "corrupt data");
    check(img.depth() == CV_8U || img.depth() == CV_16U, name, "image",
          "8- or 16-bit integer samples", img.depth() == CV_32F || img.depth() == CV_64F ? "floating-point samples (not supported)" : "another sample type");
    if (img.depth() == CV_16U) img.convertTo(img, CV_8U, 1.0 / 256);
    if (img.channels() == 1) cv::cvtColor(img, img, cv::COLOR_GRAY2BGR);
    if (img.channels() == 4) cv::cvtColor(img, img, cv::COLOR_BGRA2BGR);
    check(img.channels() == 3, name, "image", "1, 3 or 4 channels", std::to_string(img.channels()));
    return img;
}

// What a file of an unsupported kind is, for the message.
std::string unsupported_kind(const uint8_t* d, size_t n) {
    if (starts_with(d, n, "GIF87a") || starts_with(d, n, "GIF89a")) return "a GIF image (not supported; convert it, e.g. to PNG)";
    if (starts_with(d, n, "ftypheic", 4) || starts_with(d, n, "ftypheix", 4) || starts_with(d, n, "ftypmif1", 4))
        return "a HEIF/HEIC image (not supported; convert it, e.g. to JPEG)";
    if (starts_with(d, n, "ftypavif", 4)) return "an AVIF image (not supported; convert it, e.g. to PNG)";
    if (starts_with(d, n, "%PDF")) return "a PDF document";
    if (starts_with(d, n, "8BPS")) return "a Photoshop document";
    if (starts_with(d, n, "\0\0\0\x0cjP  "sv) || starts_with(d, n, "\xff\x4f\xff\x51")) return "a JPEG 2000 image (not supported)";
    if (starts_with(d, n, "<?xml") || starts_with(d, n, "<svg")) return "an XML or SVG file";
    return "an unknown format";
}

}  // namespace

void use_opencv_serially() {
    static std::once_flag once;
    std::call_once(once, [] { cv::setNumThreads(0); });  // 0: no TBB arena is made at all
}

void configure_decoding(const DecodeSettings& s) {
    use_opencv_serially();
    settings() = s;
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);  // imgcodecs' [ WARN:0@...] lines
}

const DecodeSettings& decoding() { return settings(); }

int jpeg_reduction(int width, int height, SizeHint hint) {
    if (hint.resize <= 0) return 1;
    for (int d : {8, 4, 2}) {
        const int w = (width + d - 1) / d, h = (height + d - 1) / d;  // libjpeg rounds up
        if (hint.shorter_side ? std::min(w, h) >= hint.resize : w >= hint.resize && h >= hint.resize) return d;
    }
    return 1;
}

int exif_orientation(const uint8_t* d, size_t n) {
    if (n < 8 || !((d[0] == 'I' && d[1] == 'I') || (d[0] == 'M' && d[1] == 'M'))) return 1;
    const bool little = d[0] == 'I';
    auto get = [&](size_t at, int bytes, uint32_t& v) {
        if (at > n || size_t(bytes) > n - at) return false;
        v = 0;
        for (int i = 0; i < bytes; ++i) v = little ? v | uint32_t(d[at + size_t(i)]) << (8 * i) : (v << 8) | d[at + size_t(i)];
        return true;
    };
    uint32_t ifd = 0, entries = 0;
    if (!get(4, 4, ifd) || !get(ifd, 2, entries)) return 1;
    for (uint32_t e = 0; e < entries; ++e) {
        uint32_t tag = 0, value = 0;
        const size_t at = size_t(ifd) + 2 + size_t(e) * 12;
        if (!get(at, 2, tag)) return 1;
        if (tag == 0x0112) return get(at + 8, 2, value) && value >= 1 && value <= 8 ? int(value) : 1;
    }
    return 1;
}

cv::Mat decode_image(const uint8_t* d, size_t n, const std::string& name, SizeHint hint, SourceSize* source) {
    if (n == 0) throw Error(name, "image", "image data", "an empty file");
    cv::Mat img;
    SourceSize stored;
    if (starts_with(d, n, "\xff\xd8\xff")) {
        int orientation = 1;
        decode_jpeg(d, n, name, hint, img, orientation, stored);
        apply_orientation(img, orientation);
        if (orientation >= 5) std::swap(stored.width, stored.height);  // as shown: 90 degrees turned
    } else if (starts_with(d, n, "\x89PNG\r\n\x1a\n")) {
        decode_png(d, n, name, img);
    } else if (starts_with(d, n, "RIFF") && starts_with(d, n, "WEBP", 8)) {
        decode_webp(d, n, name, img);
    } else if (starts_with(d, n, "BM")) {
        check(n >= 26, name, "BMP header", "at least 26 bytes", std::to_string(n));
        const int32_t w = int32_t(read_le(d + 18, 4)), h = int32_t(read_le(d + 22, 4));
        check_pixels(name, "BMP", w, int64_t(h) < 0 ? -int64_t(h) : int64_t(h));
        img = decode_with_opencv(d, n, name, "BMP");
    } else if (starts_with(d, n, "II*\0"sv) || starts_with(d, n, "MM\0*"sv)) {
        int64_t w = 0, h = 0;
        int format = 1, bits = 8;
        tiff_header(d, n, name, w, h, format, bits);
        check(format != 3, name, "TIFF samples", "8- or 16-bit integers", "floating point (not supported)");
        check_pixels(name, "TIFF", w, h);
        img = decode_with_opencv(d, n, name, "TIFF");
    } else {
        throw Error(name, "image", kSupported, unsupported_kind(d, n));
    }
    if (source) *source = stored.width > 0 ? stored : SourceSize{img.cols, img.rows};
    return img;
}

cv::Mat read_image(const std::string& path, SizeHint hint, SourceSize* source) {
    const std::vector<uint8_t> bytes = read_file(path);
    return decode_image(bytes.data(), bytes.size(), path, hint, source);
}

}  // namespace alexnet
