// alexnet-bench: forward-pass speed with random weights, like `caffe time`: warm-up runs, then
// timed runs reported as min/median/max. One JSON line per measurement.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <tuple>
#include <unistd.h>

#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/executable.hpp"
#include "core/run_command.hpp"
#include "core/temp_dir.hpp"
#include "io/json_lines.hpp"
#include "cli/run_model.hpp"
#include "parallel/communicator.hpp"
#include "data/image.hpp"
#include "engine/inference_net.hpp"
#include "engine/train_net.hpp"
#include "quantize/calibration.hpp"
#include "parallel/gradient_reducer.hpp"
#include "train/solver.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "model/summary.hpp"

using namespace alexnet;
namespace fs = std::filesystem;

namespace {

// Every line says where it was measured: the CPU's model and the ISA oneDNN uses on it (which
// ONEDNN_MAX_CPU_ISA may cap), so figures from different machines are never mixed up.
class BenchLines {
public:
    BenchLines() : cpu_(cpu_model_name()), isa_(cpu_isa_name()) {}
    void write(nlohmann::ordered_json line) {
        line["cpu"] = cpu_;
        line["isa"] = isa_;
        out_.write(line);
    }

private:
    JsonLines out_;
    std::string cpu_, isa_;
};


using clock_type = std::chrono::steady_clock;

struct Stats {
    double min = 0, median = 0, max = 0;
};

Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {v.front(), v[v.size() / 2], v.back()};
}

nlohmann::ordered_json to_json(const Stats& s) {
    return {{"min", json_float(float(s.min))}, {"median", json_float(float(s.median))}, {"max", json_float(float(s.max))}};
}

// Times `runs` forward passes after `warmup` untimed ones; milliseconds per pass.
std::vector<double> time_forward(InferenceNet& net, const std::vector<float>& in, std::vector<float>& out, int warmup,
                                 int runs) {
    for (int i = 0; i < warmup; ++i) net.forward(in.data(), out.data());
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        const auto t0 = clock_type::now();
        net.forward(in.data(), out.data());
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    return ms;
}

// 500x375 JPEGs of smooth random content, like downsized photos.
void make_jpegs(const std::string& dir, int count) {
    fs::create_directories(dir);
    cv::RNG rng(1234);
    for (int i = 0; i < count; ++i) {
        cv::Mat small(24, 32, CV_8UC3), img;
        rng.fill(small, cv::RNG::UNIFORM, 0, 255);
        cv::resize(small, img, cv::Size(500, 375), 0, 0, cv::INTER_CUBIC);
        cv::Mat noise(img.size(), CV_8UC3);
        rng.fill(noise, cv::RNG::NORMAL, 0, 12);
        img += noise;
        char name[32];
        std::snprintf(name, sizeof name, "/img%04d.jpg", i);
        cv::imwrite(dir + name, img, {cv::IMWRITE_JPEG_QUALITY, 90});
    }
}

double thread_cpu_ms() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Decoding and preprocessing one image as the tools do (read, decode, resize, crop), in core-ms:
// a 4000x3000 photo (DCT-reduced and --exact-decode) and a 500x375 one.
nlohmann::ordered_json time_decode(const ModelSpec& spec, const std::string& dir, int runs) {
    fs::create_directories(dir);
    cv::Mat small(30, 40, CV_8UC3), big;
    cv::RNG rng(99);
    rng.fill(small, cv::RNG::UNIFORM, 0, 255);
    cv::resize(small, big, cv::Size(4000, 3000), 0, 0, cv::INTER_CUBIC);
    cv::Mat noise(big.size(), CV_8UC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 12);
    big += noise;
    const std::string big_path = dir + "/photo_4000x3000.jpg", mid_path = dir + "/photo_500x375.jpg";
    cv::imwrite(big_path, big, {cv::IMWRITE_JPEG_QUALITY, 90});
    cv::Mat mid;
    cv::resize(big, mid, cv::Size(500, 375), 0, 0, cv::INTER_AREA);
    cv::imwrite(mid_path, mid, {cv::IMWRITE_JPEG_QUALITY, 90});
    const Preprocessing& p = spec.preprocessing;
    std::vector<float> out(size_t(p.channels) * p.crop * p.crop);
    auto median_ms = [&](const std::string& path, bool exact) {
        DecodeSettings s;
        s.exact = exact;
        configure_decoding(s);
        std::vector<double> ms;
        for (int r = 0; r < runs + 1; ++r) {
            const double t0 = thread_cpu_ms();
            preprocess(read_image(path, size_hint(p)), p, CropMode::center, out.data());
            if (r > 0) ms.push_back(thread_cpu_ms() - t0);
        }
        configure_decoding({});
        return stats(ms).median;
    };
    const double big_reduced = median_ms(big_path, false), big_exact = median_ms(big_path, true);
    const double mid_ms = median_ms(mid_path, false);
    fs::remove(big_path), fs::remove(mid_path);
    return {{"bench", "decode"}, {"arch", spec.arch},
            {"jpeg_4000x3000_core_ms", json_float(float(big_reduced))}, {"jpeg_4000x3000_target_ms", 30},
            {"jpeg_4000x3000_exact_decode_core_ms", json_float(float(big_exact))},
            {"jpeg_500x375_core_ms", json_float(float(mid_ms))}, {"jpeg_500x375_target_core_ms", 2}, {"runs", runs}};
}

