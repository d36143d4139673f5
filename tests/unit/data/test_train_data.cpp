// Training data: set formats, the deterministic loader, augmentation, statistics, top-k metrics.
#include <doctest/doctest.h>

#include <algorithm>

#include <cmath>
#include <fstream>
#include <memory>
#include <opencv2/imgcodecs.hpp>

#include "parallel/communicator.hpp"
#include "core/error.hpp"
#include "data/augment.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"
#include "metrics/topk.hpp"
#include "test_util.hpp"

using namespace alexnet;
using alexnet::test::TempDir;
namespace fs = std::filesystem;

namespace {

// n x h x w grey images whose pixel (y, x) of image i is (i * 7 + y * w + x) % 256, labels i % classes.
LabelledSet synthetic(int n, int h, int w, int classes) {
    LabelledSet s;
    s.source = "synthetic";
    s.images.count = n, s.images.channels = 1, s.images.height = h, s.images.width = w;
    for (int i = 0; i < n; ++i) {
        for (int p = 0; p < h * w; ++p) s.images.pixels.push_back(uint8_t((i * 7 + p) % 256));
        s.labels.push_back(i % classes);
    }
    s.images.labels = s.labels;
    return s;
}

Preprocessing grey(int size) {
    Preprocessing p;
    p.resize = p.crop = size;
    p.bgr = false;
    p.pixel_scale = 1.f;
    p.mean[0] = 0.f;
    p.std[0] = 1.f;
    p.channels = 1;
    return p;
}

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("--limit: a seeded sample across a class-sorted set, each class in proportion, in the set's order") {
    TempDir dir;
    std::string list;
    for (int i = 0; i < 100; ++i) list += "img" + std::to_string(i) + ".png " + (i < 30 ? "0" : "1") + "\n";
    write_file(dir.path / "list.txt", list);  // sorted by class: 30 of class 0, then 70 of class 1
    const LabelledSet all = open_labelled_set((dir.path / "list.txt").string(), Split::train);
    const LabelledSet a = sample_items(all, 20, 7);
    REQUIRE(a.size() == 20);
    CHECK(std::count(a.labels.begin(), a.labels.end(), 0) == 6);  // 30% of 20
    CHECK(std::is_sorted(a.paths.begin(), a.paths.end(), [](const std::string& x, const std::string& y) {
        return std::stoi(fs::path(x).stem().string().substr(3)) < std::stoi(fs::path(y).stem().string().substr(3));
    }));
    CHECK(sample_items(all, 20, 7).paths == a.paths);  // the same seed, the same items
    CHECK(sample_items(all, 20, 8).paths != a.paths);
    const LabelledSet two = sample_items(all, 2, 7);  // every class as soon as the limit allows
    CHECK(std::count(two.labels.begin(), two.labels.end(), 0) == 1);
    CHECK(sample_items(all, 100, 7).paths == all.paths);
    CHECK(sample_items(all, 0, 7).size() == 100);
    CHECK(first_items(all, 20).labels == std::vector<int>(20, 0));  // what --limit did before
}

TEST_CASE("path-label lists: comments, blank lines, relative paths, and errors with line numbers") {
    TempDir dir;
    cv::imwrite((dir.path / "a.png").string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
    write_file(dir.path / "list.txt", "# a comment\n\na.png 3\n  a.png   1  \n");
    const LabelledSet s = open_labelled_set((dir.path / "list.txt").string(), Split::train);
    REQUIRE(s.size() == 2);
    CHECK(s.labels == std::vector<int>{3, 1});
    CHECK(s.paths[0] == (dir.path / "a.png").string());
    CHECK(s.num_classes() == 4);
    CHECK(s.image(0).at<cv::Vec3b>(0, 0) == cv::Vec3b(1, 2, 3));

    write_file(dir.path / "bad.txt", "a.png 1\na.png cat\n");
    CHECK_THROWS_WITH_AS(open_labelled_set((dir.path / "bad.txt").string(), Split::train),
                         ((dir.path / "bad.txt").string() + ":2: label: expected a class index from 0 to 99999, found 'cat'").c_str(),
                         Error);
    write_file(dir.path / "bad2.txt", "a.png\n");
    CHECK_THROWS_WITH_AS(open_labelled_set((dir.path / "bad2.txt").string(), Split::train),
                         ((dir.path / "bad2.txt").string() + ":1: line: expected 'path label', found 'a.png'").c_str(),
                         Error);
}

TEST_CASE("image folders: classes are the sorted folder names") {
    TempDir dir;
    for (const char* c : {"zebra", "ant"}) {
        fs::create_directories(dir.path / c);
        for (int i = 0; i < 2; ++i)
            cv::imwrite((dir.path / c / (std::to_string(i) + ".png")).string(), cv::Mat(4, 4, CV_8UC1, cv::Scalar(i)));
    }
    const LabelledSet s = open_labelled_set(dir.path.string(), Split::train);
    CHECK(s.class_names == std::vector<std::string>{"ant", "zebra"});
    CHECK(s.labels == std::vector<int>{0, 0, 1, 1});
    CHECK(fs::path(s.paths[2]).parent_path().filename() == "zebra");
}

TEST_CASE("the loader is deterministic per seed, whatever its thread count, and resumes mid-epoch") {
    const LabelledSet set = synthetic(40, 6, 6, 4);
    const Preprocessing p = grey(4);
    Augmentation a;
    a.pad = 1;
    auto epoch_batches = [&](int threads, uint64_t seed, int epoch, int first) {
        Loader loader(set, p, a, 8, true, seed, threads);
        loader.start(epoch, first);
        std::vector<std::vector<float>> out;
        for (int b = first; b < loader.batches_per_epoch(); ++b) out.push_back(loader.next().data);
        return out;
    };
    const auto one = epoch_batches(1, 5, 2, 0);
    CHECK(one.size() == 5);
    CHECK(epoch_batches(3, 5, 2, 0) == one);
    CHECK(epoch_batches(0, 5, 2, 0) == one);  // no threads: next() makes every item itself
    const auto tail = epoch_batches(2, 5, 2, 3);
    REQUIRE(tail.size() == 2);
    CHECK(tail[0] == one[3]);
    CHECK(tail[1] == one[4]);
    CHECK(epoch_batches(1, 6, 2, 0) != one);
    CHECK(epoch_batches(1, 5, 3, 0) != one);

    // Each epoch visits every item once.
    const std::vector<int> order = epoch_order(40, 5, 2);
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 40; ++i) CHECK(sorted[size_t(i)] == i);
    CHECK(order != epoch_order(40, 5, 3));
}

TEST_CASE("evaluation batches: in order, center crops, a short last batch padded") {
    const LabelledSet set = synthetic(10, 4, 4, 3);
    for (const int threads : {0, 2}) {  // 0: next() makes every batch itself
        CAPTURE(threads);
        Loader loader(set, grey(4), Augmentation{}, 4, false, 1, threads);
        CHECK(loader.batches_per_epoch() == 3);
        loader.start(0);
        loader.next();
        loader.next();
        const LoaderBatch& last = loader.next();
        CHECK(last.count == 2);
        CHECK(last.items == std::vector<int>{8, 9});
        CHECK(last.labels[0] == 8 % 3);
        CHECK(last.data[0] == doctest::Approx(float(set.image(8).at<uint8_t>(0, 0)) / 255.f));
    }
}

TEST_CASE("augmentation: crops from the padded image, mirrors, and PCA lighting shifts colours") {
    cv::Mat img(4, 4, CV_8UC1);
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) img.at<uint8_t>(y, x) = uint8_t(10 * y + x);
    Preprocessing p = grey(4);
    p.pixel_scale = 255.f;  // values as pixels
    Augmentation a;
    a.pad = 2;
    bool saw_shift = false, saw_mirror = false;
    for (uint64_t seed = 0; seed < 40; ++seed) {
        std::mt19937_64 rng(seed);
        float out[16];
        make_example(img, p, a, true, rng, out);
        // Find where the image's (0,0)=0 and (0,1)=1 went: a shifted, maybe mirrored copy, zeros around.
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x + 1 < 4; ++x)
                if (out[y * 4 + x] == 1.f && out[y * 4 + x + 1] == 0.f) saw_mirror = true;
        saw_shift = saw_shift || out[0] == 0.f && out[5] == 0.f;
    }
    CHECK(saw_mirror);
    CHECK(saw_shift);
    std::mt19937_64 rng(1);
    float center[16];
    make_example(img, p, a, false, rng, center);
    CHECK(center[5] == 11.f);  // evaluation: no padding, center crop, no flip

    // Lighting: every pixel of a colour image moves by the same per-channel amount
    // eigvec * (alpha * eigval) on the 0..1 scale.
    Preprocessing c = p;
    c.channels = 3;
    c.bgr = false;
    for (int k = 0; k < 3; ++k) c.mean[k] = 0.f, c.std[k] = 1.f;
    Augmentation l;
    l.random_crop = false, l.flip = false;
    l.lighting = imagenet_lighting();
    cv::Mat colour(4, 4, CV_8UC3, cv::Scalar(50, 100, 150));  // BGR
    float out[48];
    std::mt19937_64 r2(3);
    make_example(colour, c, l, true, r2, out);
    std::mt19937_64 r3(3);
    std::normal_distribution<float> normal(0.f, 0.1f);
    float alpha[3];
    for (float& v : alpha) v = normal(r3);
    const float rgb[3] = {150, 100, 50};
    for (int ch = 0; ch < 3; ++ch) {
        float shift = 0;
        for (int k = 0; k < 3; ++k) shift += l.lighting.eigvec[ch][k] * alpha[k] * l.lighting.eigval[k];
        CHECK(out[ch * 16 + 7] == doctest::Approx(rgb[ch] + 255.f * shift).epsilon(1e-5));
    }
}

