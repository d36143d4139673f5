#pragma once
// Training-time augmentation (paper section 4.1) and the statistics it needs from the data:
// random crop (after optional zero padding), horizontal flip, PCA colour lighting.
#include <cstdint>
#include <opencv2/core.hpp>
#include <random>
#include <string>

#include "data/labelled_set.hpp"
#include "model/model.hpp"

namespace alexnet {

struct Lighting {
    float stddev = 0;  // of each a_i; the paper: 0.1. 0: off
    // RGB on the 0..1 scale; eigvec[k] is the k-th eigenvector (as a column in the paper)
    float eigval[3] = {0, 0, 0};
    float eigvec[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
};
Lighting imagenet_lighting();  // the commonly used ImageNet values (DESIGN.md section 6)

struct Augmentation {
    bool random_crop = true;
    bool flip = true;
    int pad = 0;  // zero padding on each side before the random crop (small images)
    Lighting lighting;
};

// `img` (8-bit grey or BGR) -> (channels, crop, crop) floats normalised per `p`. With `train`,
// the crop position, flip and lighting are drawn from `rng`; else the center crop.
void make_example(const cv::Mat& img, const Preprocessing& p, const Augmentation& a, bool train,
                  std::mt19937_64& rng, float* out);

// Statistics of (up to `max_items`, evenly spaced) training images after resizing, on the 0..1
// scale: per-channel mean and std in network channel order, and the RGB covariance's
// eigen-decomposition for lighting (3-channel sets).
struct DataStats {
    float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
    Lighting lighting;
    int images = 0;
};
DataStats compute_stats(const LabelledSet& set, const Preprocessing& p, int max_items);

}  // namespace alexnet