// Training steps (forward, loss, backward, SGD update) per second, like `caffe time` for training.
nlohmann::ordered_json time_training(const ModelSpec& spec, int batch, int warmup, int runs) {
    TrainNet net(spec, batch, 0.5f);
    initialise(spec, net.layout(), net.params(), "caffe", 1);
    Sgd sgd(net.layout(), 0.9f, 5e-4f, true);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.f, 50.f);
    std::vector<float> in(size_t(batch) * spec.input.size());
    for (auto& v : in) v = normal(rng);
    std::vector<int> labels(static_cast<size_t>(batch), 0);
    for (int i = 0; i < batch; ++i) labels[size_t(i)] = i % spec.num_classes();
    std::vector<double> step_ms, update_ms;
    for (int r = 0; r < warmup + runs; ++r) {
        const auto t0 = clock_type::now();
        net.train_step(in.data(), labels.data(), uint64_t(r), nullptr);
        const auto t1 = clock_type::now();
        sgd.update(net.params(), net.grads(), 0.001f);
        const auto t2 = clock_type::now();
        if (r < warmup) continue;
        step_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        update_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    std::vector<double> total;
    for (size_t i = 0; i < step_ms.size(); ++i) total.push_back(step_ms[i] + update_ms[i]);
    const Stats s = stats(total);
    return {{"bench", "training"}, {"arch", spec.arch}, {"batch", batch},
            {"images_per_sec", json_float(float(batch * 1000.0 / s.median))}, {"ms_per_step", to_json(s)},
            {"forward_backward_ms_median", json_float(float(stats(step_ms).median))},
            {"update_ms_median", json_float(float(stats(update_ms).median))}, {"runs", runs}};
}

