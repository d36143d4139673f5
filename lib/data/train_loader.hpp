#pragma once
// Batches for training and evaluation, made on background threads while the network computes.
// Deterministic: epoch e's order and every item's augmentation depend only on (seed, epoch,
// position), never on thread timing or count, so a resumed run sees the same batches.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/augment.hpp"
#include "data/image.hpp"
#include "data/input_blocks.hpp"
#include "data/labelled_set.hpp"

namespace alexnet {

struct LoaderBatch {
    int index = -1;                 // batch number within the epoch
    int count = 0;                  // real items (the last evaluation batch may be short)
    std::vector<float> data;        // per input block (InputBlocks): (batch * crops, C, H, W)
    std::vector<int> labels;        // batch entries; padding repeats the last item
    std::vector<int> items;         // set indices, count entries
    // "path: reason" for items that could not be read, and their positions in the batch. Training:
    // their places hold copies of a readable item; evaluation: zeros, for the caller to skip.
    // When every item failed, nothing is filled in.
    std::vector<std::string> errors;
    std::vector<int> failed;
};

// One process's part of every batch in a data-parallel run: items offset .. offset + batch - 1 of
// each global batch of `global_batch` items (0: the batch is the whole batch). Order and
// augmentation stay keyed by the global position, so the processes' parts make up exactly the
// batches one process would make.
struct BatchShare {
    int global_batch = 0, offset = 0;
};

class Loader {
public:
    // train: shuffled each epoch, augmented, only full batches. Else: in order, preprocessed as
    // alexnet-classify does (`crops`: center, or ten crops per item, consecutive), and a last short
    // batch padded to `batch` (a share past the end of the set is all padding: count 0).
    // `threads` background threads (0: next() makes every batch itself).
    Loader(const LabelledSet& set, const Preprocessing& p, const Augmentation& a, int batch, bool train,
           uint64_t seed, int threads, CropMode crops = CropMode::center, BatchShare share = {});
    // Evaluation of several networks: each item decoded once, preprocessed into every block.
    Loader(const LabelledSet& set, InputBlocks blocks, int batch, int threads, BatchShare share = {});
    ~Loader();
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    int batches_per_epoch() const;
    // Starts producing epoch `epoch` from batch `first` (a resumed run starts mid-epoch).
    void start(int epoch, int first = 0);
    // The next batch of the started epoch, in order; blocks until it is ready, making the batch's
    // items that no thread has started itself meanwhile (the threads run at nice 19, so busy
    // neighbours can starve them, never the caller). The reference stays valid until the
    // following next() or start().
    const LoaderBatch& next();
    void stop();

private:
    Loader(const LabelledSet& set, InputBlocks blocks, const Augmentation& a, int batch, bool train, uint64_t seed,
           int threads, BatchShare share);
    struct Job;  // a batch being made; its items are taken one at a time by threads and next()
    void work();
    bool can_claim() const;
    std::shared_ptr<Job> open_job() const;  // the lowest batch with items nobody has taken
    // These three are called with `lock` held and release it while they decode or copy.
    void claim(std::unique_lock<std::mutex>& lock);  // the next batch index, as a new job
    void make_item(std::unique_lock<std::mutex>& lock, std::shared_ptr<Job> job);  // by value: jobs_ changes meanwhile
    void finish(std::unique_lock<std::mutex>& lock, std::shared_ptr<Job> job);
    void fill_item(Job& job, int k) const;

    const LabelledSet& set_;
    InputBlocks blocks_;  // evaluation: one per network; training: one
    Augmentation aug_;
    int batch_;
    int global_batch_, offset_;  // BatchShare
    bool train_;
    uint64_t seed_;
    int threads_;

    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::thread> workers_;
    std::shared_ptr<const std::vector<int>> order_;  // this epoch's item order
    int epoch_ = -1, first_ = 0, next_index_ = 0, consumed_ = 0, generation_ = 0;
    bool stopping_ = false;
    std::exception_ptr failure_;  // a worker's error, rethrown by next()
    std::deque<LoaderBatch> ready_;  // finished batches, any order
    std::vector<std::shared_ptr<Job>> jobs_;  // batches being made
    LoaderBatch current_;
    static constexpr int kDepth = 3;  // batches made ahead
};

// The permutation of [0, n) for epoch `epoch` (Fisher-Yates on a seeded mt19937_64).
std::vector<int> epoch_order(int n, uint64_t seed, int epoch);
// A seed for (a, b, c): splitmix64 mixing, so nearby inputs give unrelated streams.
uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0);

}  // namespace alexnet
