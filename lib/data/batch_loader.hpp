#pragma once
// Decodes and preprocesses images on background threads while the network computes. Batches come
// out in input order; an image that fails carries its error instead of a row of data. The decode
// threads run at nice 19, filling the cores' idle time; a consumer that finds no batch ready
// decodes the waiting batch's remaining images itself, at its own priority, and the thread that
// gathers paths and hands batches out keeps the process's priority (it mostly sleeps).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/image.hpp"
#include "data/input_blocks.hpp"
#include "data/inputs.hpp"

namespace alexnet {

struct Batch {
    struct Item {
        std::string path;
        std::string error;  // empty when decoded
        int image = -1;     // its rows in data: image * crops ... (image + 1) * crops - 1
        SourceSize source;  // as stored (decoded items)
        bool colour = false;  // has_colour() of the decoded image
    };
    std::vector<Item> items;
    int decoded = 0;          // items decoded (a failed item's rows in data are left unused)
    std::vector<float> data;  // per input block (InputBlocks): (images * crops, C, crop, crop)
};

class BatchLoader {
public:
    // A batch is run before it is full when stdin gives no new path for this long, so
    // `tail -f paths | alexnet-classify -` answers each image promptly.
    static constexpr int kStreamWaitMs = 100;
    // A consumer that has decoded every untaken item of the batch it waits for and still has no
    // batch after this long decodes the items the decode threads hold again itself.
    static constexpr int kRedoAfterMs = 50;

    // `decode_threads` decode one batch together (at a lower priority than the compute threads;
    // 0: the consumer decodes every image itself, in next()).
    BatchLoader(PathSource& source, const Preprocessing& p, CropMode mode, int images_per_batch,
                int decode_threads = 2, int queue_depth = 2)
        : BatchLoader(source, InputBlocks(p, mode), images_per_batch, decode_threads, queue_depth) {}
    // Each image decoded once and preprocessed into every block (an ensemble's members).
    BatchLoader(PathSource& source, InputBlocks blocks, int images_per_batch, int decode_threads = 2,
                int queue_depth = 2);
    ~BatchLoader();
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;

    std::optional<Batch> next();       // nullopt once every path has been handed out
    void recycle(Batch&& used);        // gives a batch's buffer back for reuse

private:
    void run();
    void decode(Batch& b);  // hands `b` to the decode threads, back when every item is done
    void helper();          // a persistent decode thread (nice 19)
    // Decodes items of the batch of `generation` until none is left to take; `redo`: also items
    // another thread has taken but not finished (the consumer's, so that an item held by a
    // starved nice-19 thread does not hold up the batch; the first result in wins).
    void decode_items(uint64_t generation, bool redo);

    PathSource& source_;
    InputBlocks blocks_;
    int images_per_batch_;
    int decode_threads_;
    size_t queue_depth_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Batch> ready_;
    std::vector<std::vector<float>> free_buffers_;
    bool done_ = false, stop_ = false;
    // The batch being decoded, for next(): a consumer that finds no batch ready decodes items of
    // it at its own priority, so decoding cannot starve behind busy neighbours (nice 19 gets
    // about 1.5% of a core beside one busy process).
    uint64_t open_generation_ = 0, helped_generation_ = 0;
    std::exception_ptr error_;
    std::thread thread_;

    // The batch being decoded: run() publishes it (generation++); decoders take items, decode
    // them into buffers of their own and copy a result in under job_mutex_ only while the
    // generation is unchanged and the item is not done yet, so a thread that wakes up late never
    // touches a batch that has moved on.
    enum class ItemState : uint8_t { open, taken, done };
    std::mutex job_mutex_;
    std::condition_variable job_cv_, job_done_cv_;
    Batch* job_ = nullptr;
    uint64_t job_generation_ = 0;
    std::vector<ItemState> job_state_;
    size_t job_done_ = 0;
    bool stop_helpers_ = false;
    std::vector<std::thread> helpers_;
};

}  // namespace alexnet
