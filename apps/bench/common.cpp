#include <algorithm>
#include <chrono>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sys/wait.h>

#include "bench/bench.hpp"
#include "core/error.hpp"
#include "quantize/calibration.hpp"

namespace alexnet::bench {

Lines::Lines() : cpu_(cpu_model_name()), isa_(cpu_isa_name()) {}

void Lines::write(nlohmann::ordered_json line) {
    line["cpu"] = cpu_;
    line["isa"] = isa_;
    out_.write(line);
}

Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {v.front(), v[v.size() / 2], v.back()};
}

nlohmann::ordered_json to_json(const Stats& s) {
    return {{"min", json_float(float(s.min))}, {"median", json_float(float(s.median))}, {"max", json_float(float(s.max))}};
}

std::vector<double> time_ms(int warmup, int runs, const std::function<void()>& run,
                            const std::function<void()>& before) {
    for (int i = 0; i < warmup; ++i) {
        if (before) before();
        run();
    }
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        if (before) before();
        const auto t0 = std::chrono::steady_clock::now();
        run();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return ms;
}

std::vector<float> random_input(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 50.f);
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng);
    return v;
}

void make_jpegs(const std::string& dir, int count) {
    std::filesystem::create_directories(dir);
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

void write_photo(const std::string& path) {
    cv::Mat small(30, 40, CV_8UC3), img;
    cv::RNG rng(5);
    rng.fill(small, cv::RNG::UNIFORM, 0, 255);
    cv::resize(small, img, cv::Size(500, 375), 0, 0, cv::INTER_CUBIC);
    cv::imwrite(path, img, {cv::IMWRITE_JPEG_QUALITY, 90});
}

const CommandRun& check_exit(const CommandRun& r, const std::string& program, const std::string& bench) {
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        throw Error(program, "exited with an error in the " + bench + " bench");
    return r;
}

Weights quantized(const ModelSpec& spec, const Weights& weights) {
    Weights fp = weights;
    const std::vector<float> calib = random_input(size_t(4) * spec.input.size(), 11);
    const auto hists = collect_histograms(spec, fp, calib, 4, 4);
    std::vector<std::string> int8_names;
    Weights q8 = quantize_weights(spec, fp, {}, int8_names);
    q8.metadata[kQuantizationKey] = alexnet::to_json(activation_scales(hists, "minmax"));
    for (const auto& name : q8.names())  // the biases are views into `fp`, which ends here
        if (const Tensor& t = q8.at(name); !t.owns())
            q8.add(name, t.shape, std::vector<float>(t.floats(), t.floats() + t.numel()));
    return q8;
}

}  // namespace alexnet::bench
