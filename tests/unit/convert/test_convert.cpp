// alexnet-convert's writers: each preset exported to ONNX computes, under OpenCV's dnn module, the
// logits our engine computes, and reads back through our importer to the same weights (bit for
// bit), preprocessing and labels; safetensors, torchvision-named safetensors and .pth outputs read
// back to identical weights.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <opencv2/dnn.hpp>

#include "convert/convert.hpp"
#include "convert/onnx_export.hpp"
#include "convert/torchvision_names.hpp"
#include "engine/inference_net.hpp"
#include "formats/model_file.hpp"
#include "formats/pth.hpp"
#include "formats/safetensors.hpp"
#include "test_util.hpp"

using namespace alexnet;
using test::random_vector;
using test::relative_max_error;
using test::TempDir;

namespace {

constexpr int kBatch = 2;
constexpr unsigned kInputSeed = 2012;
constexpr double kOpenCvTolerance = 1e-5;  // max |a - b| / max |b| over the batch's logits

std::string fixture(const std::string& name) { return std::string(ALEXNET_FIXTURES) + "/" + name; }

// A model of `arch` with narrow widths and random weights, as a LoadedModel.
LoadedModel random_model(const std::string& arch) {
    PresetOptions options;
    options.num_classes = 5;
    if (arch.rfind("convnet", 0) == 0) {
        options.conv_channels = {6, 8, 10};
    } else {
        options.conv_channels = {8, 12, 10, 10, 6};
        options.fc_width = 24;
    }
    LoadedModel m;
    m.path = arch + " (random)";
    m.spec = make_preset(arch, options);
    m.weights = random_weights(m.spec, 7);
    m.labels = {"a", "b", "c", "d", "\xc3\xa9t\xc3\xa9"};
    return m;
}

// Our engine's output layer `layer` for `input` (kBatch images).
std::vector<float> engine_output(LoadedModel& m, const std::vector<float>& input, const std::string& layer) {
    InferenceNet net(m.spec, m.weights, kBatch, layer);
    std::vector<float> out(size_t(kBatch) * size_t(net.output_shape().size()));
    net.forward(input.data(), out.data());
    return out;
}

void check_same_weights(const ModelSpec& spec, const Weights& a, const Weights& b) {
    for (const auto& p : param_specs(spec)) {
        CAPTURE(p.name);
        REQUIRE(b.contains(p.name));
        const Tensor &x = a.at(p.name), &y = b.at(p.name);
        REQUIRE(x.shape == y.shape);
        CHECK(std::memcmp(x.floats(), y.floats(), x.bytes()) == 0);
    }
}

void check_same_preprocessing(const Preprocessing& a, const Preprocessing& b) {
    CHECK(a.resize == b.resize);
    CHECK(a.resize_shorter == b.resize_shorter);
    CHECK(a.crop == b.crop);
    CHECK(a.bgr == b.bgr);
    CHECK(a.pixel_scale == b.pixel_scale);
    CHECK(a.channels == b.channels);
    for (int c = 0; c < a.channels; ++c) {
        CHECK(a.mean[c] == b.mean[c]);
        CHECK(a.std[c] == b.std[c]);
    }
}

// Everything but the weights' widths: kinds, geometry, groups, LRN constants, activations.
void check_same_layers(const ModelSpec& a, const ModelSpec& b) {
    CHECK(a.arch == b.arch);
    CHECK(a.input == b.input);
    REQUIRE(a.layers.size() == b.layers.size());
    for (size_t i = 0; i < a.layers.size(); ++i) {
        const LayerSpec &x = a.layers[i], &y = b.layers[i];
        CAPTURE(x.name);
        CHECK(x.name == y.name);
        CHECK(x.kind == y.kind);
        CHECK(x.out_channels == y.out_channels);
        CHECK(x.groups == y.groups);
        CHECK(x.ceil_mode == y.ceil_mode);
        CHECK(x.activation == y.activation);
        CHECK(x.lrn.alpha == y.lrn.alpha);
        CHECK(x.lrn.beta == y.lrn.beta);
        CHECK(x.lrn.k == y.lrn.k);
    }
}

// Exports `m` to ONNX, runs the file with OpenCV's dnn module and compares its logits and
// probabilities with our engine's; then reads it back with load_model.
void check_onnx_export(LoadedModel m, const std::string& onnx_path) {
    write_onnx(onnx_path, m.spec, m.weights, m.labels);
    const Shape in = m.spec.input;
    const std::vector<float> input = random_vector(size_t(kBatch) * size_t(in.size()), kInputSeed);

    cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx_path);
    const int dims[] = {kBatch, in.c, in.h, in.w};
    net.setInput(cv::Mat(4, dims, CV_32F, const_cast<float*>(input.data())), "input");
    std::vector<cv::Mat> outs;
    net.forward(outs, std::vector<cv::String>{"logits", "prob"});
    REQUIRE(outs.size() == 2);
    const std::vector<float> logits = engine_output(m, input, m.spec.classifier());
    const std::vector<float> prob = engine_output(m, input, "prob");
    REQUIRE(outs[0].total() == logits.size());
    REQUIRE(outs[1].total() == prob.size());
    const double logit_err = relative_max_error(outs[0].ptr<float>(), logits.data(), logits.size());
    const double prob_err = relative_max_error(outs[1].ptr<float>(), prob.data(), prob.size());
    MESSAGE(m.spec.arch << " ONNX under OpenCV dnn vs our engine: logits relative max error " << logit_err
                        << ", prob " << prob_err);
    CHECK(logit_err < kOpenCvTolerance);
    CHECK(prob_err < kOpenCvTolerance);

