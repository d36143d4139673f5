// Bringing weights from PyTorch (.pth), Caffe (.caffemodel with or without a prototxt) and ONNX:
// the same logits as the framework that made them, pickles that would run code refused, and the
// round trip through alexnet-convert (fixtures by tests/fixtures/make_import_fixtures.py).
#include <doctest/doctest.h>

#include <filesystem>

#include "cli_util.hpp"
#include "core/error.hpp"
#include "engine/inference_net.hpp"
#include "formats/model_file.hpp"
#include "formats/pth.hpp"
#include "formats/safetensors.hpp"
#include "test_util.hpp"

using namespace alexnet;
using alexnet::test::kBin;
using alexnet::test::relative_max_error;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
using alexnet::test::load_error;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return std::string(ALEXNET_FIXTURES) + "/" + name; }

double logits_error(const std::string& weights, const std::string& arch, const std::string& input_key,
                    const std::string& logits_key) {
    LoadedModel m = load_model(weights);
    CHECK(m.spec.arch == arch);
    const Weights io = read_safetensors(fixture("narrow_" + arch + "_io.safetensors"));
    const Tensor &x = io.at(input_key), &logits = io.at(logits_key);
    const int batch = int(x.shape[0]);
    InferenceNet net(m.spec, m.weights, batch, "fc8");
    std::vector<float> out(size_t(batch) * net.output_shape().size());
    REQUIRE(out.size() == size_t(logits.numel()));
    net.forward(x.floats(), out.data());
    return relative_max_error(out.data(), logits.floats(), out.size());
}


}  // namespace

TEST_CASE("a torchvision .pth state dict, zip or legacy stream, gives PyTorch's logits") {
    const double err = logits_error(fixture("narrow_alexnet-tv.pth"), "alexnet-tv", "input_224", "logits_224");
    MESSAGE(".pth vs PyTorch: relative max error " << err);
    CHECK(err < 1e-4);
    const double legacy = logits_error(fixture("narrow_alexnet-tv_legacy.pth"), "alexnet-tv", "input_224", "logits_224");
    MESSAGE("legacy .pth vs PyTorch: relative max error " << legacy);
    CHECK(legacy < 1e-4);
    const Weights w = read_pth(fixture("narrow_alexnet-tv.pth"));
    CHECK(w.contains("features.0.weight"));  // its own names; load_model maps them
    CHECK(w.at("classifier.6.weight").shape == std::vector<int64_t>{11, 24});
}

TEST_CASE("a .pth whose tensors are strided views (.t(), channels-last, an offset) gives PyTorch's logits") {
    // narrow_alexnet-tv_strided.pth: fc6 saved transposed (strides 1, 24), conv1 channels-last,
    // fc8's bias 3 floats into a larger storage; the contiguous file holds the same values.
    const double err = logits_error(fixture("narrow_alexnet-tv_strided.pth"), "alexnet-tv", "input_224", "logits_224");
    MESSAGE("strided .pth vs PyTorch: relative max error " << err);
    CHECK(err < 1e-4);
    const Weights strided = read_pth(fixture("narrow_alexnet-tv_strided.pth")), plain = read_pth(fixture("narrow_alexnet-tv.pth"));
    for (const char* name : {"classifier.1.weight", "features.0.weight", "classifier.6.bias"}) {
        CAPTURE(name);
        const Tensor &a = strided.at(name), &b = plain.at(name);
        REQUIRE(a.shape == b.shape);
        CHECK(std::equal(a.floats(), a.floats() + a.numel(), b.floats()));
    }
}

TEST_CASE("pickles that would run a command are refused, and nothing runs") {
    fs::remove("/tmp/alexnet-pwned");
    CHECK(load_error(fixture("evil_system.pth")) ==
          fixture("evil_system.pth") + ": data.pkl: 'posix.system' is not allowed: only a state dict's tensors are "
                                       "read from a .pth, and nothing in it is executed");
    CHECK(load_error(fixture("evil_exec.pth")) ==
          fixture("evil_exec.pth") + ": data.pkl: 'builtins.exec' is not allowed: only a state dict's tensors are "
                                     "read from a .pth, and nothing in it is executed");
    CHECK(!fs::exists("/tmp/alexnet-pwned"));
}

TEST_CASE("Caffe models give PyTorch's logits: current format alone, V1 weights with their prototxt") {
    double err = logits_error(fixture("narrow_caffenet.caffemodel"), "caffenet", "input", "logits");
    MESSAGE("caffenet .caffemodel vs PyTorch: relative max error " << err);
    CHECK(err < 1e-4);
    err = logits_error(fixture("narrow_alexnet.caffemodel"), "alexnet", "input", "logits");
    MESSAGE("alexnet V1 .caffemodel + prototxt vs PyTorch: relative max error " << err);
    CHECK(err < 1e-4);
    const LoadedModel m = load_model(fixture("narrow_alexnet.caffemodel"));
    CHECK(m.spec.find("conv2")->groups == 2);  // Caffe's grouped conv weights [out, in/2, 5, 5]
    CHECK(m.spec.find("norm1")->lrn.k == doctest::Approx(2.0));  // from the prototxt's lrn_param
    CHECK(m.spec.preprocessing.bgr);
    CHECK(m.spec.preprocessing.mean[0] == 104.f);

    // The V1 weights without their prototxt: the order (and LRN) cannot be known
    TempDir dir;
    fs::copy(fixture("narrow_alexnet.caffemodel"), dir.path / "m.caffemodel");
    CHECK(load_error((dir.path / "m.caffemodel").string()) ==
          (dir.path / "m.caffemodel").string() + ": layers: expected LRN layers (a Caffe AlexNet or CaffeNet), found none");
}

TEST_CASE("ONNX exports of AlexNet variants give PyTorch's logits; other graphs are refused by node") {
    double err = logits_error(fixture("narrow_caffenet.onnx"), "caffenet", "input", "logits");
    MESSAGE("caffenet .onnx vs PyTorch: relative max error " << err);
    CHECK(err < 1e-4);
    err = logits_error(fixture("narrow_alexnet-tv.onnx"), "alexnet-tv", "input_224", "logits_224");
    MESSAGE("alexnet-tv .onnx vs PyTorch: relative max error " << err);
    CHECK(err < 1e-4);
    const std::string odd = load_error(fixture("unsupported.onnx"));
    CHECK(odd.find("(BatchNormalization) is not part of an AlexNet; supported: Conv, Relu, LRN, MaxPool") !=
          std::string::npos);
    CHECK(odd.rfind(fixture("unsupported.onnx") + ": node '", 0) == 0);
}

TEST_CASE("alexnet-convert writes safetensors with full metadata that load in place") {
    TempDir dir;
    const std::string out = (dir.path / "caffenet.safetensors").string();
    const Run r = run(kBin + "/alexnet-convert -q " + fixture("narrow_caffenet.caffemodel") + " -o " + out);
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.lines().size() == 1);
    const Weights w = read_safetensors(out);
    CHECK(w.metadata.at("arch") == "caffenet");
    CHECK(w.metadata.at("channel_order") == "bgr");
    CHECK(std::stof(w.metadata.at("lrn_k")) == doctest::Approx(std::stof(read_safetensors(fixture("narrow_caffenet.safetensors")).metadata.at("lrn_k"))));
    CHECK(logits_error(out, "caffenet", "input", "logits") < 1e-4);
}