// Data-parallel costs, under mpirun: one allreduce of every gradient of `spec`, and a training step
// at `global_batch` (this rank's share of it) without any sum, with one sum after the backward pass,
// and with buckets summed during it. The ranks start each timed run together; rank 0 reports.
void time_data_parallel(const ModelSpec& spec, int global_batch, double bucket_mb, int warmup, int runs,
                        BenchLines& out) {
    Communicator& comm = world();
    const int N = comm.size();
    const Share share = share_of(global_batch, comm.rank(), N);
    check(share.count > 0, "--train-batch", "", "at least one image per process", std::to_string(global_batch));
    TrainNet net(spec, share.count, 0.5f);
    net.set_share(share.offset, global_batch);
    initialise(spec, net.layout(), net.params(), "caffe", 1);
    comm.broadcast(net.params(), net.layout().total * int64_t(sizeof(float)));
    Sgd sgd(net.layout(), 0.9f, 5e-4f, true);
    auto together = [&comm] {
        double x = 0;
        comm.sum(&x, 1);
    };
    auto timed = [&](const std::function<void()>& run) {
        std::vector<double> ms;
        for (int r = 0; r < warmup + runs; ++r) {
            together();
            const auto t0 = clock_type::now();
            run();
            if (r >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
        }
        return stats(ms);
    };

    const int64_t n = net.layout().total;
    const double bytes = double(n) * sizeof(float);
    std::vector<float> buffer(size_t(n), 1.f);
    const Stats sum = timed([&] { comm.wait(comm.start_sum(buffer.data(), n)); });
    out.write({{"bench", "allreduce"}, {"arch", spec.arch}, {"processes", N}, {"floats", n},
               {"megabytes", json_float(float(bytes / 1e6))}, {"ms", to_json(sum)},
               {"algorithm_gb_per_s", json_float(float(bytes / (sum.median * 1e6)))},
               {"bus_gb_per_s", json_float(float(2.0 * (N - 1) / N * bytes / (sum.median * 1e6)))}, {"runs", runs}});

    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.f, 50.f);
    std::vector<float> in(size_t(share.count) * spec.input.size());
    for (auto& v : in) v = normal(rng);
    std::vector<int> labels(size_t(share.count));
    for (int i = 0; i < share.count; ++i) labels[size_t(i)] = (share.offset + i) % spec.num_classes();
    int64_t step = 0;
    auto step_with = [&](GradientReducer* reducer) {
        return timed([&] {
            net.train_step(in.data(), labels.data(), uint64_t(step++), nullptr);
            if (reducer) reducer->finish();
            sgd.update(net.params(), net.grads(), 1e-6f);
        });
    };
    const Stats compute = step_with(nullptr);
    GradientReducer after(comm, net, 0);
    const Stats sum_after = step_with(&after);
    GradientReducer overlapped(comm, net, bucket_mb);
    const Stats sum_during = step_with(&overlapped);
    const double exposed_after = sum_after.median - compute.median, exposed_during = sum_during.median - compute.median;
    out.write({{"bench", "data_parallel_step"}, {"arch", spec.arch}, {"processes", N}, {"global_batch", global_batch},
               {"batch_per_process", share.count}, {"ms_compute_only", to_json(compute)},
               {"ms_sum_after_backward", to_json(sum_after)}, {"ms_sum_during_backward", to_json(sum_during)},
               {"buckets", overlapped.buckets()}, {"bucket_mb", bucket_mb},
               {"allreduce_share_of_step", json_float(float(exposed_after / sum_after.median))},
               {"overlap_saves_ms", json_float(float(sum_after.median - sum_during.median))},
               {"overlap_hides", json_float(float(exposed_after > 0 ? 1 - exposed_during / exposed_after : 0))},
               {"runs", runs}});
}

// For scripts/compare_training_with_pytorch.py: `in` holds the weights (canonical names), "input",
// "labels" and metadata arch/steps/lr/momentum/weight_decay; writes the first step's loss and
// gradients ("grad.<name>"), every step's loss and the weights after the last step.
void training_golden(const std::string& in_path, const std::string& out_path) {
    LoadedModel m = load_model(in_path);
    const Tensor& x = m.weights.at("input");
    const Tensor& y = m.weights.at("labels");
    const int N = int(x.shape[0]);
    std::vector<int> labels;
    for (int i = 0; i < N; ++i) labels.push_back(int(y.floats()[i]));
    auto meta = [&](const char* k) { return std::stod(m.weights.metadata.at(k)); };
    TrainNet net(m.spec, N, 0.f);
    net.set_weights(m.weights);
    Sgd sgd(net.layout(), float(meta("momentum")), float(meta("weight_decay")), false);
    Weights out;
    nlohmann::json losses = nlohmann::json::array();
    const int steps = int(meta("steps"));
    for (int s = 0; s < steps; ++s) {
        losses.push_back(net.train_step(x.floats(), labels.data(), 0, nullptr));
        if (s == 0) {
            const ParamLayout& L = net.layout();
            for (size_t i = 0; i < L.tensors.size(); ++i) {
                const float* g = net.grads() + L.offset[i];
                out.add("grad." + L.tensors[i].name, L.tensors[i].shape, std::vector<float>(g, g + L.numel(i)));
            }
        }
        sgd.update(net.params(), net.grads(), float(meta("lr")));
    }
    const Weights w = net.weights();
    for (const auto& name : w.names()) out.add_view(name, w.at(name));
    out.metadata["losses"] = losses.dump();
    write_safetensors(out_path, out);
}

// A 500x375 JPEG of smooth random content, like a downsized photo.
void write_photo(const std::string& path) {
    cv::Mat small(30, 40, CV_8UC3), img;
    cv::RNG rng(5);
    rng.fill(small, cv::RNG::UNIFORM, 0, 255);
    cv::resize(small, img, cv::Size(500, 375), 0, 0, cv::INTER_CUBIC);
    cv::imwrite(path, img, {cv::IMWRITE_JPEG_QUALITY, 90});
}

// A run of `program` in `bench` must succeed.
const CommandRun& check_exit(const CommandRun& r, const std::string& program, const std::string& bench) {
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        throw Error(program, "exited with an error in the " + bench + " bench");
    return r;
}

