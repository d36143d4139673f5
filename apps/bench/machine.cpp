// What the machine around the network costs: a tool's start-up, decoding a JPEG, and throughput
// beside busy neighbours.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>
#include <tuple>

#include "bench/bench.hpp"
#include "cli/run_model.hpp"
#include "core/error.hpp"
#include "core/executable.hpp"
#include "core/temp_dir.hpp"
#include "data/image.hpp"
#include "engine/inference_net.hpp"
#include "formats/model_file.hpp"

namespace alexnet::bench {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// Start-up as users meet it: `alexnet-classify --help`, and one JPEG classified by full-size
// alexnet from a weights file (process start, mapping and preparing 244 MB of weights, decode,
// one forward pass), medians of `runs` calls.
void startup(const ModelSpec& spec, const Weights& weights, const std::string& dir, Lines& out) {
    const int runs = 5;
    fs::create_directories(dir);
    const std::string classify = executable_dir() + "/alexnet-classify", model = dir + "/weights.safetensors",
                      jpeg = dir + "/photo_500x375.jpg";
    save_model(model, spec, weights);
    write_photo(jpeg);
    auto median_s = [&](const std::vector<std::string>& argv, int n) {
        run_command(argv);  // warm the page cache
        std::vector<double> s;
        for (int r = 0; r < n; ++r) s.push_back(check_exit(run_command(argv), argv[0], "start-up").seconds);
        return stats(s).median;
    };
    const double help = median_s({classify, "--help"}, runs * 2);
    const double one = median_s({classify, "-q", "-w", model, jpeg}, runs);
    fs::remove_all(dir);
    out.write({{"bench", "startup"}, {"arch", spec.arch},
               {"help_ms", json_float(float(help * 1e3))}, {"help_target_ms", 20},
               {"one_jpeg_classify_s", json_float(float(one))}, {"one_jpeg_target_s", 0.15}, {"runs", runs}});
}

namespace {

double thread_cpu_ms() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + t.tv_nsec * 1e-9;
}

// A 4000x3000 JPEG of smooth random content with noise, like a camera's photo, and a 500x375 one
// made from it.
void write_photos(const std::string& big_path, const std::string& mid_path) {
    cv::Mat small(30, 40, CV_8UC3), big;
    cv::RNG rng(99);
    rng.fill(small, cv::RNG::UNIFORM, 0, 255);
    cv::resize(small, big, cv::Size(4000, 3000), 0, 0, cv::INTER_CUBIC);
    cv::Mat noise(big.size(), CV_8UC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 12);
    big += noise;
    cv::imwrite(big_path, big, {cv::IMWRITE_JPEG_QUALITY, 90});
    cv::Mat mid;
    cv::resize(big, mid, cv::Size(500, 375), 0, 0, cv::INTER_AREA);
    cv::imwrite(mid_path, mid, {cv::IMWRITE_JPEG_QUALITY, 90});
}

}  // namespace

// Decoding and preprocessing one image as the tools do (read, decode, resize, crop), in core-ms:
// a 4000x3000 photo (DCT-reduced and --exact-decode) and a 500x375 one.
void decode(const ModelSpec& spec, const std::string& dir, Lines& out) {
    const int runs = 10;
    fs::create_directories(dir);
    const std::string big_path = dir + "/photo_4000x3000.jpg", mid_path = dir + "/photo_500x375.jpg";
    write_photos(big_path, mid_path);
    const Preprocessing& p = spec.preprocessing;
    std::vector<float> pixels(size_t(p.channels) * p.crop * p.crop);
    auto median_ms = [&](const std::string& path, bool exact) {
        DecodeSettings s;
        s.exact = exact;
        configure_decoding(s);
        std::vector<double> ms;
        for (int r = 0; r < runs + 1; ++r) {
            const double t0 = thread_cpu_ms();
            preprocess(read_image(path, size_hint(p)), p, CropMode::center, pixels.data());
            if (r > 0) ms.push_back(thread_cpu_ms() - t0);
        }
        configure_decoding({});
        return stats(ms).median;
    };
    const double big_reduced = median_ms(big_path, false), big_exact = median_ms(big_path, true);
    const double mid_ms = median_ms(mid_path, false);
    fs::remove(big_path), fs::remove(mid_path);
    out.write({{"bench", "decode"}, {"arch", spec.arch},
               {"jpeg_4000x3000_core_ms", json_float(float(big_reduced))}, {"jpeg_4000x3000_target_ms", 30},
               {"jpeg_4000x3000_exact_decode_core_ms", json_float(float(big_exact))},
               {"jpeg_500x375_core_ms", json_float(float(mid_ms))}, {"jpeg_500x375_target_core_ms", 2}, {"runs", runs}});
}

namespace {

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

// Batch-32 forward passes per second with `threads` compute threads (0: all cores).
double forward_rate(const Settings& s, const ModelSpec& spec, const Weights& weights, int threads) {
    set_num_threads(threads);
    Weights w = weights;
    InferenceNet net(spec, w, 32);
    const std::vector<float> in = random_input(size_t(32) * spec.input.size());
    std::vector<float> o(size_t(32) * net.output_shape().size());
    return 32 * 1000.0 / stats(time_ms(s.warmup, s.runs, [&] { net.forward(in.data(), o.data()); })).median;
}

// alexnet-embed's path over `dir`: images per second and CPU seconds per image.
std::pair<double, double> embed_rate(const ModelSpec& spec, const Weights& weights, const std::string& dir, int threads,
                                     int loader_threads) {
    CommonOptions o;
    o.inputs = {dir};
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
    return {count / std::chrono::duration<double>(clock_type::now() - t0).count(), cpu / count};
}

}  // namespace

// Throughput beside `neighbours` busy processes, as a ratio to the tool's fair share of the cores:
// with C cores and N neighbours the share is C/(N+1) cores. Batch-32 forward passes with the
// default settings (all cores, passive waiting), against the idle rate with that many compute
// threads (fewer than one core: the one-thread figure scaled down); and the end-to-end embed path
// (decode threads beside the compute threads) on generated JPEGs, against the share divided by
// the CPU time per image the same path takes idle (decoding too must come out of the share: an
// idle run with a whole free core for its decode thread would overstate it).
void under_load(const Settings& s, const ModelSpec& spec, const Weights& weights, int neighbours, Lines& out) {
    const TempDir scratch("alexnet-bench-load");
    make_jpegs(scratch.path, std::min(s.embed_images, 128));
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    const double share = double(cores) / (neighbours + 1);
    const int share_threads = std::max(1, int(share));
    const double fair_forward = forward_rate(s, spec, weights, share_threads) * share / share_threads;
    const double fair_embed = share / embed_rate(spec, weights, scratch.path, share_threads, 1).second;
    double loaded_forward = 0, loaded_embed = 0;
    {
        BusyNeighbours busy(neighbours);
        loaded_forward = forward_rate(s, spec, weights, 0);
        loaded_embed = embed_rate(spec, weights, scratch.path, 0, CommonOptions{}.loader_threads).first;
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

}  // namespace alexnet::bench
