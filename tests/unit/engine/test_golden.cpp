// Whole networks and preprocessing against fixtures made by PyTorch and OpenCV's Python binding
// (tests/fixtures/make_fixtures.py).
#include <doctest/doctest.h>

#include "data/datasets.hpp"
#include "data/image.hpp"
#include "engine/inference_net.hpp"
#include "engine/reference.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "test_util.hpp"

#include <nlohmann/json.hpp>

using namespace alexnet;
using test::relative_max_error;

namespace {

std::string fixture(const std::string& name) { return std::string(ALEXNET_FIXTURES) + "/" + name; }

std::vector<float> run(LoadedModel& m, const Tensor& input, const std::string& layer) {
    const int batch = int(input.shape[0]);
    InferenceNet net(m.spec, m.weights, batch, layer);
    std::vector<float> out(size_t(batch) * net.output_shape().size());
    net.forward(input.floats(), out.data());
    return out;
}

}  // namespace

TEST_CASE("narrow caffe-family networks give PyTorch's logits and probabilities") {
    for (const std::string arch : {"alexnet", "caffenet"}) {
        CAPTURE(arch);
        LoadedModel m = load_model(fixture("narrow_" + arch + ".safetensors"));
        CHECK(m.spec.arch == arch);
        CHECK(m.spec.find("conv2")->groups == 2);
        CHECK(m.spec.find("conv4")->groups == 2);
        CHECK(m.spec.find("conv3")->groups == 1);
        const Weights io = read_safetensors(fixture("narrow_" + arch + "_io.safetensors"));
        const Tensor &x = io.at("input"), &logits = io.at("logits"), &prob = io.at("prob");
        const auto fc8 = run(m, x, "fc8");
        const double err = relative_max_error(fc8.data(), logits.floats(), fc8.size());
        MESSAGE(arch << " oneDNN vs PyTorch logits, relative max error " << err);
        CHECK(err < 1e-4);
        const auto p = run(m, x, "prob");
        CHECK(relative_max_error(p.data(), prob.floats(), p.size()) < 1e-4);
        const auto ref = reference::forward(m.spec, m.weights, x.floats(), int(x.shape[0]));
        CHECK(relative_max_error(ref[m.spec.index_of("fc8")].data(), logits.floats(), fc8.size()) < 1e-4);
    }
}

TEST_CASE("the alexnet fixture's LRN constants come from its metadata and matter") {
    LoadedModel m = load_model(fixture("narrow_alexnet.safetensors"));
    CHECK(m.spec.find("norm1")->lrn.k == 2.f);
    const Weights io = read_safetensors(fixture("narrow_alexnet_io.safetensors"));
    // With Caffe's k = 1 instead, the logits move well past the tolerance.
    for (auto& l : m.spec.layers)
        if (l.kind == LayerKind::lrn) l.lrn.k = 1.f;
    const auto fc8 = run(m, io.at("input"), "fc8");
    CHECK(relative_max_error(fc8.data(), io.at("logits").floats(), fc8.size()) > 1e-2);
}

TEST_CASE("narrow torchvision network (torchvision's names) gives PyTorch's logits at 224 and 256") {
    const Weights io = read_safetensors(fixture("narrow_alexnet-tv_io.safetensors"));
    for (int size : {224, 256}) {
        CAPTURE(size);
        LoadedModel m = load_model(fixture("narrow_alexnet-tv.safetensors"));
        CHECK(m.spec.arch == "alexnet-tv");
        CHECK(m.spec.preprocessing.bgr == false);
        m.spec.input.h = m.spec.input.w = size;
        const Tensor& x = io.at("input_" + std::to_string(size));
        const Tensor& logits = io.at("logits_" + std::to_string(size));
        const auto fc8 = run(m, x, "fc8");
        const double err = relative_max_error(fc8.data(), logits.floats(), fc8.size());
        MESSAGE("alexnet-tv at " << size << ": relative max error " << err);
        CHECK(err < 1e-4);
    }
}

