#include "data/train_loader.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <opencv2/core.hpp>

#include "core/error.hpp"

namespace alexnet {

uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t z = a;
    for (uint64_t v : {b, c}) {
        z += 0x9E3779B97F4A7C15ull + v;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
    }
    return z;
}

std::vector<int> epoch_order(int n, uint64_t seed, int epoch) {
    std::vector<int> order(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) order[size_t(i)] = i;
    std::mt19937_64 rng(mix_seed(seed, 0x5348554646ull, uint64_t(epoch)));
    for (int i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(rng() % uint64_t(i + 1))]);
    return order;
}

Loader::Loader(const LabelledSet& set, const Preprocessing& p, const Augmentation& a, int batch, bool train,
               uint64_t seed, int threads, CropMode crops, BatchShare share)
    : set_(set), p_(p), aug_(a), batch_(batch), global_batch_(share.global_batch > 0 ? share.global_batch : batch),
      offset_(share.offset), train_(train), crops_(crops), seed_(seed), threads_(std::max(1, threads)) {
    check(!train || crops == CropMode::center, "loader", "crops", "center crops in training", "ten");
    check(batch > 0, "loader", "batch", "> 0", std::to_string(batch));
    check(offset_ >= 0 && offset_ + batch <= global_batch_, "loader", "share",
          "items within a global batch of " + std::to_string(global_batch_), std::to_string(offset_) + " + " + std::to_string(batch));
    check(batches_per_epoch() > 0, set.source, "size",
          "at least one full batch of " + std::to_string(global_batch_) + " items", std::to_string(set.size()));
    for (int w = 0; w < threads_; ++w) workers_.emplace_back([this, w] { work(w); });
}

Loader::~Loader() { stop(); }

void Loader::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_)
        if (t.joinable()) t.join();
}

int Loader::batches_per_epoch() const {
    return train_ ? set_.size() / global_batch_ : (set_.size() + global_batch_ - 1) / global_batch_;
}

void Loader::start(int epoch, int first) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    epoch_ = epoch;
    first_ = first;
    next_index_ = first;
    consumed_ = first;
    ready_.clear();
    std::vector<int> order(size_t(set_.size()));
    if (train_) {
        order = epoch_order(set_.size(), seed_, epoch);
    } else {
        for (int i = 0; i < set_.size(); ++i) order[size_t(i)] = i;
    }
    order_ = std::make_shared<const std::vector<int>>(std::move(order));
    cv_.notify_all();
}

const LoaderBatch& Loader::next() {
    std::unique_lock<std::mutex> lock(mutex_);
    check(epoch_ >= 0 && consumed_ < batches_per_epoch(), "loader", "next()", "a started epoch with batches left",
          "none");
    const int want = consumed_;
    cv_.wait(lock, [&] {
        return failure_ || std::any_of(ready_.begin(), ready_.end(), [&](const LoaderBatch& b) { return b.index == want; });
    });
    if (failure_) std::rethrow_exception(failure_);
    auto it = std::find_if(ready_.begin(), ready_.end(), [&](const LoaderBatch& b) { return b.index == want; });
    current_ = std::move(*it);
    ready_.erase(it);
    ++consumed_;
    cv_.notify_all();
    return current_;
}

void Loader::work(int worker) {
    // Decoding yields to the compute threads (measured for alexnet-embed: nice 19 is best).
    setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), 19);
    cv::setNumThreads(1);
    (void)worker;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        cv_.wait(lock, [&] {
            return stopping_ || (epoch_ >= 0 && next_index_ < batches_per_epoch() && next_index_ < consumed_ + kDepth);
        });
        if (stopping_) return;
        const int index = next_index_++, epoch = epoch_, generation = generation_;
        const auto order = order_;
        lock.unlock();
        LoaderBatch b;
        std::exception_ptr failure;
        try {
            fill(b, *order, epoch, index);
        } catch (...) {
            failure = std::current_exception();
        }
        lock.lock();
        if (failure) {
            failure_ = failure;
            cv_.notify_all();
            continue;
        }
        if (generation != generation_) continue;  // restarted meanwhile: drop it
        ready_.push_back(std::move(b));
        cv_.notify_all();
    }
}

void Loader::fill(LoaderBatch& b, const std::vector<int>& order, int epoch, int index) {
    b.index = index;
    const int begin = index * global_batch_ + offset_;  // global position of the first item
    b.count = std::clamp(set_.size() - begin, 0, batch_);
    const int64_t stride = int64_t(crops_per_image(crops_)) * p_.channels * p_.crop * p_.crop;  // per item
    b.data.assign(size_t(batch_ * stride), 0.f);
    b.labels.assign(size_t(batch_), 0);
    for (int k = 0; k < b.count; ++k) {
        const int item = order[size_t(begin + k)];
        b.items.push_back(item);
        b.labels[size_t(k)] = set_.labels[size_t(item)];
        std::mt19937_64 rng(mix_seed(seed_, uint64_t(epoch), uint64_t(begin + k)));
        try {
            const cv::Mat img = set_.image(item, size_hint(p_));
            if (train_)
                make_example(img, p_, aug_, true, rng, b.data.data() + k * stride);
            else
                preprocess(img, p_, crops_, b.data.data() + k * stride);
        } catch (const Error& e) {
            b.errors.push_back(e.what());
            b.failed.push_back(k);
        }
    }
    int good = -1;
    for (int k = 0; k < b.count && good < 0; ++k)
        if (std::find(b.failed.begin(), b.failed.end(), k) == b.failed.end()) good = k;
    if (good < 0) return;  // every item failed: the caller skips them all (training: no step)
    if (train_)  // unreadable items: copies of a readable one keep the batch full
        for (int k : b.failed) {
            std::copy_n(b.data.data() + good * stride, stride, b.data.data() + k * stride);
            b.labels[size_t(k)] = b.labels[size_t(good)];
        }
    for (int k = b.count; k < batch_; ++k) {  // evaluation padding: copies of the last readable item
        std::copy_n(b.data.data() + good * stride, stride, b.data.data() + k * stride);
        b.labels[size_t(k)] = b.labels[size_t(good)];
    }
}

}  // namespace alexnet
