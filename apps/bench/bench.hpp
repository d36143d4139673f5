#pragma once
// alexnet-bench's measurements, one function per subcommand (apps/alexnet-bench.cpp lists them),
// and the helpers they share: one timing helper (warm-up runs, then timed runs as min/median/max,
// like `caffe time` and ncnn's benchncnn), one random input, the generated JPEGs, and the JSON
// line writer that stamps every line with the CPU it was measured on.
#include <functional>
#include <string>
#include <vector>

#include "cli/bench_options.hpp"
#include "core/run_command.hpp"
#include "engine/precision.hpp"
#include "io/json_lines.hpp"
#include "model/model.hpp"
#include "model/weights.hpp"

namespace alexnet::bench {

using Settings = BenchSettings;  // lib/cli/bench_options.hpp

// Every line says where it was measured: the CPU's model and the ISA oneDNN uses on it (which
// ONEDNN_MAX_CPU_ISA may cap), so figures from different machines are never mixed up.
class Lines {
public:
    Lines();
    void write(nlohmann::ordered_json line);

private:
    JsonLines out_;
    std::string cpu_, isa_;
};

struct Stats {
    double min = 0, median = 0, max = 0;
};
Stats stats(std::vector<double> v);
nlohmann::ordered_json to_json(const Stats& s);

// `warmup` untimed calls of `run`, then `runs` timed ones: milliseconds per call. `before`, when
// given, runs untimed before every call (e.g. a barrier that starts the ranks together).
std::vector<double> time_ms(int warmup, int runs, const std::function<void()>& run,
                            const std::function<void()>& before = {});

// `n` values drawn from N(0, 50^2) (the spread of mean-subtracted pixels), seeded.
std::vector<float> random_input(size_t n, unsigned seed = 7);

// `count` 500x375 JPEGs of smooth random content, like downsized photos, into `dir`.
void make_jpegs(const std::string& dir, int count);
// One such JPEG.
void write_photo(const std::string& path);

// A run of `program` in the `bench` measurement must succeed (else Error).
const CommandRun& check_exit(const CommandRun& r, const std::string& program, const std::string& bench);

// The random weights quantized (minmax scales from random inputs): int8 needs a quantized model.
Weights quantized(const ModelSpec& spec, const Weights& weights);

// The subcommands. `weights` are random (random_weights(spec, 1)).
// Per-layer times, images/s per batch size, batch-1 latency; returns the images/s at batch 32 (0: not measured).
double forward(const Settings& s, const ModelSpec& spec, const Weights& weights, Lines& out);
// alexnet-embed's own path per precision; `fp32_rate32`: the fp32 batch-32 forward rate if known (0: measured here).
void embed(const Settings& s, const ModelSpec& spec, const Weights& weights, Lines& out, const std::string& scratch,
           double fp32_rate32 = 0);
void startup(const ModelSpec& spec, const Weights& weights, const std::string& dir, Lines& out);
void decode(const ModelSpec& spec, const std::string& dir, Lines& out);
void precision(const Settings& s, const ModelSpec& spec, const Weights& weights, Lines& out);
void training(const Settings& s, const ModelSpec& spec, Lines& out);
void allreduce(const Settings& s, const ModelSpec& spec, Lines& out);
void search(const Settings& s, Lines& out);
void under_load(const Settings& s, const ModelSpec& spec, const Weights& weights, int neighbours, Lines& out);

}  // namespace alexnet::bench