TEST_CASE("preprocessing matches an independent OpenCV/numpy pipeline") {
    const Weights expected = read_safetensors(fixture("preprocessing.safetensors"));
    for (const std::string name : {"small_61x47", "wide_300x200", "large_400x320"}) {
        const cv::Mat img = read_image(fixture(name + ".png"));
        for (const std::string family : {"caffe", "tv"}) {
            CAPTURE(name);
            CAPTURE(family);
            const Preprocessing p = make_preset(family == "caffe" ? "alexnet" : "alexnet-tv").preprocessing;
            const Tensor& want = expected.at(name + "_" + family);
            REQUIRE(want.numel() == 3 * p.crop * p.crop);
            std::vector<float> got(want.numel());
            preprocess(img, p, CropMode::center, got.data());
            double max_diff = 0;
            for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(got[i] - want.floats()[i])));
            CHECK(max_diff < 1e-4);
        }
    }
}

TEST_CASE("ten-crop: center, corners, and their mirror images") {
    const cv::Mat img = read_image(fixture("wide_300x200.png"));
    const Preprocessing p = make_preset("alexnet-tv").preprocessing;
    const int crop = p.crop;
    const size_t n = 3 * size_t(crop) * crop;
    std::vector<float> ten(10 * n), center(n);
    preprocess(img, p, CropMode::ten, ten.data());
    preprocess(img, p, CropMode::center, center.data());
    CHECK(std::equal(center.begin(), center.end(), ten.begin()));
    // crop 5 is crop 0 mirrored: column x of one is column crop-1-x of the other
    const cv::Mat resized = resize_for(img, p);
    CHECK(resized.cols == 384);
    CHECK(resized.rows == 256);
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < crop; y += 37)
            for (int x = 0; x < crop; x += 29) {
                CHECK(ten[5 * n + (c * crop + y) * crop + x] == ten[(c * crop + y) * crop + crop - 1 - x]);
                // bottom-right corner (crop 4) reads the resized image at offset (384-224, 256-224)
                const uint8_t v = resized.at<cv::Vec3b>(y + 32, x + 160)[2 - c];
                CHECK(ten[4 * n + (c * crop + y) * crop + x] ==
                      doctest::Approx((v / 255.f - p.mean[c]) / p.std[c]).epsilon(1e-5));
            }
}

TEST_CASE("EXIF orientation is honoured; grayscale becomes three channels") {
    const cv::Mat img = read_image(fixture("exif_rotated.jpg"));
    CHECK(img.cols == 30);  // stored 40x30, orientation 6 turns it upright
    CHECK(img.rows == 40);
    CHECK(img.channels() == 3);
}

TEST_CASE("center offsets: Caffe floors, torchvision rounds halves to even") {
    CHECK(center_offset(256, 227, false) == 14);
    CHECK(center_offset(256, 224, true) == 16);
    CHECK(center_offset(341, 224, true) == 58);  // round(58.5) == 58 in Python
    CHECK(center_offset(343, 224, true) == 60);  // round(59.5) == 60
}

TEST_CASE("the embedded default: PNG files through our preprocessing and network give PyTorch's logits") {
    const std::string data = ALEXNET_DATA_DIR;
    LoadedModel m = load_model(data + "/alexnet-28-fmnist.safetensors");
    CHECK(m.spec.arch == "alexnet-28");
    CHECK(m.labels.size() == 10);
    const Weights expected = read_safetensors(fixture("fmnist_demo_logits.safetensors"));
    const auto files = nlohmann::json::parse(expected.metadata.at("files"));
    const Tensor& logits = expected.at("logits");
    REQUIRE(int64_t(files.size()) == logits.shape[0]);
    const int n = int(files.size());
    std::vector<float> input(size_t(n) * 28 * 28);
    for (int i = 0; i < n; ++i)
        preprocess(read_image(data + "/demo/" + files[i].get<std::string>()), m.spec.preprocessing, CropMode::center,
                   input.data() + size_t(i) * 28 * 28);
    InferenceNet net(m.spec, m.weights, n, "fc8");
    std::vector<float> out(size_t(n) * 10);
    net.forward(input.data(), out.data());
    const double err = relative_max_error(out.data(), logits.floats(), out.size());
    MESSAGE("alexnet-28 end to end vs PyTorch: relative max error " << err);
    CHECK(err < 1e-4);
}

