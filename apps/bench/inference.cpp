// The inference measurements: forward passes (per layer, per batch size, batch-1 latency),
// alexnet-embed's end-to-end path, and fp32/bf16/int8 side by side.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>

#include "bench/bench.hpp"
#include "cli/run_model.hpp"
#include "core/error.hpp"
#include "core/executable.hpp"
#include "core/run_command.hpp"
#include "core/temp_dir.hpp"
#include "engine/inference_net.hpp"
#include "formats/model_file.hpp"

namespace alexnet::bench {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

// Median milliseconds of batch-`batch` forward passes of `net` on random input.
Stats time_net(InferenceNet& net, const ModelSpec& spec, int batch, int warmup, int runs) {
    const std::vector<float> in = random_input(size_t(batch) * spec.input.size());
    std::vector<float> o(size_t(batch) * net.output_shape().size());
    return stats(time_ms(warmup, runs, [&] { net.forward(in.data(), o.data()); }));
}

std::unique_ptr<InferenceNet> net_for(const ModelSpec& spec, const Weights& weights, int batch,
                                      Precision p = Precision::fp32) {
    Weights w = weights;  // the net may not release the shared copy
    return std::make_unique<InferenceNet>(spec, w, batch, "prob", false, p);
}

// Per-layer times, like `caffe time`.
void layer_times(const Settings& s, const ModelSpec& spec, const Weights& weights, Lines& out) {
    auto net = net_for(spec, weights, s.layer_batch);
    const std::vector<float> in = random_input(size_t(s.layer_batch) * spec.input.size());
    std::vector<float> o(size_t(s.layer_batch) * net->output_shape().size());
    for (int i = 0; i < s.warmup; ++i) net->forward(in.data(), o.data());
    std::vector<std::vector<double>> per_step;
    std::vector<std::string> names;
    for (int r = 0; r < s.runs; ++r) {
        const auto t = net->forward_timed(in.data(), o.data());
        if (per_step.empty()) per_step.resize(t.size());
        for (size_t i = 0; i < t.size(); ++i) {
            per_step[i].push_back(t[i].ms);
            if (r == 0) names.push_back(t[i].layer);
        }
    }
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    double total = 0;
    for (size_t i = 0; i < names.size(); ++i) {
        const double median = stats(per_step[i]).median;
        total += median;
        layers.push_back({{"layer", names[i]}, {"median_ms", json_float(float(median))}});
    }
    out.write({{"bench", "layers"}, {"arch", s.arch}, {"batch", s.layer_batch}, {"layers", layers},
               {"sum_of_medians_ms", json_float(float(total))}, {"kernels", net->kernels()}});
}

}  // namespace

double forward(const Settings& s, const ModelSpec& spec, const Weights& weights, Lines& out) {
    layer_times(s, spec, weights, out);
    double rate32 = 0;
    for (int batch : s.batches) {
        const Stats st = time_net(*net_for(spec, weights, batch), spec, batch, s.warmup, s.runs);
        const double rate = batch * 1000.0 / st.median;
        if (batch == 32) rate32 = rate;
        out.write({{"bench", "throughput"}, {"arch", s.arch}, {"batch", batch}, {"images_per_sec", json_float(float(rate))},
                   {"ms_per_batch", to_json(st)}, {"runs", s.runs}});
    }
    const Stats latency = time_net(*net_for(spec, weights, 1), spec, 1, std::max(s.warmup, 5), s.latency_runs);
    out.write({{"bench", "latency"}, {"arch", s.arch}, {"batch", 1}, {"ms", to_json(latency)}, {"runs", s.latency_runs}});
    return rate32;
}

