#pragma once
// Data-parallel training (DESIGN.md section 5b): every rank computes the gradient of its share of
// the global batch, and the shares are summed by allreduce in buckets that start while the
// backward pass is still running, as PyTorch DDP does: the last layers' gradients are ready first,
// and their sum travels while the earlier layers' backward runs.
#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "parallel/communicator.hpp"
#include "engine/train_net.hpp"

namespace alexnet {

class GradientReducer {
public:
    static constexpr double kDefaultBucketMb = 25;  // DDP's bucket_cap_mb

    // Buckets of consecutive layers in backward order (the last layer first), each closed once it
    // holds `bucket_mb` megabytes. bucket_mb 0: no overlap, one sum of every gradient after the
    // backward pass. One process: nothing to do, no hook.
    GradientReducer(Communicator& comm, TrainNet& net, double bucket_mb = kDefaultBucketMb);
    GradientReducer(const GradientReducer&) = delete;
    GradientReducer& operator=(const GradientReducer&) = delete;

    // After train_step: starts the buckets not started yet and waits for every sum; the net's
    // gradients are then the global batch's, the same on every rank.
    void finish();
    // Instead of train_step, on a rank none of whose items could be read: zero gradients, summed
    // with the others' like any step's.
    void reduce_zero();

    int buckets() const { return int(buckets_.size()); }
    // Time spent in finish() waiting for sums the backward pass did not hide.
    double waited_seconds() const { return waited_; }

private:
    struct Bucket {
        int64_t begin = 0, end = 0;  // range of the gradient arena
        int layers = 0, pending = 0;
        Communicator::Ticket ticket = -1;  // -1: not started this step
    };
    void layer_ready(const std::string& layer);
    void start(Bucket& b);

    Communicator& comm_;
    TrainNet& net_;
    std::vector<Bucket> buckets_;
    std::unordered_map<std::string, int> bucket_of_;  // layer name -> bucket
    double waited_ = 0;
};

}  // namespace alexnet
