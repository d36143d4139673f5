#include "data/input_blocks.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace alexnet {

InputBlocks::InputBlocks(std::vector<Preprocessing> blocks, CropMode mode) : blocks_(std::move(blocks)), mode_(mode) {
    check(!blocks_.empty(), "input blocks", "preprocessings", "at least one", "none");
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

cv::Mat InputBlocks::preprocess(const std::function<cv::Mat(SizeHint)>& read, float* batch, int images, int i) const {
    cv::Mat first;
    std::vector<bool> done(blocks_.size(), false);
    for (size_t b = 0; b < blocks_.size(); ++b) {
        if (done[b]) continue;
        const cv::Mat img = read(alexnet::size_hint(blocks_[b]));
        if (first.empty()) first = img;
        for (size_t k = b; k < blocks_.size(); ++k)  // every block of this resize target
            if (!done[k] && blocks_[k].resize == blocks_[b].resize) {
                alexnet::preprocess(img, blocks_[k], mode_, batch + block_offset(k, images) + size_t(i) * image_floats(k));
                done[k] = true;
            }
    }
    return first;
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

InputBlocks input_blocks_of(const std::vector<Preprocessing>& each, CropMode mode, std::vector<size_t>& block_of) {
    std::vector<Preprocessing> blocks;
    block_of.clear();
    for (const Preprocessing& p : each) block_of.push_back(add_block(blocks, p));
    return InputBlocks(std::move(blocks), mode);
}

}  // namespace alexnet
