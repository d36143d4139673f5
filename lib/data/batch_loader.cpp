#include "data/batch_loader.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <opencv2/core.hpp>

#include "core/error.hpp"
#include "data/decode.hpp"

namespace alexnet {

namespace {

// Decoding threads yield to the compute threads: they fill the cores' idle time rather than
// preempting oneDNN's workers mid-primitive, where the others would wait at a barrier. Measured
// with alexnet-bench on 2 cores: nice 19 gave the best end-to-end rate (0 and 5 were slower).
void lower_thread_priority() { setpriority(PRIO_PROCESS, id_t(syscall(SYS_gettid)), 19); }

}  // namespace

BatchLoader::BatchLoader(PathSource& source, InputBlocks blocks, int images_per_batch, int decode_threads,
                         int queue_depth)
    : source_(source), blocks_(std::move(blocks)), images_per_batch_(images_per_batch),
      decode_threads_(std::max(0, decode_threads)), queue_depth_(size_t(queue_depth)) {
    use_opencv_serially();
    for (int t = 0; t < decode_threads_; ++t) helpers_.emplace_back([this] { helper(); });
    thread_ = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();  // run() returns only between batches: no batch is open now
    {
        std::lock_guard lock(job_mutex_);
        stop_helpers_ = true;
    }
    job_cv_.notify_all();
    for (auto& h : helpers_) h.join();
}

void BatchLoader::decode_items(uint64_t generation, bool redo) {
    std::vector<float> own(blocks_.batch_floats(1));  // one image, every block
    std::unique_lock lock(job_mutex_);
    while (job_ != nullptr && job_generation_ == generation) {
        auto it = std::find(job_state_.begin(), job_state_.end(), ItemState::open);
        if (it == job_state_.end() && redo) it = std::find(job_state_.begin(), job_state_.end(), ItemState::taken);
        if (it == job_state_.end()) return;
        const size_t i = size_t(it - job_state_.begin());
        *it = ItemState::taken;
        const std::string path = job_->items[i].path;
        lock.unlock();
        std::string error;
        SourceSize source;
        bool colour = false;
        try {
            const cv::Mat img =
                blocks_.preprocess([&](SizeHint hint) { return read_image(path, hint, &source); }, own.data(), 1, 0);
            colour = has_colour(img);
        } catch (const Error& e) {
            error = e.what();
        } catch (const std::exception& e) {
            error = path + ": " + e.what();
        }
        lock.lock();
        if (job_ == nullptr || job_generation_ != generation) return;  // the batch was done without us
        if (job_state_[i] == ItemState::done) continue;                // another thread's result came first
        job_state_[i] = ItemState::done;
        Batch::Item& item = job_->items[i];
        item.error = error;
        if (error.empty()) {
            blocks_.copy_image(own.data(), 1, 0, job_->data.data(), images_per_batch_, int(i));
            item.image = int(i);
            item.source = source;
            item.colour = colour;
        }
        if (++job_done_ == job_state_.size()) job_done_cv_.notify_all();
    }
}

void BatchLoader::helper() {
    lower_thread_priority();
    uint64_t seen = 0;
    std::unique_lock lock(job_mutex_);
    while (true) {
        job_cv_.wait(lock, [&] { return stop_helpers_ || (job_ != nullptr && job_generation_ != seen); });
        if (stop_helpers_) return;
        seen = job_generation_;
        lock.unlock();
        decode_items(seen, false);
        lock.lock();
    }
}

void BatchLoader::decode(Batch& b) {
    uint64_t generation = 0;
    {
        std::lock_guard lock(job_mutex_);
        job_ = &b;
        job_state_.assign(b.items.size(), ItemState::open);
        job_done_ = 0;
        generation = ++job_generation_;
    }
    job_cv_.notify_all();
    {
        std::lock_guard lock(mutex_);
        open_generation_ = generation;  // only this thread changes it
    }
    cv_.notify_all();
    std::unique_lock lock(job_mutex_);
    job_done_cv_.wait(lock, [&] { return job_done_ == job_state_.size(); });
    job_ = nullptr;  // decoders still busy with an item of it will drop their result
}

void BatchLoader::run() {
    // This thread only gathers paths, hands batches out and waits: at the process's own priority,
    // so a batch the consumer has finished decoding is never held up behind busy neighbours.
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
                b.items.push_back({*path, "", -1, {}, false});
            }
            if (b.items.empty()) break;  // next() without a timeout returns nothing only at the end
            b.data.resize(blocks_.batch_floats(images_per_batch_));
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
            decode_items(generation, false);
            lock.lock();
            // What is left is in the decode threads' hands; should busy neighbours starve them,
            // decode their items again here (an item takes a few ms, a 50 MP photo ~0.15 s).
            const auto arrived = [&] { return !ready_.empty() || done_; };
            if (!cv_.wait_for(lock, std::chrono::milliseconds(kRedoAfterMs), arrived)) {
                lock.unlock();
                decode_items(generation, true);
                lock.lock();
            }
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
