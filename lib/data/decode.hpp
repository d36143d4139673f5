#pragma once
// Image decoding: JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) by their own libraries, so
// their warnings are ours to route and sizes are checked from the header before any pixel is
// decoded; BMP and TIFF through OpenCV's imgcodecs, in a plugin (alexnet-imgcodecs.so) loaded only
// when such a file appears: linked in, imgcodecs costs every run ~0.35 s of start-up. Formats are
// recognised by content.
#include <cstdint>
#include <functional>
#include <opencv2/core.hpp>
#include <string>

namespace alexnet {

// Images with more pixels than this are refused before decoding (a decompression bomb: a few
// hundred bytes of PNG can declare 20000 x 20000). PIL refuses above the same count.
constexpr int64_t kDefaultMaxPixels = 178956970;

struct DecodeSettings {
    int64_t max_pixels = kDefaultMaxPixels;
    // --exact-decode: JPEGs always at full size (else at the reduction a SizeHint allows).
    bool exact = false;
    // Non-fatal decoder messages ("Corrupt JPEG data: 3 extraneous bytes before marker 0xd9"), one
    // call per message with the file's path; default: dropped. Called from decoding threads.
    std::function<void(const std::string& path, const std::string& message)> on_warning;
};
// Set once by the tool before anything is decoded (and before any thread starts: it also calls
// use_opencv_serially).
void configure_decoding(const DecodeSettings& settings);

// OpenCV's own parallel loops (resize, cvtColor) run serially, settled once for the process:
// Debian's OpenCV runs them on TBB, and cv::setNumThreads, process-wide, tears down and rebuilds
// TBB's arena; called from several decode threads at once it freed the arena under the others
// (crashes in tbb::terminate, heap corruption). Our decoding is parallel across images instead.
// Call it before the threads that decode start (the loaders' constructors do); later calls do
// nothing.
void use_opencv_serially();
const DecodeSettings& decoding();

// What the decoded image is for: it will be resized so that its shorter side (`shorter_side`) or
// both sides become `resize`. A JPEG is then decoded at the largest DCT reduction (1/2, 1/4, 1/8)
// that keeps it at least that large, as PIL's draft() and OpenCV's IMREAD_REDUCED_* do: a
// 4000x3000 photo for a 256-pixel network costs an eighth of the work. resize 0: full size.
struct SizeHint {
    int resize = 0;
    bool shorter_side = false;
};

// The size the file stores, before a reduced JPEG decode (for the warning about inputs unlike a
// model's training images).
struct SourceSize {
    int width = 0, height = 0;
};

// Reads and decodes an image as 8-bit BGR (grey and alpha converted, 16 bits per sample reduced
// to 8, EXIF orientation of JPEGs applied). Throws Error(path, ...) when it is missing, not a
// regular file, unreadable, of an unsupported format (named), over the pixel limit, corrupt or
// truncated. `source`, when given, receives the stored size.
cv::Mat read_image(const std::string& path, SizeHint hint = {}, SourceSize* source = nullptr);

// The same for bytes already in memory; `name` is used in messages.
cv::Mat decode_image(const uint8_t* data, size_t size, const std::string& name, SizeHint hint = {},
                     SourceSize* source = nullptr);

// The DCT reduction (1, 2, 4 or 8) a JPEG of width x height gets for `hint`.
int jpeg_reduction(int width, int height, SizeHint hint);

// The EXIF orientation (1-8) in a JPEG APP1 "Exif" segment's payload, or 1 when absent or malformed.
int exif_orientation(const uint8_t* data, size_t size);

}  // namespace alexnet
