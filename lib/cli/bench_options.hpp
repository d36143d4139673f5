#pragma once
// alexnet-bench's options and subcommands (the measurements are in apps/bench/).
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace alexnet {

// What the measurements read.
struct BenchSettings {
    std::string arch = "alexnet";
    std::vector<int> batches = {1, 8, 32, 64};
    int warmup = 3, runs = 10, latency_runs = 50, threads = 0, layer_batch = 32;
    std::string images_dir;  // JPEGs for the end-to-end run; empty: generated
    int embed_images = 256;
    std::vector<std::string> precisions = {"fp32", "bf16", "int8"};
    int train_batch = 32;
    double bucket_mb = 25;   // allreduce: bucket size of the overlapped sums
    // search: synthetic clustered vectors in compressed codes
    int64_t search_vectors = 1000000;
    int search_dim = 4096, search_codes = 64, search_lists = 4096, search_queries = 1000;
    std::vector<int> search_nprobes = {8, 16, 32};
    uint64_t search_seed = 1;
};

struct BenchCli {
    BenchSettings settings;
    bool skip_embed = false, quiet = false;
    int neighbours = 0;      // under-load N
    std::string file;        // random-weights FILE, make-jpegs DIR
};

// The options, and the subcommands: forward, embed, startup, decode, precision, training,
// allreduce, search, under-load N, summary, random-weights FILE, make-jpegs DIR (none: the default run).
void add_bench_options(CLI::App& app, BenchCli& o);

// The flags that were "only ... and exit" switches before the subcommands (kept for one release):
// argv with the subcommand in their place, first, and a note on stderr.
std::vector<std::string> translate_old_bench_flags(int argc, char** argv);

}  // namespace alexnet
