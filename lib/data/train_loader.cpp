#include "data/train_loader.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <opencv2/core.hpp>

#include "data/decode.hpp"
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
    : Loader(set, InputBlocks(p, crops), a, batch, train, seed, threads, share) {}

Loader::Loader(const LabelledSet& set, InputBlocks blocks, int batch, int threads, BatchShare share)
    : Loader(set, std::move(blocks), Augmentation{}, batch, false, 0, threads, share) {}

Loader::Loader(const LabelledSet& set, InputBlocks blocks, const Augmentation& a, int batch, bool train, uint64_t seed,
               int threads, BatchShare share)
    : set_(set), blocks_(std::move(blocks)), aug_(a), batch_(batch), global_batch_(share.global_batch > 0 ? share.global_batch : batch),
      offset_(share.offset), train_(train), seed_(seed), threads_(std::max(0, threads)) {
    check(!train || (blocks_.mode() == CropMode::center && blocks_.count() == 1), "loader", "crops", "center crops in training", "ten");
    check(batch > 0, "loader", "batch", "> 0", std::to_string(batch));
    check(offset_ >= 0 && offset_ + batch <= global_batch_, "loader", "share",
          "items within a global batch of " + std::to_string(global_batch_), std::to_string(offset_) + " + " + std::to_string(batch));
    check(batches_per_epoch() > 0, set.source, "size",
          "at least one full batch of " + std::to_string(global_batch_) + " items", std::to_string(set.size()));
    use_opencv_serially();
    for (int w = 0; w < threads_; ++w) workers_.emplace_back([this] { work(); });
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
    jobs_.clear();  // threads still making an old job drop it when they finish
    std::vector<int> order(size_t(set_.size()));
    if (train_) {
        order = epoch_order(set_.size(), seed_, epoch);
    } else {
        for (int i = 0; i < set_.size(); ++i) order[size_t(i)] = i;
    }
    order_ = std::make_shared<const std::vector<int>>(std::move(order));
    cv_.notify_all();
}

struct Loader::Job {
    LoaderBatch b;
    std::shared_ptr<const std::vector<int>> order;
    int epoch = 0, generation = 0, begin = 0;  // begin: global position of the first item
    int taken = 0, done = 0;                   // items started, items finished
    std::vector<std::string> errors;           // per item: "" when it was read
};

const LoaderBatch& Loader::next() {
    std::unique_lock<std::mutex> lock(mutex_);
    check(epoch_ >= 0 && consumed_ < batches_per_epoch(), "loader", "next()", "a started epoch with batches left",
          "none");
    const int want = consumed_;
    for (;;) {
        if (failure_) std::rethrow_exception(failure_);
        auto it = std::find_if(ready_.begin(), ready_.end(), [&](const LoaderBatch& b) { return b.index == want; });
        if (it != ready_.end()) {
            current_ = std::move(*it);
            ready_.erase(it);
            ++consumed_;
            cv_.notify_all();
            return current_;
        }
        if (next_index_ <= want) {  // nobody has started it
            claim(lock);
            continue;
        }
        auto job = std::find_if(jobs_.begin(), jobs_.end(), [&](const auto& j) { return j->b.index == want; });
        if (job != jobs_.end() && (*job)->taken < (*job)->b.count) {
            make_item(lock, *job);
            continue;
        }
        cv_.wait(lock);  // its last items are being made
    }
}

bool Loader::can_claim() const {
    return epoch_ >= 0 && next_index_ < batches_per_epoch() && next_index_ < consumed_ + kDepth;
}

std::shared_ptr<Loader::Job> Loader::open_job() const {
    std::shared_ptr<Job> best;
    for (const auto& j : jobs_)
        if (j->taken < j->b.count && (!best || j->b.index < best->b.index)) best = j;
    return best;
}

