#include "data/batch_loader.hpp"

#include "core/error.hpp"

namespace alexnet {

BatchLoader::BatchLoader(PathSource& source, const Preprocessing& p, CropMode mode, int images_per_batch,
                         int queue_depth)
    : source_(source), preprocessing_(p), mode_(mode), images_per_batch_(images_per_batch),
      queue_depth_(size_t(queue_depth)) {
    thread_ = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void BatchLoader::run() {
    const size_t image_floats = size_t(crops_per_image(mode_)) * 3 * preprocessing_.crop * preprocessing_.crop;
    try {
        bool more = true;
        while (more) {
            Batch b;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [&] { return stop_ || ready_.size() < queue_depth_; });
                if (stop_) return;
                if (!free_buffers_.empty()) {
                    b.data = std::move(free_buffers_.back());
                    free_buffers_.pop_back();
                }
            }
            b.data.resize(image_floats * images_per_batch_);
            while (b.images < images_per_batch_) {
                std::optional<std::string> path = source_.next();
                if (!path) {
                    more = false;
                    break;
                }
                Batch::Item item{*path, "", -1};
                try {
                    const cv::Mat img = read_image(*path);
                    preprocess(img, preprocessing_, mode_, b.data.data() + image_floats * b.images);
                    item.image = b.images++;
                } catch (const Error& e) {
                    item.error = e.what();
                } catch (const std::exception& e) {
                    item.error = *path + ": " + e.what();
                }
                b.items.push_back(std::move(item));
            }
            if (b.items.empty()) break;
            std::lock_guard lock(mutex_);
            ready_.push_back(std::move(b));
            cv_.notify_all();
        }
    } catch (...) {
        std::lock_guard lock(mutex_);
        error_ = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_all();
}

std::optional<Batch> BatchLoader::next() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !ready_.empty() || done_; });
    if (!ready_.empty()) {
        Batch b = std::move(ready_.front());
        ready_.pop_front();
        cv_.notify_all();
        return b;
    }
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
}

void BatchLoader::recycle(Batch&& used) {
    std::lock_guard lock(mutex_);
    free_buffers_.push_back(std::move(used.data));
}

}  // namespace alexnet
