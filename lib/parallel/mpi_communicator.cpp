// The MPI job behind world() when mpirun started the process, built as the plugin alexnet-mpi.so
// (core/plugin.hpp): only a process started by mpirun maps Open MPI's seven libraries.
// One thread owns MPI: it initialises it, runs the posted collectives one after another (blocking
// MPI calls, so a reduction makes progress while the compute threads run the backward pass), and
// finalises it. MPI errors keep MPI's default handler, which ends the whole job with MPI's own
// message (a lost peer included).
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "parallel/communicator.hpp"

namespace alexnet {

namespace {

constexpr int64_t kChunk = int64_t(1) << 28;  // elements per MPI call (counts are int)

void reduce_in_place(void* data, int64_t n, MPI_Datatype type, int64_t element_bytes, MPI_Op op = MPI_SUM) {
    auto* p = static_cast<char*>(data);
    for (int64_t at = 0; at < n; at += kChunk) {
        const int count = int(std::min(kChunk, n - at));
        MPI_Allreduce(MPI_IN_PLACE, p + at * element_bytes, count, type, op, MPI_COMM_WORLD);
    }
}

class MpiCommunicator final : public Communicator {
public:
    MpiCommunicator() {
        thread_ = std::thread([this] { run(); });
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return started_; });
    }
    ~MpiCommunicator() override { finish(); }

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    int local_size() const override { return local_size_; }

    Ticket start_sum(float* data, int64_t n) override {
        return post([=] { reduce_in_place(data, n, MPI_FLOAT, sizeof(float)); });
    }
    void wait(Ticket t) override {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return done_ >= t; });
    }
    void sum(double* data, int64_t n) override {
        wait(post([=] { reduce_in_place(data, n, MPI_DOUBLE, sizeof(double)); }));
    }
    void sum(int64_t* data, int64_t n) override {
        wait(post([=] { reduce_in_place(data, n, MPI_INT64_T, sizeof(int64_t)); }));
    }
    void max(double* data, int64_t n) override {
        wait(post([=] { reduce_in_place(data, n, MPI_DOUBLE, sizeof(double), MPI_MAX); }));
    }
    void broadcast(void* data, int64_t bytes) override {
        wait(post([=] {
            auto* p = static_cast<char*>(data);
            for (int64_t at = 0; at < bytes; at += kChunk)
                MPI_Bcast(p + at, int(std::min(kChunk, bytes - at)), MPI_BYTE, 0, MPI_COMM_WORLD);
        }));
    }
    std::vector<std::string> gather(const std::string& mine) override {
        std::vector<std::string> out;
        wait(post([&] {
            const int64_t my_size = int64_t(mine.size());
            std::vector<int64_t> sizes(size_t(rank_ == 0 ? size_ : 0));
            MPI_Gather(&my_size, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
            std::vector<int> counts(sizes.size()), displs(sizes.size());
            int64_t total = 0;
            for (size_t r = 0; r < sizes.size(); ++r) {
                counts[r] = int(sizes[r]);
                displs[r] = int(total);
                total += sizes[r];
            }
            // a round of results is small (a batch per rank); refuse rather than overflow int
            if (total > INT_MAX || my_size > INT_MAX) {
                std::fprintf(stderr, "MPI: a gather of %lld bytes is over MPI's int limit\n", (long long)total);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            std::string all(size_t(total), '\0');
            MPI_Gatherv(mine.data(), int(my_size), MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, 0,
                        MPI_COMM_WORLD);
            for (size_t r = 0; r < sizes.size(); ++r) out.push_back(all.substr(size_t(displs[r]), size_t(sizes[r])));
        }));
        return out;
    }
    bool same_everywhere(uint64_t value) override {
        uint64_t low = value, high = value;
        wait(post([&] {
            MPI_Allreduce(MPI_IN_PLACE, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
            MPI_Allreduce(MPI_IN_PLACE, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        }));
        return low == high;
    }

    // From any thread (MPI_THREAD_MULTIPLE), also while the MPI thread waits for a lost peer.
    [[noreturn]] void abort(int code) override {
        std::fflush(stdout);
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
        std::_Exit(code);
    }

    void finish() override {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

private:
    Ticket post(std::function<void()> job) {
        std::lock_guard lock(mutex_);
        if (stopping_) throw std::logic_error("MPI: a collective after the job's end");
        jobs_.push_back(std::move(job));
        cv_.notify_all();
        return ++posted_;
    }

    void run() {
        int provided = 0;
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        MPI_Comm local;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
        MPI_Comm_size(local, &local_size_);
        MPI_Comm_free(&local);
        {
            std::lock_guard lock(mutex_);
            started_ = true;
        }
        cv_.notify_all();
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
                if (jobs_.empty()) break;
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            job();
            {
                std::lock_guard lock(mutex_);
                ++done_;
            }
            cv_.notify_all();
        }
        MPI_Finalize();
    }

    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    Ticket posted_ = 0, done_ = 0;
    bool started_ = false, stopping_ = false;
    int rank_ = 0, size_ = 1, local_size_ = 1;
};

}  // namespace

}  // namespace alexnet

// The plugin's one entry point (parallel/communicator.cpp); the caller owns the result.
extern "C" alexnet::Communicator* alexnet_mpi_communicator() { return new alexnet::MpiCommunicator(); }