    const LoadedModel back = load_model(onnx_path);
    check_same_layers(m.spec, back.spec);
    check_same_weights(m.spec, m.weights, back.weights);
    check_same_preprocessing(m.spec.preprocessing, back.spec.preprocessing);
    CHECK(back.labels == m.labels);
}

}  // namespace

TEST_CASE("every preset exported to ONNX runs under OpenCV dnn as in our engine, and reads back the same") {
    TempDir dir;
    for (const std::string name : {"narrow_alexnet", "narrow_caffenet", "narrow_alexnet-tv"}) {
        CAPTURE(name);
        check_onnx_export(load_model(fixture(name + ".safetensors")), (dir.path / (name + ".onnx")).string());
    }
    // The shipped Fashion-MNIST model: 1x28x28, conv1 5x5 stride 1, pooling that rounds up (14x14 where
    // rounding down would give 13x13), its own class names.
    LoadedModel fmnist = load_model(std::string(ALEXNET_DATA_DIR) + "/alexnet-28-fmnist.safetensors");
    REQUIRE(fmnist.labels.size() == 10);
    check_onnx_export(fmnist, (dir.path / "alexnet-28.onnx").string());
    for (const std::string arch : {"alexnet-32", "convnet-4"}) {
        CAPTURE(arch);
        check_onnx_export(random_model(arch), (dir.path / (arch + ".onnx")).string());
    }
    // caffenet without groups (conv2, conv4, conv5 see every input channel, as ungrouped re-trainings
    // of bvlc_reference_caffenet do): the importer takes the groups from the weights' shapes.
    LoadedModel ungrouped = random_model("caffenet");
    for (LayerSpec& l : ungrouped.spec.layers) l.groups = 1;
    ungrouped.weights = random_weights(ungrouped.spec, 8);
    check_onnx_export(ungrouped, (dir.path / "caffenet-ungrouped.onnx").string());
    CHECK(load_model((dir.path / "caffenet-ungrouped.onnx").string()).spec.find("conv2")->groups == 1);
}

TEST_CASE("what ONNX cannot express is refused naming the layer, and nothing is written") {
    TempDir dir;
    const std::string out = (dir.path / "m.onnx").string();
    LoadedModel m = random_model("alexnet-tv");
    PresetOptions options;
    options.num_classes = 5;
    options.conv_channels = {8, 12, 10, 10, 6};
    options.fc_width = 24;
    options.input_size = 256;  // pool5 7x7: adaptive pooling to 6x6 is no AveragePool
    m.spec = make_preset("alexnet-tv", options);
    m.weights = random_weights(m.spec, 7);
    CHECK_THROWS_WITH_AS(write_onnx(out, m.spec, m.weights, {}),
                         (out + ": alexnet-tv layer avgpool: expected an input whose sides are multiples of 6x6 "
                                "(adaptive average pooling as ONNX's AveragePool), found 6x7x7").c_str(),
                         Error);
    LoadedModel rnorm = load_model(fixture("narrow_convnet-18pct.safetensors"));
    CHECK_THROWS_WITH_AS(write_onnx(out, rnorm.spec, rnorm.weights, {}),
                         (out + ": convnet-18pct layer rnorm1: expected LRN across channels (ONNX's only kind), "
                                "found LRN within a map (cuda-convnet's rnorm)").c_str(),
                         Error);
    CHECK(std::filesystem::is_empty(dir.path));
}

