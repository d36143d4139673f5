#include "data/input_blocks.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace alexnet {

InputBlocks::InputBlocks(std::vector<Preprocessing> blocks, CropMode mode) : blocks_(std::move(blocks)), mode_(mode) {
    check(!blocks_.empty(), "input blocks", "preprocessings", "at least one", "none");
}

size_t InputBlocks::index_of(const Preprocessing& p) const {
    const auto it = std::find(blocks_.begin(), blocks_.end(), p);
    check(it != blocks_.end(), "input blocks", "preprocessing", "one of the " + std::to_string(blocks_.size()) + " blocks",
          "another");
    return size_t(it - blocks_.begin());
}

size_t InputBlocks::image_floats(size_t b) const {
    const Preprocessing& p = blocks_[b];
    return size_t(crops_per_image(mode_)) * size_t(p.channels) * size_t(p.crop) * size_t(p.crop);
}

size_t InputBlocks::block_offset(size_t b, int images) const {
    size_t at = 0;
    for (size_t k = 0; k < b; ++k) at += image_floats(k) * size_t(images);
    return at;
}

size_t InputBlocks::batch_floats(int images) const { return block_offset(blocks_.size(), images); }

SizeHint InputBlocks::size_hint() const {
    SizeHint hint = alexnet::size_hint(blocks_[0]);
    for (const Preprocessing& p : blocks_)
        if (p.resize > hint.resize) hint = alexnet::size_hint(p);
    return hint;
}

void InputBlocks::preprocess(const cv::Mat& bgr, float* batch, int images, int i) const {
    for (size_t b = 0; b < blocks_.size(); ++b)
        alexnet::preprocess(bgr, blocks_[b], mode_, batch + block_offset(b, images) + size_t(i) * image_floats(b));
}

void InputBlocks::copy_image(const float* src, int src_images, int from, float* dst, int dst_images, int to) const {
    for (size_t b = 0; b < blocks_.size(); ++b) {
        const size_t n = image_floats(b);
        std::copy_n(src + block_offset(b, src_images) + size_t(from) * n, n,
                    dst + block_offset(b, dst_images) + size_t(to) * n);
    }
}

size_t add_block(std::vector<Preprocessing>& blocks, const Preprocessing& p) {
    const auto it = std::find(blocks.begin(), blocks.end(), p);
    if (it != blocks.end()) return size_t(it - blocks.begin());
    blocks.push_back(p);
    return blocks.size() - 1;
}

}  // namespace alexnet