void Loader::work() {
    // Decoding yields to the compute threads (measured for alexnet-embed: nice 19 is best).
    setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), 19);
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        cv_.wait(lock, [&] { return stopping_ || open_job() || can_claim(); });
        if (stopping_) return;
        if (auto job = open_job())  // the earliest batch first
            make_item(lock, job);
        else
            claim(lock);
    }
}

void Loader::claim(std::unique_lock<std::mutex>& lock) {
    auto job = std::make_shared<Job>();
    LoaderBatch& b = job->b;
    b.index = next_index_++;
    job->order = order_;
    job->epoch = epoch_;
    job->generation = generation_;
    lock.unlock();
    job->begin = b.index * global_batch_ + offset_;
    b.count = std::clamp(set_.size() - job->begin, 0, batch_);
    b.data.assign(blocks_.batch_floats(batch_), 0.f);
    b.labels.assign(size_t(batch_), 0);
    for (int k = 0; k < b.count; ++k) {
        const int item = (*job->order)[size_t(job->begin + k)];
        b.items.push_back(item);
        b.labels[size_t(k)] = set_.labels[size_t(item)];
    }
    job->errors.resize(size_t(b.count));
    lock.lock();
    if (job->generation != generation_) return;  // restarted meanwhile: drop it
    jobs_.push_back(job);
    cv_.notify_all();
    if (b.count == 0) finish(lock, job);  // a share past the end of the set: all padding
}

void Loader::make_item(std::unique_lock<std::mutex>& lock, std::shared_ptr<Job> job) {
    const int k = job->taken++;
    lock.unlock();
    std::exception_ptr failure;
    try {
        fill_item(*job, k);
    } catch (const Error& e) {
        job->errors[size_t(k)] = e.what();  // each item's slot is written by one thread only
    } catch (...) {
        failure = std::current_exception();
    }
    lock.lock();
    if (failure) {
        failure_ = failure;
        cv_.notify_all();
        return;
    }
    if (++job->done == job->b.count) finish(lock, job);
}

void Loader::fill_item(Job& job, int k) const {
    LoaderBatch& b = job.b;
    std::mt19937_64 rng(mix_seed(seed_, uint64_t(job.epoch), uint64_t(job.begin + k)));
    const int item = b.items[size_t(k)];
    if (train_)
        make_example(set_.image(item, size_hint(blocks_.block(0))), blocks_.block(0), aug_, true, rng,
                     b.data.data() + size_t(k) * blocks_.image_floats(0));
    else
        blocks_.preprocess([&](SizeHint hint) { return set_.image(item, hint); }, b.data.data(), batch_, k);
}

void Loader::finish(std::unique_lock<std::mutex>& lock, std::shared_ptr<Job> job) {
    jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), job), jobs_.end());
    lock.unlock();
    LoaderBatch& b = job->b;
    auto copy_item = [&](int from, int to) { blocks_.copy_image(b.data.data(), batch_, from, b.data.data(), batch_, to); };
    for (int k = 0; k < b.count; ++k)
        if (!job->errors[size_t(k)].empty()) {
            b.errors.push_back(job->errors[size_t(k)]);
            b.failed.push_back(k);
        }
    int good = -1;
    for (int k = 0; k < b.count && good < 0; ++k)
        if (job->errors[size_t(k)].empty()) good = k;
    if (good >= 0) {  // else every item failed: the caller skips them all (training: no step)
        if (train_)  // unreadable items: copies of a readable one keep the batch full
            for (int k : b.failed) {
                copy_item(good, k);
                b.labels[size_t(k)] = b.labels[size_t(good)];
            }
        for (int k = b.count; k < batch_; ++k) {  // evaluation padding: copies of the last readable item
            copy_item(good, k);
            b.labels[size_t(k)] = b.labels[size_t(good)];
        }
    }
    lock.lock();
    if (job->generation != generation_) return;  // restarted meanwhile: drop it
    ready_.push_back(std::move(b));
    cv_.notify_all();
}

}  // namespace alexnet