TEST_CASE("the embedded default scores PyTorch's accuracy on all 10,000 Fashion-MNIST test images") {
    const std::string data = ALEXNET_DATA_DIR, fashion = "/usr/share/datasets/fashion-mnist";
    LoadedModel m = load_model(data + "/alexnet-28-fmnist.safetensors");
    const double pytorch_accuracy =
        std::stod(read_safetensors(fixture("fmnist_demo_logits.safetensors")).metadata.at("test_accuracy"));
    const ImageSet test = read_idx(fashion + "/t10k-images-idx3-ubyte.gz", fashion + "/t10k-labels-idx1-ubyte.gz");
    constexpr int kBatch = 500;
    InferenceNet net(m.spec, m.weights, kBatch, "fc8");
    std::vector<float> input(size_t(kBatch) * 28 * 28), logits(size_t(kBatch) * 10);
    int correct = 0;
    for (int b = 0; b < test.count; b += kBatch) {
        for (int i = 0; i < kBatch; ++i) {
            const cv::Mat img(28, 28, CV_8UC1, const_cast<uint8_t*>(test.image(b + i)));
            preprocess(img, m.spec.preprocessing, CropMode::center, input.data() + size_t(i) * 28 * 28);
        }
        net.forward(input.data(), logits.data());
        for (int i = 0; i < kBatch; ++i) {
            const float* row = logits.data() + i * 10;
            correct += int(std::max_element(row, row + 10) - row) == test.labels[b + i];
        }
    }
    const double accuracy = correct / double(test.count);
    MESSAGE("alexnet-28 test accuracy: ours " << accuracy << ", PyTorch " << pytorch_accuracy);
    CHECK(std::fabs(accuracy - pytorch_accuracy) <= 0.0003);  // at most 3 borderline images may flip
}

TEST_CASE("reference backward through whole narrow networks gives PyTorch's loss and every gradient") {
    for (const std::string arch : {"alexnet", "caffenet", "alexnet-tv"}) {
        CAPTURE(arch);
        const LoadedModel m = load_model(fixture("narrow_" + arch + ".safetensors"));
        const Weights io = read_safetensors(fixture("narrow_" + arch + "_io.safetensors"));
        const Weights expected = read_safetensors(fixture("narrow_" + arch + "_grads.safetensors"));
        const Tensor& x = io.at(arch == "alexnet-tv" ? "input_224" : "input");
        const int N = int(x.shape[0]);
        std::vector<int> labels;
        for (int i = 0; i < N; ++i) labels.push_back(int(expected.at("labels").floats()[i]));
        const reference::Gradients g = reference::backward(m.spec, m.weights, x.floats(), labels.data(), N);
        CHECK(g.loss == doctest::Approx(std::stod(expected.metadata.at("loss"))).epsilon(1e-5));
        double worst = 0;
        for (const auto& p : param_specs(m.spec)) {
            const Tensor& want = expected.at(p.name);
            const std::vector<float>& got = g.params.at(p.name);
            REQUIRE(int64_t(got.size()) == want.numel());
            const double err = relative_max_error(got.data(), want.floats(), got.size());
            CAPTURE(p.name);
            CHECK(err < 1e-4);
            worst = std::max(worst, err);
        }
        MESSAGE(arch << ": loss " << g.loss << ", worst gradient relative max error " << worst);
    }
}
