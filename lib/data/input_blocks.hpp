#pragma once
// One decoded image, preprocessed once for each distinct preprocessing of the networks that read
// it (an ensemble's members may differ in input size, mean, channel order). A batch holds block 0
// for all its images, then block 1, ...: with one block that is the plain (images * crops, C, H, W)
// tensor, so code that knows of one preprocessing reads it as before.
#include <cstddef>
#include <functional>
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
    size_t image_floats(size_t b) const;  // one image's crops in block b: crops * C * crop * crop
    size_t block_offset(size_t b, int images) const;  // where block b starts in a batch of `images`
    size_t batch_floats(int images) const;
    // Decodes with `read` once per distinct resize target among the blocks and writes image `i` of
    // a batch of `images` into every block; returns the first decode (for its size and colour). A
    // JPEG decodes at the DCT reduction its resize target allows, so blocks of one target share a
    // decode and every block sees the pixels its model alone would (PNGs decode alike for all).
    cv::Mat preprocess(const std::function<cv::Mat(SizeHint)>& read, float* batch, int images, int i) const;
    // Image `from` of batch `src` (of `src_images`) to image `to` of `dst` (of `dst_images`), every block.
    void copy_image(const float* src, int src_images, int from, float* dst, int dst_images, int to) const;

private:
    std::vector<Preprocessing> blocks_;
    CropMode mode_;
};

// The index of `p` among `blocks`, appended when it is new.
size_t add_block(std::vector<Preprocessing>& blocks, const Preprocessing& p);
// The distinct preprocessings of `each` (one per network) as blocks, and in `block_of` the block
// of each network.
InputBlocks input_blocks_of(const std::vector<Preprocessing>& each, CropMode mode, std::vector<size_t>& block_of);

}  // namespace alexnet