namespace {

// alexnet-embed's own path (decode on threads beside the network, fc7, batch 32) over the JPEGs in
// `dir`, as a ratio to `forward_rate` (images/s of batch-32 forward passes alone in `precision`);
// for fp32 also the time to load a safetensors file (in the page cache) and build the batch-32
// network from it, weight reorders included, as a tool does before its first batch.
nlohmann::ordered_json embed_line(const ModelSpec& spec, const Weights& weights, Precision precision,
                                  const std::string& dir, int threads, double forward_rate, const std::string& scratch) {
    CommonOptions o;
    o.inputs = {dir};
    o.batch = 32;
    o.threads = threads;
    o.quiet = true;
    o.precision = to_string(precision);
    LoadedModel model{"", spec, weights, {}};
    int count = 0, first_batch = 0;
    clock_type::time_point first;
    const auto t0 = clock_type::now();
    std::string first_error;
    const int failed = run_images(o, model, "fc7", [&](const std::string&, const std::string& error, const float*, int) {
        if (!error.empty() && first_error.empty()) first_error = error;
        if (count++ == 0) first = clock_type::now();
        if (first == clock_type::now() || clock_type::now() - first < std::chrono::milliseconds(1)) ++first_batch;
    });
    const auto t1 = clock_type::now();
    // A rate over inputs that failed to decode would time error lines, not images.
    check(failed == 0, dir, "images", "every image decoded",
          std::to_string(failed) + " of " + std::to_string(count) + " failed, the first: " + first_error);
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    const double rate = count / seconds, steady_rate = (count - first_batch) / std::chrono::duration<double>(t1 - first).count();
    nlohmann::ordered_json line{{"bench", "embed_end_to_end"}, {"arch", spec.arch}, {"precision", to_string(precision)},
                                {"images", count}, {"batch", 32}, {"seconds", json_float(float(seconds))},
                                {"first_batch_seconds", json_float(float(std::chrono::duration<double>(first - t0).count()))}};
    if (precision == Precision::fp32) {
        const std::string file = scratch + "/build.safetensors";
        save_model(file, spec, weights);
        const Stats build = stats(time_ms(0, 5, [&] {
            LoadedModel m = load_model(file);
            InferenceNet net(m.spec, m.weights, 32, "fc7", /*release_weights=*/true);
        }));
        fs::remove(file);
        line["network_build_seconds"] = json_float(float(build.median / 1000));
        line["network_build_target_seconds"] = 0.2;
    }
    line["images_per_sec"] = json_float(float(rate));
    line["steady_images_per_sec"] = json_float(float(steady_rate));
    line["forward_only_images_per_sec"] = json_float(float(forward_rate));
    line["ratio"] = json_float(float(rate / forward_rate));
    line["ratio_target"] = 0.85;
    line["steady_ratio"] = json_float(float(steady_rate / forward_rate));
    return line;
}

}  // namespace

void embed(const Settings& s, const ModelSpec& spec, const Weights& weights, Lines& out, const std::string& scratch,
           double fp32_rate32) {
    std::string dir = s.images_dir;
    if (dir.empty()) {
        dir = scratch + "/images";
        make_jpegs(dir, s.embed_images);
    }
    // fp32 first, then each other precision this CPU runs (bf16, int8): each against its own
    // forward-only rate at batch 32.
    std::vector<Precision> precisions{Precision::fp32};
    for (const auto& n : s.precisions)
        if (const Precision p = parse_precision("--precisions", n); p != Precision::fp32 && precision_supported(p))
            precisions.push_back(p);
    for (Precision p : precisions) {
        const Weights w = p == Precision::int8 ? quantized(spec, weights) : weights;
        double rate = p == Precision::fp32 ? fp32_rate32 : 0;
        if (rate == 0) rate = 32 * 1000.0 / time_net(*net_for(spec, w, 32, p), spec, 32, s.warmup, s.runs).median;
        out.write(embed_line(spec, w, p, dir, s.threads, rate, scratch));
    }
}

