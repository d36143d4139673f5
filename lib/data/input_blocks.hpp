#pragma once
// One decoded image, preprocessed once for each distinct preprocessing of the networks that read
// it (an ensemble's members may differ in input size, mean, channel order). A batch holds block 0
// for all its images, then block 1, ...: with one block that is the plain (images * crops, C, H, W)
// tensor, so code that knows of one preprocessing reads it as before.
#include <cstddef>
#include <vector>

#include "data/image.hpp"

namespace alexnet {

class InputBlocks {
public:
    InputBlocks(const Preprocessing& p, CropMode mode) : InputBlocks(std::vector<Preprocessing>{p}, mode) {}
    // `blocks` must be distinct (add_block keeps them so) and not empty.
    InputBlocks(std::vector<Preprocessing> blocks, CropMode mode);

    size_t count() const { return blocks_.size(); }
    const Preprocessing& block(size_t b) const { return blocks_[b]; }
    CropMode mode() const { return mode_; }
    size_t index_of(const Preprocessing& p) const;  // throws Error when `p` is none of the blocks
    size_t image_floats(size_t b) const;  // one image's crops in block b: crops * C * crop * crop
    size_t block_offset(size_t b, int images) const;  // where block b starts in a batch of `images`
    size_t batch_floats(int images) const;
    // A decode that serves every block: the largest resize (a JPEG is reduced no further than the
    // most demanding block allows).
    SizeHint size_hint() const;

    // Writes image `i` of a batch of `images` into every block.
    void preprocess(const cv::Mat& bgr, float* batch, int images, int i) const;
    // Image `from` of batch `src` (of `src_images`) to image `to` of `dst` (of `dst_images`), every block.
    void copy_image(const float* src, int src_images, int from, float* dst, int dst_images, int to) const;

private:
    std::vector<Preprocessing> blocks_;
    CropMode mode_;
};

// The index of `p` among `blocks`, appended when it is new.
size_t add_block(std::vector<Preprocessing>& blocks, const Preprocessing& p);

}  // namespace alexnet
