#pragma once
// Image decoding and the preprocessing that travels with the weights (DESIGN.md section 3).
#include <opencv2/core.hpp>
#include <string>

#include "model/model.hpp"

namespace alexnet {

// Reads and decodes an image as 8-bit BGR (grayscale and alpha converted, EXIF orientation
// applied). Throws Error(path, reason) when it is missing, unreadable, corrupt or truncated.
cv::Mat read_image(const std::string& path);

enum class CropMode { center, ten };
CropMode parse_crop_mode(const std::string& text);  // "center" | "ten"
int crops_per_image(CropMode mode);

// Resizes per `p` (warp or shorter side, INTER_AREA when shrinking, INTER_LINEAR when enlarging).
cv::Mat resize_for(const cv::Mat& bgr, const Preprocessing& p);
// Top-left offset of the centered crop of `crop` in `size`: Caffe floors, torchvision rounds.
int center_offset(int size, int crop, bool torchvision_rounding);

// Writes crops_per_image(mode) tensors of (channels, crop, crop), network channel order, normalised:
// x = (pixel / 255 * pixel_scale - mean) / std. Ten-crop order: center, four corners, then the
// same five mirrored.
// `bgr` is 8-bit BGR or 8-bit grey; it is converted to the network's channel count.
void preprocess(const cv::Mat& bgr, const Preprocessing& p, CropMode mode, float* out);

}  // namespace alexnet
