#pragma once
// Image decoding and the preprocessing that travels with the weights (DESIGN.md section 3).
#include <opencv2/core.hpp>
#include <string>

#include "data/decode.hpp"
#include "model/model.hpp"

namespace alexnet {


enum class CropMode { center, ten };
CropMode parse_crop_mode(const std::string& text);  // "center" | "ten"
int crops_per_image(CropMode mode);

// Resizing the shorter side to 256 keeps the aspect ratio up to this factor; beyond it the long
// side is capped (a 1x20000 strip would otherwise become 256x5120000, 3.9 GB).
constexpr int kMaxResizedAspect = 64;

// What resize_for will do with a decoded image, for decoding JPEGs no larger than it needs.
inline SizeHint size_hint(const Preprocessing& p) { return {p.resize, p.resize_shorter}; }

// The size resize_for makes: `p.resize` square, or the shorter side `p.resize` (long side capped).
cv::Size resized_size(const cv::Mat& bgr, const Preprocessing& p);
// Resizes per `p` (warp or shorter side, INTER_AREA when shrinking, INTER_LINEAR when enlarging).
cv::Mat resize_for(const cv::Mat& bgr, const Preprocessing& p);
// cv::resize with INTER_AREA to a size no larger on either side, bit for bit (same weights, same
// float sums in the same order, same rounding), about 3x faster for ratios that are not whole
// numbers: each source row is filtered horizontally once, where OpenCV 4.6 filters it again for
// every output row it touches. 8-bit images of 1 to 4 channels; whole ratios go to OpenCV's own
// fast path.
// With `roi`, only those output pixels (a crop of the result, computed alone).
cv::Mat resize_area(const cv::Mat& src, int width, int height, cv::Rect roi = {});
// Top-left offset of the centered crop of `crop` in `size`: Caffe floors, torchvision rounds.
int center_offset(int size, int crop, bool torchvision_rounding);

// Writes crops_per_image(mode) tensors of (channels, crop, crop), network channel order, normalised:
// x = (pixel / 255 * pixel_scale - mean) / std. Ten-crop order: center, four corners, then the
// same five mirrored.
// `bgr` is 8-bit BGR or 8-bit grey; it is converted to the network's channel count.
void preprocess(const cv::Mat& bgr, const Preprocessing& p, CropMode mode, float* out);

// Whether an 8-bit BGR image shows colour, not grey stored in three channels: over 1% of up to
// ~4,000 pixels sampled on a grid have channels more than 24 apart.
bool has_colour(const cv::Mat& bgr);

}  // namespace alexnet
