#pragma once
// Decodes and preprocesses images on a background thread while the network computes. Batches come
// out in input order; an image that fails carries its error instead of a row of data. The decode
// threads run at nice 19, filling the cores' idle time; a consumer that finds no batch ready
// decodes the waiting batch's remaining images itself, at its own priority.
#include <atomic>
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
#include "data/inputs.hpp"

namespace alexnet {

struct Batch {
    struct Item {
        std::string path;
        std::string error;  // empty when decoded
        int image = -1;     // its rows in data: image * crops ... (image + 1) * crops - 1
    };
    std::vector<Item> items;
    int decoded = 0;          // items decoded (a failed item's rows in data are left unused)
    std::vector<float> data;  // (images * crops, 3, crop, crop)
};

class BatchLoader {
public:
    // A batch is run before it is full when stdin gives no new path for this long, so
    // `tail -f paths | alexnet-classify -` answers each image promptly.
    static constexpr int kStreamWaitMs = 100;

    // `decode_threads` decode one batch together (at a lower priority than the compute threads).
    BatchLoader(PathSource& source, const Preprocessing& p, CropMode mode, int images_per_batch,
                int decode_threads = 2, int queue_depth = 2);
    ~BatchLoader();
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;

    std::optional<Batch> next();       // nullopt once every path has been handed out
    void recycle(Batch&& used);        // gives a batch's buffer back for reuse

private:
    void run();
    void decode(Batch& b);              // all decode threads together, back when done
    void decode_items(Batch& b);        // one thread's share: items by a shared counter
    void helper();                      // a persistent decode thread besides run()'s own
    void help(uint64_t generation);     // the consumer's share of a batch it is waiting for

    PathSource& source_;
    Preprocessing preprocessing_;
    CropMode mode_;
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

    size_t image_floats_ = 0;
    // The batch being decoded: run() publishes it (generation++), helpers join in, and run()
    // waits until none is still working on it.
    std::mutex job_mutex_;
    std::condition_variable job_cv_, job_done_cv_;
    Batch* job_ = nullptr;
    uint64_t job_generation_ = 0;
    int job_busy_helpers_ = 0;
    bool stop_helpers_ = false;
    std::atomic<size_t> job_next_{0};
    std::vector<std::thread> helpers_;
};

}  // namespace alexnet