// Start-up as users meet it: `alexnet-classify --help`, and one JPEG classified by full-size
// alexnet from a weights file (process start, mapping and preparing 244 MB of weights, decode,
// one forward pass), medians of `runs` calls.
nlohmann::ordered_json time_startup(const ModelSpec& spec, const Weights& weights, const std::string& dir, int runs) {
    fs::create_directories(dir);
    const std::string classify = executable_dir() + "/alexnet-classify", model = dir + "/weights.safetensors",
                      jpeg = dir + "/photo_500x375.jpg";
    save_model(model, spec, weights);
    write_photo(jpeg);
    auto median_s = [&](const std::vector<std::string>& argv, int n) {
        std::vector<double> s;
        run_command(argv);  // warm the page cache
        for (int r = 0; r < n; ++r) s.push_back(check_exit(run_command(argv), argv[0], "start-up").seconds);
        return stats(s).median;
    };
    const double help = median_s({classify, "--help"}, runs * 2);
    const double one = median_s({classify, "-q", "-w", model, jpeg}, runs);
    fs::remove_all(dir);
    return {{"bench", "startup"}, {"arch", spec.arch},
            {"help_ms", json_float(float(help * 1e3))}, {"help_target_ms", 20},
            {"one_jpeg_classify_s", json_float(float(one))}, {"one_jpeg_target_s", 0.15}, {"runs", runs}};
}

double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + t.tv_nsec * 1e-9;
}

// Busy processes of our own (each spins on one core), ended by PID when this goes out of scope.
class BusyNeighbours {
public:
    explicit BusyNeighbours(int n) {
        for (int i = 0; i < n; ++i) {
            const pid_t pid = fork();
            if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
                volatile double x = 1;
                for (;;) x = x * 1.0000001 + 1e-9;
            }
            if (pid < 0) throw Error("alexnet-bench", "cannot start a busy process");
            pids_.push_back(pid);
        }
    }
    ~BusyNeighbours() {
        for (pid_t p : pids_) kill(p, SIGKILL);
        for (pid_t p : pids_) waitpid(p, nullptr, 0);
    }
    BusyNeighbours(const BusyNeighbours&) = delete;
    BusyNeighbours& operator=(const BusyNeighbours&) = delete;

private:
    std::vector<pid_t> pids_;
};

// Throughput beside `neighbours` busy processes, as a ratio to the tool's fair share of the cores:
// with C cores and N neighbours the share is C/(N+1) cores. Batch-32 forward passes with the
// default settings (all cores, passive waiting), against the idle rate with that many compute
// threads (fewer than one core: the one-thread figure scaled down); and the end-to-end embed path
// (decode threads beside the compute threads) on the generated JPEGs, against the share divided by
// the CPU time per image the same path takes idle (decoding too must come out of the share: an
// idle run with a whole free core for its decode thread would overstate it).
void time_under_load(BenchLines& out, const ModelSpec& spec, const Weights& weights, int neighbours, int warmup,
                     int runs, const std::string& jpeg_dir) {
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    const double share = double(cores) / (neighbours + 1);
    const int share_threads = std::max(1, int(share));
    const double scale = share / share_threads;
    auto forward_rate = [&](int threads) {
        set_num_threads(threads);
        Weights w = weights;
        InferenceNet net(spec, w, 32);
        std::mt19937 rng(7);
        std::normal_distribution<float> normal(0.f, 50.f);
        std::vector<float> in(size_t(32) * spec.input.size()), o(size_t(32) * net.output_shape().size());
        for (auto& v : in) v = normal(rng);
        return 32 * 1000.0 / stats(time_forward(net, in, o, warmup, runs)).median;
    };
    auto embed_rate = [&](int threads, int loader_threads) {
        CommonOptions o;
        o.inputs = {jpeg_dir};
        o.batch = 32;
        o.threads = threads;
        o.loader_threads = loader_threads;
        o.quiet = true;
        LoadedModel model{"", spec, weights, {}};
        int count = 0;
        const auto t0 = clock_type::now();
        const double cpu0 = process_cpu_seconds();
        run_images(o, model, "fc7", [&](const std::string&, const std::string&, const float*, int) { ++count; });
        const double cpu = process_cpu_seconds() - cpu0;
        return std::pair{count / std::chrono::duration<double>(clock_type::now() - t0).count(), cpu / count};
    };
    const double fair_forward = forward_rate(share_threads) * scale;
    const double fair_embed = share / embed_rate(share_threads, 1).second;
    double loaded_forward = 0, loaded_embed = 0;
    {
        BusyNeighbours busy(neighbours);
        loaded_forward = forward_rate(0);
        loaded_embed = embed_rate(0, CommonOptions{}.loader_threads).first;
    }
    set_num_threads(0);
    for (const auto& [what, fair, loaded, basis] :
         {std::tuple{"forward_batch32", fair_forward, loaded_forward, "idle rate with the share's threads"},
          std::tuple{"embed_end_to_end", fair_embed, loaded_embed, "share / idle CPU seconds per image"}})
        out.write({{"bench", "under_load"}, {"arch", spec.arch}, {"run", what}, {"busy_neighbours", neighbours},
                   {"cores", cores}, {"fair_share_cores", json_float(float(share))}, {"fair_share_basis", basis},
                   {"images_per_sec", json_float(float(loaded))},
                   {"fair_share_images_per_sec", json_float(float(fair))},
                   {"ratio_to_fair_share", json_float(float(loaded / fair))}, {"target_ratio", 0.95},
                   {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "PASSIVE (default)"}});
}

