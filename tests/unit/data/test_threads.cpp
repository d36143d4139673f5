// Loaders started and stopped many times from several threads at once while they decode: the
// shape of every tool's life (a network's batches, an evaluation inside training, a study's
// trials), compressed. Before OpenCV's threading was settled once per process, every decode thread
// called cv::setNumThreads, which tears down and rebuilds TBB's arena: this crashed (SIGSEGV in
// tbb::terminate) or corrupted the heap. Also run under ASan (make sanitize) and TSan (make tsan).
#include <doctest/doctest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "core/temp_dir.hpp"
#include "data/augment.hpp"
#include "data/batch_loader.hpp"
#include "data/decode.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"

using namespace alexnet;
namespace fs = std::filesystem;

namespace {

constexpr int kThreads = 8;
constexpr int kRounds = 250;

// Two classes of small colour PNGs that must be resized (OpenCV's resize and cvtColor run).
struct Images {
    TempDir dir{"alexnet-threads"};
    std::vector<std::string> paths;
    Images() {
        for (const char* cls : {"a", "b"}) {
            fs::create_directories(dir.path / cls);
            for (int i = 0; i < 6; ++i) {
                cv::Mat img(30 + i, 41 - i, CV_8UC3, cv::Scalar(20 * i, cls[0] == 'a' ? 60 : 160, 200 - 15 * i));
                cv::circle(img, {10 + i, 12}, 5, cv::Scalar(255, 255 - 30 * i, 0), -1);
                paths.push_back((dir.path / cls / ("img" + std::to_string(i) + ".png")).string());
                cv::imwrite(paths.back(), img);
            }
        }
    }
};

Preprocessing small_rgb() {
    Preprocessing p;
    p.resize = 36;
    p.crop = 32;
    return p;
}

// Every batch's first value per item, in order: what the decoded data must equal in every round.
std::vector<float> batch_loader_values(const std::vector<std::string>& paths, int decode_threads, int batches) {
    PathSource source(paths);
    BatchLoader loader(source, small_rgb(), CropMode::center, 3, decode_threads);
    std::vector<float> out;
    for (int n = 0; n < batches; ++n) {
        auto b = loader.next();
        if (!b) break;
        for (const auto& item : b->items) out.push_back(item.error.empty() ? b->data[size_t(item.image) * 3 * 32 * 32 + 77] : -1.f);
        loader.recycle(std::move(*b));
    }
    return out;  // the loader stops here, most often with batches still being decoded
}

std::vector<float> train_loader_values(const LabelledSet& set, int threads) {
    Loader loader(set, small_rgb(), Augmentation{}, 4, true, 7, threads);
    loader.start(0);
    return loader.next().data;  // stops with the epoch's other batches in flight
}

}  // namespace

TEST_CASE("loaders started and stopped from several threads at once decode the same data every time") {
    const Images images;
    const LabelledSet set = open_labelled_set(images.dir.path.string(), Split::train);
    REQUIRE(set.size() == 12);
    // References made by the consumer alone, before any decode thread exists.
    const std::vector<float> whole = batch_loader_values(images.paths, 0, 4);
    REQUIRE(whole.size() == 12);
    for (float v : whole) CHECK(v != -1.f);
    const std::vector<float> first = train_loader_values(set, 0);

    std::vector<int> mismatches(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int round = 0; round < kRounds; ++round) {
                const int batches = 1 + (round + t) % 4;
                const std::vector<float> got = batch_loader_values(images.paths, 1 + round % 3, batches);
                if (got != std::vector<float>(whole.begin(), whole.begin() + std::ptrdiff_t(got.size())) || got.empty())
                    ++mismatches[size_t(t)];
                if (train_loader_values(set, 1 + (round + t) % 3) != first) ++mismatches[size_t(t)];
            }
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) CHECK(mismatches[size_t(t)] == 0);
}