TEST_CASE("statistics from the training set: mean, std, and the colour covariance's eigenvectors") {
    LabelledSet s;
    s.source = "two";
    s.images.count = 2, s.images.channels = 3, s.images.height = 1, s.images.width = 1;
    s.images.pixels = {0, 0, 0, 255, 255, 255};  // black and white pixels: R, G, B planes per image
    s.labels = s.images.labels = {0, 1};
    Preprocessing p;
    p.resize = p.crop = 1;
    const DataStats st = compute_stats(s, p, 10);
    for (int c = 0; c < 3; ++c) {
        CHECK(st.mean[c] == doctest::Approx(0.5f));
        CHECK(st.std[c] == doctest::Approx(0.5f));
    }
    // All variance along (1,1,1)/sqrt(3): eigenvalue 3 * 0.25
    CHECK(st.lighting.eigval[0] == doctest::Approx(0.75f));
    CHECK(std::fabs(st.lighting.eigvec[0][0]) == doctest::Approx(1 / std::sqrt(3.f)));
    CHECK(st.lighting.eigval[1] == doctest::Approx(0.f));
}

TEST_CASE("top-k: ties go to the lower class index, k beyond the classes always counts") {
    const float s[4] = {0.1f, 0.5f, 0.5f, 0.2f};
    CHECK(label_rank(s, 4, 1) == 0);
    CHECK(label_rank(s, 4, 2) == 1);  // tied with class 1, which comes first
    CHECK(label_rank(s, 4, 0) == 3);
    CHECK(top_classes(s, 4, 2) == std::vector<int>{1, 2});
    CHECK(top_classes(s, 4, 9).size() == 4);
    TopKCounter c;
    c.add(s, 4, 2, 1.0);
    c.add(s, 4, 0, 3.0);
    CHECK(c.top1_error() == 1.0);
    CHECK(c.top5_error() == 0.0);  // 4 classes: top-5 holds every class
    CHECK(c.mean_loss() == 2.0);
    const float z[3] = {1.f, 2.f, 3.f};
    CHECK(cross_entropy(z, 3, 2) == doctest::Approx(std::log(std::exp(1.) + std::exp(2.) + std::exp(3.)) - 3.));
}