// The issue-13 targets: batch-32 speed-up over fp32, batch-1 latency (full-size alexnet).
struct PrecisionTarget {
    double speedup, latency_ms;
};
PrecisionTarget target_for(Precision p) {
    if (p == Precision::bf16) return {1.7, 7.0};
    if (p == Precision::int8) return {3.0, 4.0};
    return {1.0, 20.0};
}

// int8 needs a quantized model: the random weights, calibrated (minmax) on random inputs.
Weights quantized(const ModelSpec& spec, const Weights& weights) {
    Weights fp = weights;
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.f, 50.f);
    std::vector<float> calib(size_t(4) * spec.input.size());
    for (auto& v : calib) v = normal(rng);
    const auto hists = collect_histograms(spec, fp, calib, 4, 4);
    std::vector<std::string> int8_names;
    Weights q8 = quantize_weights(spec, fp, {}, int8_names);
    q8.metadata[kQuantizationKey] = to_json(activation_scales(hists, "minmax"));
    for (const auto& name : q8.names())  // the biases are views into `fp`, which ends here
        if (const Tensor& t = q8.at(name); !t.owns())
            q8.add(name, t.shape, std::vector<float>(t.floats(), t.floats() + t.numel()));
    return q8;
}

// alexnet-embed's own path (decode on threads beside the network, fc7, batch 32) over the JPEGs in
// `dir`, as a ratio to `forward_rate` (images/s of batch-32 forward passes alone in `precision`);
// for fp32 also the time to load a safetensors file (in the page cache) and build the batch-32
// network from it, weight reorders included, as a tool does before its first batch.
nlohmann::ordered_json time_embed(const ModelSpec& spec, const Weights& weights, Precision precision,
                                  const std::string& dir, int threads, double forward_rate, const TempDir& scratch) {
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
    const double s = std::chrono::duration<double>(t1 - t0).count();
    const double startup = std::chrono::duration<double>(first - t0).count();
    const double steady = std::chrono::duration<double>(t1 - first).count();
    const double rate = count / s, steady_rate = (count - first_batch) / steady;
    nlohmann::ordered_json line{{"bench", "embed_end_to_end"}, {"arch", spec.arch}, {"precision", to_string(precision)},
                                {"images", count}, {"batch", 32}, {"seconds", json_float(float(s))},
                                {"first_batch_seconds", json_float(float(startup))}};
    if (precision == Precision::fp32) {
        const std::string file = scratch / "build.safetensors";
        save_model(file, spec, weights);
        std::vector<double> build_ms;
        for (int r = 0; r < 5; ++r) {
            const auto b0 = clock_type::now();
            LoadedModel m = load_model(file);
            InferenceNet net(m.spec, m.weights, 32, "fc7", /*release_weights=*/true);
            build_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - b0).count());
        }
        fs::remove(file);
        line["network_build_seconds"] = json_float(float(stats(build_ms).median / 1000));
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