namespace {

// The issue-13 targets: batch-32 speed-up over fp32, batch-1 latency (full-size alexnet).
struct PrecisionTarget {
    double speedup, latency_ms;
};
PrecisionTarget target_for(Precision p) {
    if (p == Precision::bf16) return {1.7, 7.0};
    if (p == Precision::int8) return {3.0, 4.0};
    return {1.0, 20.0};
}

// Peak resident memory of a fresh alexnet-classify that loads `model`, builds its network in
// `precision` and classifies one JPEG, as GNU time measures it (core/run_command.hpp). A process
// of its own because ru_maxrss and VmHWM are high-water marks of a whole process: this one holds
// every precision's weights and networks at once (after a reset of VmHWM through clear_refs it
// would still measure on top of them), so no figure read in here would be one precision's alone.
double classify_peak_rss_mb(const std::string& model, Precision precision, const std::string& jpeg) {
    const std::string classify = executable_dir() + "/alexnet-classify";
    const CommandRun r = run_measured({classify, "-q", "-w", model, "--precision", to_string(precision), jpeg});
    return check_exit(r, classify, "peak memory").peak_rss_mb;
}

// The precisions of --precisions this CPU runs, fp32 first; a "skipped" line for each other.
std::vector<Precision> runnable_precisions(const Settings& s, const ModelSpec& spec, Lines& out) {
    std::vector<std::string> names = s.precisions;
    if (names.empty() || names[0] != "fp32") names.insert(names.begin(), "fp32");
    std::vector<Precision> precisions;
    for (const auto& n : names) {
        const Precision p = parse_precision("--precisions", n);
        if (precision_supported(p)) {
            precisions.push_back(p);
            continue;
        }
        std::string why;
        try {
            require_precision_support(p);
        } catch (const Error& e) {
            why = e.what();
        }
        out.write({{"bench", "precision"}, {"arch", spec.arch}, {"precision", n}, {"skipped", why}});
    }
    return precisions;
}

// The networks' timed passes at batch `b`, interleaved (a neighbour's load slows all alike).
std::vector<Stats> interleaved(const std::vector<std::unique_ptr<InferenceNet>>& nets, const ModelSpec& spec, int b,
                               int warmup, int runs) {
    const std::vector<float> in = random_input(size_t(b) * spec.input.size());
    std::vector<float> o(size_t(b) * spec.num_classes());
    std::vector<std::vector<double>> ms(nets.size());
    for (int r = 0; r < warmup + runs; ++r)
        for (size_t i = 0; i < nets.size(); ++i) {
            const std::vector<double> one = time_ms(0, 1, [&] { nets[i]->forward(in.data(), o.data()); });
            if (r >= warmup) ms[i].push_back(one[0]);
        }
    std::vector<Stats> result;
    for (auto& m : ms) result.push_back(stats(m));
    return result;
}

}  // namespace

void precision(const Settings& s, const ModelSpec& spec, const Weights& weights, Lines& out) {
    const std::vector<Precision> precisions = runnable_precisions(s, spec, out);
    const bool int8 = std::find(precisions.begin(), precisions.end(), Precision::int8) != precisions.end();
    const Weights q8 = int8 ? quantized(spec, weights) : Weights{};
    const TempDir scratch("alexnet-bench-precision");
    const std::string jpeg = scratch / "photo_500x375.jpg", fp_file = scratch / "fp32.safetensors",
                      q8_file = scratch / "int8.safetensors";
    write_photo(jpeg);
    save_model(fp_file, spec, weights);
    if (int8) save_model(q8_file, spec, q8);
    auto file_of = [&](Precision p) { return p == Precision::int8 ? q8_file : fp_file; };
    std::vector<double> peak_rss_mb;
    for (Precision p : precisions) peak_rss_mb.push_back(classify_peak_rss_mb(file_of(p), p, jpeg));
    for (int b : {32, 1}) {
        std::vector<std::unique_ptr<InferenceNet>> nets;
        for (Precision p : precisions) nets.push_back(net_for(spec, p == Precision::int8 ? q8 : weights, b, p));
        const int timed = b == 1 ? s.latency_runs : s.runs;
        const std::vector<Stats> st = interleaved(nets, spec, b, std::max(s.warmup, 2), timed);
        for (size_t i = 0; i < nets.size(); ++i) {
            const PrecisionTarget t = target_for(precisions[i]);
            nlohmann::ordered_json line{{"bench", b == 1 ? "precision_latency" : "precision"}, {"arch", spec.arch},
                                        {"batch", b}, {"precision", to_string(precisions[i])}};
            if (b == 1) {
                line["ms"] = to_json(st[i]);
                line["target_ms"] = t.latency_ms;
                line["meets_target"] = st[i].median <= t.latency_ms;
            } else {
                const double speedup = st[0].median / st[i].median;
                line["images_per_sec"] = json_float(float(b * 1000.0 / st[i].median));
                line["ms_per_batch"] = to_json(st[i]);
                line["speedup_vs_fp32"] = json_float(float(speedup));
                line["target_speedup"] = t.speedup;
                line["meets_target"] = speedup >= t.speedup;
                line["kernels"] = nets[i]->kernels();
                line["model_file_mb"] = json_float(float(double(fs::file_size(file_of(precisions[i]))) / (1 << 20)));
                line["peak_rss_mb"] = json_float(float(peak_rss_mb[i]));
                line["peak_rss_of"] = "alexnet-classify -w MODEL_FILE --precision P, one JPEG, a fresh process";
            }
            line["runs"] = timed;
            line["cpu_isa"] = cpu_isa_name();
            out.write(line);
        }
    }
}

}  // namespace alexnet::bench
