#pragma once
// The processes of one job (DESIGN.md section 5b). A tool started directly is one process and
// makes no MPI call; started by mpirun (Open MPI's OMPI_COMM_WORLD_SIZE, or PMIx/PMI variables in
// the environment) it is rank r of N, and every MPI call is made on one background thread, so a
// reduction started during the backward pass runs while the pass goes on.
//
// The collectives below must be called by every rank, in the same order. A rank that fails calls
// abort(): the whole job ends (never a hang).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/hash.hpp"  // hash_bytes, for checking that ranks hold the same data
#include "core/job.hpp"  // launched_by_mpi, lead_process

namespace alexnet {

class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    virtual int local_size() const = 0;  // processes of the job on this machine

    using Ticket = int64_t;
    // Starts summing `n` floats element-wise over the ranks, in place; `data` must not be touched
    // until wait(ticket) returns. Reductions run one after another, in the order started.
    virtual Ticket start_sum(float* data, int64_t n) = 0;
    virtual void wait(Ticket t) = 0;

    virtual void sum(double* data, int64_t n) = 0;
    virtual void sum(int64_t* data, int64_t n) = 0;
    virtual void max(double* data, int64_t n) = 0;  // element-wise maximum over the ranks, in place
    virtual void broadcast(void* data, int64_t bytes) = 0;  // rank 0's bytes to every rank
    // Rank 0 gets every rank's string in rank order; the other ranks get nothing.
    virtual std::vector<std::string> gather(const std::string& mine) = 0;
    // Whether every rank passed the same value.
    virtual bool same_everywhere(uint64_t value) = 0;

    // Ends every process of the job with `code`; call it after printing why.
    [[noreturn]] virtual void abort(int code) = 0;
    // Leaves MPI; the last call of a process that ends normally.
    virtual void finish() {}
};

// This process's job, made on first use.
Communicator& world();
// Whether world() has been made and has several processes (for places that must not start MPI).
bool in_parallel_job();
// " (rank R of N)" in a job of several processes, else "": for messages of every rank.
std::string rank_tag();
// Compute threads per process: `requested`, or for 0 the machine's cores shared among the
// job's processes on it.
int threads_per_process(int requested);

// A contiguous part of `total` items for `rank` of `size`: the sizes differ by at most one, lower
// ranks taking the larger ones, so ranks 0..size-1 cover 0..total-1 in order.
struct Share {
    int offset = 0, count = 0;
};
Share share_of(int total, int rank, int size);


}  // namespace alexnet
