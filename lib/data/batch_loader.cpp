#include "data/batch_loader.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <opencv2/core.hpp>

#include "core/error.hpp"

namespace alexnet {

namespace {

// Decoding threads yield to the compute threads: they fill the cores' idle time rather than
// preempting oneDNN's workers mid-primitive, where the others would wait at a barrier. Measured
// with alexnet-bench on 2 cores: nice 19 gave the best end-to-end rate (0 and 5 were slower).
void lower_thread_priority() { setpriority(PRIO_PROCESS, id_t(syscall(SYS_gettid)), 19); }

}  // namespace

BatchLoader::BatchLoader(PathSource& source, const Preprocessing& p, CropMode mode, int images_per_batch,
                         int decode_threads, int queue_depth)
    : source_(source), preprocessing_(p), mode_(mode), images_per_batch_(images_per_batch),
      decode_threads_(std::max(1, decode_threads)), queue_depth_(size_t(queue_depth)) {
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

void BatchLoader::decode(Batch& b, size_t image_floats) {
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i = next++; i < b.items.size(); i = next++) {
            Batch::Item& item = b.items[i];
            try {
                const cv::Mat img = read_image(item.path);
                preprocess(img, preprocessing_, mode_, b.data.data() + image_floats * i);
                item.image = int(i);
            } catch (const Error& e) {
                item.error = e.what();
            } catch (const std::exception& e) {
                item.error = item.path + ": " + e.what();
            }
        }
    };
    std::vector<std::thread> helpers;
    const int extra = std::min<int>(decode_threads_ - 1, int(b.items.size()) - 1);
    for (int t = 0; t < extra; ++t)
        helpers.emplace_back([&] {
            cv::setNumThreads(1);
            lower_thread_priority();
            work();
        });
    work();
    for (auto& h : helpers) h.join();
}

void BatchLoader::run() {
    // OpenCV's own thread pool (TBB) would fight the compute threads for the same cores.
    cv::setNumThreads(1);
    lower_thread_priority();
    const size_t image_floats = size_t(crops_per_image(mode_)) * preprocessing_.channels * preprocessing_.crop * preprocessing_.crop;
    try {
        while (true) {
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
            while (int(b.items.size()) < images_per_batch_) {
                std::optional<std::string> path = source_.next();
                if (!path) break;
                b.items.push_back({*path, "", -1});
            }
            if (b.items.empty()) break;
            b.data.resize(image_floats * images_per_batch_);
            decode(b, image_floats);
            for (const auto& item : b.items) b.decoded += item.error.empty();
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
