#include "core/job.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

namespace alexnet {

namespace {
std::atomic<int> g_rank{-1};  // -1: world() not made yet
}  // namespace

bool launched_by_mpi() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
        if (std::getenv(v)) return true;
    return false;
}

bool lead_process() {
    if (const int rank = g_rank.load(); rank >= 0) return rank == 0;
    for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
        if (const char* rank = std::getenv(v)) return std::string(rank) == "0";
    return true;
}

void set_job_rank(int rank) { g_rank.store(rank); }

}  // namespace alexnet
