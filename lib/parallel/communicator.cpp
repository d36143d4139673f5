#include "parallel/communicator.hpp"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/plugin.hpp"

namespace alexnet {

namespace {

// One process: every collective is the identity.
class SingleProcess final : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    int local_size() const override { return 1; }
    Ticket start_sum(float*, int64_t) override { return 0; }
    void wait(Ticket) override {}
    void sum(double*, int64_t) override {}
    void sum(int64_t*, int64_t) override {}
    void max(double*, int64_t) override {}
    void broadcast(void*, int64_t) override {}
    std::vector<std::string> gather(const std::string& mine) override { return {mine}; }
    bool same_everywhere(uint64_t) override { return true; }
    [[noreturn]] void abort(int code) override { std::exit(code); }
};

// Open MPI's side, from the plugin alexnet-mpi.so (lib/parallel/mpi_communicator.cpp).
std::unique_ptr<Communicator> make_mpi_communicator() {
    const PluginSymbol found = plugin_symbol("alexnet-mpi.so", "ALEXNET_MPI", "alexnet_mpi_communicator", true);
    if (!found.address) throw Error("mpirun", "MPI", "Open MPI (alexnet-mpi.so)", found.failure);
    using Make = Communicator* (*)();
    return std::unique_ptr<Communicator>(reinterpret_cast<Make>(found.address)());
}

std::once_flag g_once;
std::unique_ptr<Communicator> g_world;

}  // namespace

Communicator& world() {
    std::call_once(g_once, [] {
        g_world = launched_by_mpi() ? make_mpi_communicator() : std::make_unique<SingleProcess>();
        set_job_rank(g_world->rank());
    });
    return *g_world;
}

bool in_parallel_job() { return g_world && g_world->size() > 1; }

std::string rank_tag() {
    if (!in_parallel_job()) return "";
    return " (rank " + std::to_string(g_world->rank()) + " of " + std::to_string(g_world->size()) + ")";
}

int threads_per_process(int requested) {
    if (requested > 0 || !in_parallel_job() || g_world->local_size() <= 1) return requested;
    const int cores = int(std::thread::hardware_concurrency());
    return std::max(1, cores / g_world->local_size());
}

Share share_of(int total, int rank, int size) {
    check(size > 0 && rank >= 0 && rank < size, "share", "rank", "0.." + std::to_string(size - 1), std::to_string(rank));
    const int base = total / size, extra = total % size;
    return {rank * base + std::min(rank, extra), base + (rank < extra ? 1 : 0)};
}


}  // namespace alexnet