TEST_CASE("safetensors, torchvision-named safetensors and .pth outputs read back to identical weights") {
    TempDir dir;
    const LoadedModel tv = load_model(fixture("narrow_alexnet-tv.safetensors"));
    for (const std::string file : {"ours.safetensors", "tv.safetensors", "tv.pth"}) {
        CAPTURE(file);
        const std::string out = (dir.path / file).string();
        const ExportFormat format = export_format(out, file.rfind("tv", 0) == 0 ? "torchvision" : "ours");
        convert_model(tv, out, format);
        const LoadedModel back = load_model(out);
        check_same_layers(tv.spec, back.spec);
        check_same_weights(tv.spec, tv.weights, back.weights);
        check_same_preprocessing(tv.spec.preprocessing, back.spec.preprocessing);
    }
    // The .pth holds torchvision's names in state-dict order, each tensor its own contiguous storage.
    const Weights raw = read_pth((dir.path / "tv.pth").string());
    const std::vector<std::string> expected{"classifier.1.bias", "classifier.1.weight", "classifier.4.bias",
                                            "classifier.4.weight", "classifier.6.bias",  "classifier.6.weight",
                                            "features.0.bias",    "features.0.weight",   "features.10.bias",
                                            "features.10.weight", "features.3.bias",     "features.3.weight",
                                            "features.6.bias",    "features.6.weight",   "features.8.bias",
                                            "features.8.weight"};
    CHECK(raw.names() == expected);
    CHECK(raw.at("features.0.weight").mapped());  // stored, aligned: read in place
    const Weights tv_safetensors = read_safetensors((dir.path / "tv.safetensors").string());
    CHECK(tv_safetensors.contains("classifier.6.weight"));
    CHECK(tv_safetensors.metadata.at("arch") == "alexnet-tv");
}

TEST_CASE("--names torchvision takes exactly torchvision's AlexNet layers, any widths and classes") {
    CHECK_NOTHROW(check_torchvision_layers(random_model("alexnet-tv").spec));
    CHECK(!has_torchvision_widths(random_model("alexnet-tv").spec));
    PresetOptions options;
    options.num_classes = 10;
    CHECK(has_torchvision_widths(make_preset("alexnet-tv", options)));
    CHECK_THROWS_WITH_AS(check_torchvision_layers(random_model("alexnet").spec),
                         "--names torchvision: alexnet layer conv1 (conv 11x11 stride 4 pad 0 + relu) is not in "
                         "torchvision's AlexNet, which has there features.0: conv 11x11 stride 4 pad 2 + relu (only "
                         "alexnet-tv models take torchvision's names)",
                         Error);
    // caffenet with alexnet-tv's conv1 would still differ at its LRN
    ModelSpec lrn = random_model("caffenet").spec;
    lrn.layers[0].pad = 2;
    lrn.layers[1].ceil_mode = false;
    CHECK_THROWS_WITH_AS(check_torchvision_layers(lrn),
                         "--names torchvision: caffenet layer norm1 (LRN across channels) is not in torchvision's "
                         "AlexNet, which has there features.3: conv 5x5 stride 1 pad 2 + relu (only alexnet-tv models "
                         "take torchvision's names)",
                         Error);
    // A list that ends early (before this check was guarded, building its message read one past
    // torchvision's layers on every call).
    ModelSpec shorter = random_model("alexnet-tv").spec;
    shorter.layers.pop_back();
    CHECK_THROWS_WITH_AS(check_torchvision_layers(shorter),
                         "--names torchvision: expected torchvision's AlexNet's layers, found alexnet-tv, which ends "
                         "before prob",
                         Error);
}

TEST_CASE("output formats by extension and --names; int8 models are refused for export") {
    CHECK(export_format("m.onnx", "ours") == ExportFormat::onnx);
    CHECK(export_format("m.safetensors", "torchvision") == ExportFormat::torchvision_safetensors);
    CHECK(export_format("m.pth", "torchvision") == ExportFormat::torchvision_pth);
    CHECK_THROWS_WITH_AS(export_format("m.pt", "ours"),
                         "--output: expected a file ending in .safetensors, .onnx or .pth (.pth with --names "
                         "torchvision), found 'm.pt'",
                         Error);
    TempDir dir;
    const std::string int8 = std::string(ALEXNET_DATA_DIR) + "/alexnet-28-fmnist-int8.safetensors";
    const LoadedModel q = load_model(int8);
    CHECK_THROWS_WITH_AS(convert_model(q, (dir.path / "q.onnx").string(), ExportFormat::onnx),
                         (int8 + ": int8 models cannot be exported yet: convert the float model it was made from").c_str(),
                         Error);
    CHECK(std::filesystem::is_empty(dir.path));
}