TEST_CASE("batch shares: the processes' parts of every batch are the batch one process makes, bit for bit") {
    const LabelledSet set = synthetic(50, 12, 12, 5);
    const Preprocessing p = grey(10);
    Augmentation a;
    a.pad = 1;
    for (const bool train : {true, false}) {
        CAPTURE(train);
        Loader whole(set, p, a, 8, train, 3, 2);
        std::vector<std::unique_ptr<Loader>> parts;  // 8 = 3 + 3 + 2, as for 3 processes
        for (int r = 0; r < 3; ++r) {
            const Share s = share_of(8, r, 3);
            parts.push_back(std::make_unique<Loader>(set, p, a, s.count, train, 3, 1, CropMode::center,
                                                     BatchShare{8, s.offset}));
            CHECK(parts.back()->batches_per_epoch() == whole.batches_per_epoch());
        }
        CHECK(whole.batches_per_epoch() == (train ? 6 : 7));
        for (int epoch = 0; epoch < 2; ++epoch) {
            whole.start(epoch);
            for (auto& part : parts) part->start(epoch);
            for (int b = 0; b < whole.batches_per_epoch(); ++b) {
                const LoaderBatch& w = whole.next();
                const size_t per_item = w.data.size() / 8;
                std::vector<int> items, labels;
                std::vector<float> data;
                for (auto& part : parts) {
                    const LoaderBatch& pb = part->next();
                    items.insert(items.end(), pb.items.begin(), pb.items.end());
                    labels.insert(labels.end(), pb.labels.begin(), pb.labels.begin() + pb.count);
                    data.insert(data.end(), pb.data.begin(), pb.data.begin() + std::ptrdiff_t(pb.count * per_item));
                }
                CAPTURE(epoch);
                CAPTURE(b);
                CHECK(items == w.items);
                CHECK(labels == std::vector<int>(w.labels.begin(), w.labels.begin() + w.count));
                CHECK(data == std::vector<float>(w.data.begin(), w.data.begin() + std::ptrdiff_t(w.count * per_item)));
            }
        }
    }
}
