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
      decode_threads_(std::max(1, decode_threads)), queue_depth_(size_t(queue_depth)),
      image_floats_(size_t(crops_per_image(mode)) * p.channels * p.crop * p.crop) {
    for (int t = 1; t < decode_threads_; ++t) helpers_.emplace_back([this] { helper(); });
    thread_ = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();  // run() returns only between batches, so no helper is mid-job now
    {
        std::lock_guard lock(job_mutex_);
        stop_helpers_ = true;
    }
    job_cv_.notify_all();
    for (auto& h : helpers_) h.join();
}

void BatchLoader::decode_items(Batch& b) {
    for (size_t i = job_next_++; i < b.items.size(); i = job_next_++) {
        Batch::Item& item = b.items[i];
        try {
            const cv::Mat img = read_image(item.path, size_hint(preprocessing_));
            preprocess(img, preprocessing_, mode_, b.data.data() + image_floats_ * i);
            item.image = int(i);
        } catch (const Error& e) {
            item.error = e.what();
        } catch (const std::exception& e) {
            item.error = item.path + ": " + e.what();
        }
    }
}

void BatchLoader::helper() {
    cv::setNumThreads(1);
    lower_thread_priority();
    uint64_t seen = 0;
    std::unique_lock lock(job_mutex_);
    while (true) {
        job_cv_.wait(lock, [&] { return stop_helpers_ || job_generation_ != seen; });
        if (stop_helpers_) return;
        seen = job_generation_;
        Batch* b = job_;
        lock.unlock();
        decode_items(*b);
        lock.lock();
        if (--job_busy_helpers_ == 0) job_done_cv_.notify_all();
    }
}

void BatchLoader::decode(Batch& b) {
    {
        std::lock_guard lock(job_mutex_);
        job_ = &b;
        job_next_ = 0;
        job_busy_helpers_ = int(helpers_.size());
        ++job_generation_;
    }
    job_cv_.notify_all();
    {
        std::lock_guard lock(mutex_);
        open_generation_ = job_generation_;  // only this thread changes it
    }
    cv_.notify_all();
    decode_items(b);
    std::unique_lock lock(job_mutex_);
    job_done_cv_.wait(lock, [&] { return job_busy_helpers_ == 0; });
    job_ = nullptr;
}

void BatchLoader::run() {
    // OpenCV's own thread pool (TBB) would fight the compute threads for the same cores.
    cv::setNumThreads(1);
    lower_thread_priority();
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
                std::optional<std::string> path = source_.next(b.items.empty() ? -1 : kStreamWaitMs);
                if (!path) break;  // the end, or stdin went quiet: run what there is
                b.items.push_back({*path, "", -1});
            }
            if (b.items.empty()) break;  // next() without a timeout returns nothing only at the end
            b.data.resize(image_floats_ * images_per_batch_);
            decode(b);
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

void BatchLoader::help(uint64_t generation) {
    Batch* b = nullptr;
    {
        std::lock_guard lock(job_mutex_);
        if (job_ == nullptr || job_generation_ != generation) return;  // finished meanwhile
        b = job_;
        ++job_busy_helpers_;  // decode() waits for this share too
    }
    decode_items(*b);
    std::lock_guard lock(job_mutex_);
    if (--job_busy_helpers_ == 0) job_done_cv_.notify_all();
}

std::optional<Batch> BatchLoader::next() {
    std::unique_lock lock(mutex_);
    while (true) {
        if (!ready_.empty()) {
            Batch b = std::move(ready_.front());
            ready_.pop_front();
            cv_.notify_all();
            return b;
        }
        if (done_) break;
        if (open_generation_ != helped_generation_) {  // the batch we wait for is being decoded: help
            const uint64_t generation = helped_generation_ = open_generation_;
            lock.unlock();
            help(generation);
            lock.lock();
            continue;
        }
        cv_.wait(lock);
    }
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
}

void BatchLoader::recycle(Batch&& used) {
    std::lock_guard lock(mutex_);
    free_buffers_.push_back(std::move(used.data));
}

}  // namespace alexnet