// fp32, bf16 and int8 in one run, their timed passes interleaved (a busy machine slows all alike):
// images/s at `batch` and the batch-1 latency, with the speed-up over fp32 and the targets, and
// the peak memory of a tool that runs the precision's model file (int8: the quantized one).
void time_precisions(BenchLines& out, const ModelSpec& spec, const Weights& weights, const std::vector<std::string>& names,
                     int batch, int warmup, int runs, int latency_runs) {
    std::vector<Precision> precisions;
    for (const auto& n : names) {
        const Precision p = parse_precision("--precisions", n);
        if (!precision_supported(p)) {
            std::string why;
            try {
                require_precision_support(p);
            } catch (const Error& e) {
                why = e.what();
            }
            out.write({{"bench", "precision"}, {"arch", spec.arch}, {"precision", n}, {"skipped", why}});
            continue;
        }
        precisions.push_back(p);
    }
    Weights fp = weights, q8;
    if (std::find(precisions.begin(), precisions.end(), Precision::int8) != precisions.end()) q8 = quantized(spec, fp);
    const TempDir scratch("alexnet-bench-precision");
    const std::string jpeg = scratch / "photo_500x375.jpg", fp_file = scratch / "fp32.safetensors",
                      q8_file = scratch / "int8.safetensors";
    write_photo(jpeg);
    save_model(fp_file, spec, fp);
    if (!q8.names().empty()) save_model(q8_file, spec, q8);
    std::vector<double> peak_rss_mb;
    for (Precision p : precisions)
        peak_rss_mb.push_back(classify_peak_rss_mb(p == Precision::int8 ? q8_file : fp_file, p, jpeg));
    for (int b : {batch, 1}) {
        std::vector<std::unique_ptr<InferenceNet>> nets;
        for (Precision p : precisions) {
            Weights w = p == Precision::int8 ? q8 : fp;  // the net may not release the shared copy
            nets.push_back(std::make_unique<InferenceNet>(spec, w, b, "prob", false, p));
        }
        std::mt19937 rng(7);
        std::normal_distribution<float> normal(0.f, 50.f);
        std::vector<float> in(size_t(b) * spec.input.size()), o(size_t(b) * spec.num_classes());
        for (auto& v : in) v = normal(rng);
        const int timed = b == 1 ? latency_runs : runs;
        std::vector<std::vector<double>> ms(nets.size());
        for (int r = 0; r < std::max(warmup, 2) + timed; ++r)
            for (size_t i = 0; i < nets.size(); ++i) {
                const auto t0 = clock_type::now();
                nets[i]->forward(in.data(), o.data());
                if (r >= std::max(warmup, 2)) ms[i].push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
            }
        const double fp32_median = stats(ms[0]).median;
        for (size_t i = 0; i < nets.size(); ++i) {
            const Stats st = stats(ms[i]);
            const PrecisionTarget t = target_for(precisions[i]);
            nlohmann::ordered_json line{{"bench", b == 1 ? "precision_latency" : "precision"}, {"arch", spec.arch},
                                        {"batch", b}, {"precision", to_string(precisions[i])}};
            if (b == 1) {
                line["ms"] = to_json(st);
                line["target_ms"] = t.latency_ms;
                line["meets_target"] = st.median <= t.latency_ms;
            } else {
                line["images_per_sec"] = json_float(float(b * 1000.0 / st.median));
                line["ms_per_batch"] = to_json(st);
                line["speedup_vs_fp32"] = json_float(float(fp32_median / st.median));
                line["target_speedup"] = t.speedup;
                line["meets_target"] = fp32_median / st.median >= t.speedup;
                line["kernels"] = nets[i]->kernels();
                const std::string file = precisions[i] == Precision::int8 ? q8_file : fp_file;
                line["model_file_mb"] = json_float(float(double(fs::file_size(file)) / (1 << 20)));
                line["peak_rss_mb"] = json_float(float(peak_rss_mb[i]));
                line["peak_rss_of"] = "alexnet-classify -w MODEL_FILE --precision P, one JPEG, a fresh process";
            }
            line["runs"] = timed;
            line["cpu_isa"] = cpu_isa_name();
            out.write(line);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Benchmark AlexNet inference (random weights): per-layer times, images/s, latency, end to end",
                 "alexnet-bench"};
    std::string arch = "alexnet", images_dir, write_weights;
    std::vector<int> batches = {1, 8, 32, 64};
    int warmup = 3, runs = 10, latency_runs = 50, threads = 0, layer_batch = 32, embed_images = 256;
    bool skip_embed = false, summary = false, training_only = false, precision_only = false, allreduce = false;
    std::vector<std::string> precisions = {"fp32", "bf16", "int8"};
    double bucket_mb = GradientReducer::kDefaultBucketMb;
    int train_batch = 32;
    app.add_option("--arch", arch, "alexnet | caffenet | alexnet-tv")->capture_default_str();
    app.add_option("--batches", batches, "Batch sizes for images/s")->delimiter(',')->capture_default_str();
    app.add_option("--warmup", warmup, "Untimed runs first")->check(in_range(0, 1000))->capture_default_str();
    app.add_option("--runs", runs, "Timed runs per batch size")->check(in_range(1, 100000))->capture_default_str();
    app.add_option("--latency-runs", latency_runs, "Timed batch-1 runs for the latency median")
        ->check(in_range(1, 100000))->capture_default_str();
    app.add_option("--layer-batch", layer_batch, "Batch size of the per-layer timing")->check(in_range(1, 4096))->capture_default_str();
    app.add_option("-t,--threads", threads, "Compute threads (0: all cores)")->capture_default_str();
    app.add_option("--images", images_dir, "Folder of JPEGs for the end-to-end embed run (default: 256 generated 500x375 JPEGs)");
    app.add_option("--embed-images", embed_images, "How many JPEGs to generate")->check(in_range(1, 100000))->capture_default_str();
    app.add_flag("--skip-embed", skip_embed, "Skip the end-to-end run");
    app.add_option("--precisions", precisions, "Precisions compared in one run at batch 32 and batch 1 (fp32 first)")
        ->delimiter(',')->check(one_of({"fp32", "bf16", "int8"}))->capture_default_str();
    app.add_flag("--precision-only", precision_only, "Only the precision comparison");
    int under_load = 0;
    app.add_option("--under-load", under_load,
                   "Only throughput beside N busy processes of its own, as a ratio to the fair share of the cores")
        ->check(in_range(1, 64));
    app.add_flag("--training", training_only, "Only time training steps (forward, backward, SGD update)");
    app.add_option("--train-batch", train_batch, "Batch size of the training timing (--allreduce: the global batch)")
        ->check(in_range(1, 4096))->capture_default_str();
    app.add_flag("--allreduce", allreduce,
                 "Only time data-parallel training (run under mpirun): one allreduce of every gradient, and a training "
                 "step without sums, with one sum after the backward pass, and with buckets summed during it");
    app.add_option("--bucket-mb", bucket_mb, "--allreduce: bucket size of the overlapped sums")
        ->check(in_range(0.001, 65536.0))->capture_default_str();
    app.add_flag("--summary", summary, "Print the --arch model summary as JSON and exit");
    bool quiet = false;  // run_tool reads it: no "stopped by" line on a signal
    app.add_flag("-q,--quiet", quiet, "Nothing on stderr but errors (the bench writes only JSON lines otherwise too)");
    app.add_option("--write-random-weights", write_weights, "Only write random weights for --arch to this file and exit");
    std::string make_jpegs_dir;
    std::vector<std::string> golden;
    app.add_option("--training-golden", golden, "IN OUT: training steps for scripts/compare_training_with_pytorch.py")
        ->expected(2);
    app.add_option("--make-jpegs", make_jpegs_dir, "Only write --embed-images 500x375 JPEGs into this folder and exit");

    return run_tool(app, argc, argv, [&] {
        BenchLines out;
        if (allreduce) world();  // MPI first: the cores are shared among a machine's processes
        set_num_threads(threads_per_process(threads));
        const ModelSpec spec = make_preset(arch);
        if (summary) {
            out.write(alexnet::to_json(summarize(spec)));
            return 0;
        }
        if (!make_jpegs_dir.empty()) {
            make_jpegs(make_jpegs_dir, embed_images);
            out.write({{"written", make_jpegs_dir}, {"images", embed_images}});
            return 0;
        }
        if (!write_weights.empty()) {
            Weights marker;  // the tools say so when they run such a file
            marker.metadata["random"] = "seeded random weights written by alexnet-bench --write-random-weights, not trained";
            save_model(write_weights, spec, random_weights(spec, 1), {}, &marker);
            out.write({{"written", write_weights}, {"arch", arch}});
            return 0;
        }
        if (!golden.empty()) {
            training_golden(golden[0], golden[1]);
            return 0;
        }
        if (allreduce) {
            time_data_parallel(spec, train_batch, bucket_mb, std::max(warmup, 1), runs, out);
            return 0;
        }
        if (training_only) {
            out.write(time_training(spec, train_batch, std::max(warmup, 1), runs));
            return 0;
        }
        const Weights weights = random_weights(spec, 1);
        if (under_load > 0) {
            const TempDir scratch("alexnet-bench-load");
            make_jpegs(scratch.path, std::min(embed_images, 128));
            time_under_load(out, spec, weights, under_load, warmup, runs, scratch.path);
            return 0;
        }
        if (precision_only) {
            if (precisions.empty() || precisions[0] != "fp32") precisions.insert(precisions.begin(), "fp32");
            time_precisions(out, spec, weights, precisions, 32, warmup, runs, latency_runs);
            return 0;
        }
        std::mt19937 rng(7);
        std::normal_distribution<float> normal(0.f, 50.f);
        auto net_for = [&](int batch) {
            Weights w = weights;  // the net may not release the shared copy
            return std::make_unique<InferenceNet>(spec, w, batch);
        };
        auto input_for = [&](int batch) {
            std::vector<float> in(size_t(batch) * spec.input.size());
            for (auto& v : in) v = normal(rng);
            return in;
        };

        {  // per-layer times, like `caffe time`
            auto net = net_for(layer_batch);
            auto in = input_for(layer_batch);
            std::vector<float> o(size_t(layer_batch) * net->output_shape().size());
            for (int i = 0; i < warmup; ++i) net->forward(in.data(), o.data());
            std::vector<std::vector<double>> per_step;
            std::vector<std::string> names;
            for (int r = 0; r < runs; ++r) {
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
                const Stats s = stats(per_step[i]);
                total += s.median;
                layers.push_back({{"layer", names[i]}, {"median_ms", json_float(float(s.median))}});
            }
            out.write({{"bench", "layers"}, {"arch", arch}, {"batch", layer_batch}, {"layers", layers},
                       {"sum_of_medians_ms", json_float(float(total))}, {"kernels", net->kernels()}});
        }

        double forward_rate_at_32 = 0;
        for (int batch : batches) {
            auto net = net_for(batch);
            auto in = input_for(batch);
            std::vector<float> o(size_t(batch) * net->output_shape().size());
            const Stats s = stats(time_forward(*net, in, o, warmup, runs));
            const double rate = batch * 1000.0 / s.median;
            if (batch == 32) forward_rate_at_32 = rate;
            out.write({{"bench", "throughput"}, {"arch", arch}, {"batch", batch},
                       {"images_per_sec", json_float(float(rate))}, {"ms_per_batch", to_json(s)}, {"runs", runs}});
        }

        {  // batch-1 latency
            auto net = net_for(1);
            auto in = input_for(1);
            std::vector<float> o(net->output_shape().size());
            const Stats s = stats(time_forward(*net, in, o, std::max(warmup, 5), latency_runs));
            out.write({{"bench", "latency"}, {"arch", arch}, {"batch", 1}, {"ms", to_json(s)}, {"runs", latency_runs}});
        }

        // Every file the bench writes goes into one folder of its own, removed however the run ends.
        const TempDir scratch("alexnet-bench");
        out.write(time_startup(spec, weights, scratch / "startup", 5));
        out.write(time_decode(spec, scratch / "decode", 10));

        if (!skip_embed) {  // alexnet-embed's own path: decode on a thread, fc7, batch 32
            std::string dir = images_dir;
            if (dir.empty()) {
                dir = scratch / "images";
                make_jpegs(dir, embed_images);
            }
            // fp32 first, then each other precision this CPU runs (bf16, int8): each against its
            // own forward-only rate at batch 32.
            std::vector<Precision> embed_precisions{Precision::fp32};
            for (const auto& n : precisions)
                if (const Precision p = parse_precision("--precisions", n); p != Precision::fp32 && precision_supported(p))
                    embed_precisions.push_back(p);
            for (Precision p : embed_precisions) {
                const Weights w = p == Precision::int8 ? quantized(spec, weights) : weights;
                double rate = p == Precision::fp32 ? forward_rate_at_32 : 0;
                if (rate == 0) {
                    Weights copy = w;  // the net may not release the shared copy
                    InferenceNet net(spec, copy, 32, "prob", false, p);
                    auto in = input_for(32);
                    std::vector<float> o(size_t(32) * net.output_shape().size());
                    rate = 32 * 1000.0 / stats(time_forward(net, in, o, warmup, runs)).median;
                }
                out.write(time_embed(spec, w, p, dir, threads, rate, scratch));
            }
        }
        return 0;
    });
}
