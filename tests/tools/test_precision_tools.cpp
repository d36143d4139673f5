// bf16 and int8 as users run them: full-size alexnet's int8 memory, the shipped model's int8 and
// bf16 versions against fp32 on Fashion-MNIST, --compare-precision, real photos through random
// full-size weights, alexnet-quantize end to end, and the pointer from --precision int8 on a float
// model. The engine-level checks (networks against their naive twins, I8 files) are in
// test_precision.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "cli_util.hpp"
#include "core/error.hpp"
#include "core/run_command.hpp"
#include "data/image.hpp"
#include "data/inputs.hpp"
#include "engine/inference_net.hpp"
#include "engine/precision.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "metrics/agreement.hpp"
#include "metrics/topk.hpp"
#include "model/quantization.hpp"
#include "quantize/calibration.hpp"
#include "test_util.hpp"
#include "train/solver.hpp"

using namespace alexnet;
using test::TempDir;

namespace {

const std::string kData = ALEXNET_DATA_DIR;
const std::string kFashion = "/usr/share/datasets/fashion-mnist";

}  // namespace

TEST_CASE("full-size alexnet in int8: alexnet-classify's peak memory is about the s8 weights, not 4x [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    // The fixed part (program, libraries, decoding, threads) measured on the shipped int8 model:
    // its weights are 0.4 MB. Full-size alexnet's s8 weights are 58 MiB; held as floats on the way
    // they took 4 bytes each, twice over (about 530 MiB at the peak).
    TempDir dir;
    const ModelSpec spec = make_preset("alexnet");
    const Weights w = random_weights(spec, 1);
    std::vector<std::string> int8_names;
    Weights q = quantize_weights(spec, w, {}, int8_names);
    Quantization steps;  // any positive steps: the figure is the memory, not the logits
    steps.activation_scale["input"] = 0.5f;
    for (const auto& l : spec.layers) steps.activation_scale[l.name] = 0.05f;
    q.metadata[kQuantizationKey] = to_json(steps);
    const std::string model = dir / "alexnet-int8.safetensors";
    save_model(model, spec, q);
    double s8_mb = 0;
    for (const auto& name : int8_names) s8_mb += double(q.at(name).bytes()) / (1 << 20);
    const std::string photo = std::string(ALEXNET_FIXTURES) + "/photos/chelsea.jpg";
    const std::string classify = test::kBin + "/alexnet-classify";
    const CommandRun base = run_measured({classify, "-q", "-w", kData + "/alexnet-28-fmnist-int8.safetensors", photo});
    const CommandRun full = run_measured({classify, "-q", "-w", model, photo});
    REQUIRE(WIFEXITED(base.status));
    REQUIRE(WEXITSTATUS(base.status) == 0);
    REQUIRE(WIFEXITED(full.status));
    REQUIRE(WEXITSTATUS(full.status) == 0);
    MESSAGE("peak RSS: full-size alexnet int8 " << full.peak_rss_mb << " MiB, the shipped int8 model "
                                                 << base.peak_rss_mb << " MiB, s8 weights " << s8_mb << " MiB");
    CHECK(s8_mb > 55);
    CHECK(full.peak_rss_mb - base.peak_rss_mb < 1.5 * s8_mb);
}

TEST_CASE("the shipped model in int8 (data/alexnet-28-fmnist-int8.safetensors) against fp32 on the Fashion-MNIST test set [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    const auto r = test::run(test::kBin + "/alexnet-eval " + kFashion + " -w " + kData +
                             "/alexnet-28-fmnist-int8.safetensors --reference " + kData +
                             "/alexnet-28-fmnist.safetensors --compare-precision -q");
    REQUIRE(r.status == 0);
    const auto lines = r.lines();
    REQUIRE(lines.size() == 2);
    const auto& c = lines[0];
    CHECK(c["compare_precision"] == true);
    CHECK(c["precision"] == "int8");
    CHECK(c["images"] == 10000);
    CHECK(c["top1_agreement"].get<double>() >= 0.99);
    CHECK(std::fabs(c["top1_accuracy_delta"].get<double>()) <= 0.003);
    CHECK(c["reference_top1_accuracy"].get<double>() == doctest::Approx(0.9272));  // PyTorch's figure for the model
    CHECK(lines[1]["summary"] == true);
    CHECK(lines[1]["precision"] == "int8");
    CHECK(lines[1]["top1_accuracy"] == c["top1_accuracy"]);
    MESSAGE("int8 vs fp32: agreement " << c["top1_agreement"] << ", accuracy " << c["top1_accuracy"] << " vs "
                                       << c["reference_top1_accuracy"] << ", max logit diff " << c["max_logit_diff"]);
}

TEST_CASE("the shipped model in bf16 against fp32 on the Fashion-MNIST test set [needs bf16]") {
    if (!test::cpu_runs(Precision::bf16)) return;
    const auto r = test::run(test::kBin + "/alexnet-eval " + kFashion + " -w " + kData +
                             "/alexnet-28-fmnist.safetensors --precision bf16 --compare-precision -q");
    REQUIRE(r.status == 0);
    const auto c = r.lines().at(0);
    CHECK(c["precision"] == "bf16");
    CHECK(c["top1_agreement"].get<double>() >= 0.995);
    CHECK(std::fabs(c["top1_accuracy_delta"].get<double>()) <= 0.003);
}

TEST_CASE("alexnet-eval --compare-precision on an int8 model needs the fp32 one") {
    const auto r = test::run(test::kBin + "/alexnet-eval " + kFashion + " -w " + kData +
                             "/alexnet-28-fmnist-int8.safetensors --compare-precision --limit 10");
    CHECK(r.status == 2);
    if (precision_supported(Precision::int8))
        CHECK(r.err.find("--compare-precision: " + kData +
                         "/alexnet-28-fmnist-int8.safetensors is an int8 model, which holds no fp32 weights: give --reference FLOAT_MODEL") !=
              std::string::npos);
    else  // the model's own precision is refused first
        CHECK(r.err == "alexnet-eval: --precision: int8: expected a CPU with AVX2 or newer, found " + cpu_isa_name() +
                           " on this CPU (oneDNN's effective ISA), where fp32 runs\n");
}

TEST_CASE("full-size alexnet, He-initialised random weights, 8 real photos: int8 keeps fp32's top-1 on at least 7 [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    // Random weights must make the top-1 class depend on the image, else the test only measures
    // ties. N(0, 0.01) weights shrink the signal layer by layer (nearly flat logits); He
    // initialisation keeps its scale, but a random ReLU network maps every image to nearly the same
    // direction, so the image-independent mean of fc7's output times each fc8 row's sum decides the
    // class (the same few classes win every photo, by margins of 0.5% of the logits' spread). With
    // each fc8 row centred to sum zero that common part cancels: the photos get different classes
    // with margins of 5-40% of the spread.
    const ModelSpec spec = make_preset("alexnet");
    const ParamLayout layout = param_layout(spec);
    std::vector<float> params(size_t(layout.total));
    initialise(spec, layout, params.data(), "kaiming", 13);
    const int fc8 = layout.index_of("fc8.weight");
    const int64_t fc8_in = layout.numel(size_t(fc8)) / spec.num_classes();
    for (int c = 0; c < spec.num_classes(); ++c) {
        float* row = params.data() + layout.offset[size_t(fc8)] + c * fc8_in;
        double sum = 0;
        for (int64_t k = 0; k < fc8_in; ++k) sum += row[k];
        for (int64_t k = 0; k < fc8_in; ++k) row[k] -= float(sum / double(fc8_in));
    }
    Weights w;
    for (size_t i = 0; i < layout.tensors.size(); ++i)
        w.add_view(layout.tensors[i].name, layout.tensors[i].shape, params.data() + layout.offset[i]);
    const std::vector<std::string> photos = list_images(std::string(ALEXNET_FIXTURES) + "/photos").images;
    REQUIRE(photos.size() == 8);
    const size_t image = size_t(spec.input.size());
    std::vector<float> input(photos.size() * image);
    for (size_t i = 0; i < photos.size(); ++i)
        preprocess(read_image(photos[i]), spec.preprocessing, CropMode::center, input.data() + i * image);
    // Calibrated (minmax) on four of them: astronaut, camera, chelsea, coffee, the first in path order.
    const auto hists = collect_histograms(spec, w, input, 4, 4);
    std::vector<std::string> int8_names;
    Weights q = quantize_weights(spec, w, {}, int8_names);
    q.metadata[kQuantizationKey] = to_json(activation_scales(hists, "minmax"));
    const int n = int(photos.size()), classes = spec.num_classes();
    std::vector<float> fp(size_t(n) * classes), i8(fp.size());
    InferenceNet(spec, w, n, "fc8").forward(input.data(), fp.data());
    InferenceNet(spec, q, n, "fc8", false, Precision::int8).forward(input.data(), i8.data());
    Agreement a;
    std::set<int> fp32_classes;
    for (int i = 0; i < n; ++i) {
        a.add(i8.data() + size_t(i) * classes, fp.data() + size_t(i) * classes, classes);
        fp32_classes.insert(top_classes(fp.data() + size_t(i) * classes, classes, 1)[0]);
    }
    double spread = 0;  // the fp32 logits' range, for scale
    for (float v : fp) spread = std::max(spread, double(std::fabs(v)));
    MESSAGE("int8 vs fp32 on 8 photos: " << a.same_top1 << " of 8 same top-1 (" << fp32_classes.size()
                                         << " different fp32 classes), max logit diff " << a.max_logit_diff
                                         << ", mean " << a.mean_logit_diff() << " (largest |logit| " << spread << ")");
    CHECK(fp32_classes.size() >= 5);  // the class depends on the photo
    CHECK(a.same_top1 >= 7);
    CHECK(a.max_logit_diff < 0.1 * spread);
}

TEST_CASE("alexnet-quantize end to end: a line per method, the best kept, a model every tool runs in int8 [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    TempDir dir;
    const std::string out = dir / "q.safetensors";
    const auto r = test::run(test::kBin + "/alexnet-quantize -w " + kData + "/alexnet-28-fmnist.safetensors --calibrate " +
                             kFashion + " --images 64 --check-images 200 -o " + out + " -q");
    REQUIRE(r.status == 0);
    const auto lines = r.lines();
    REQUIRE(lines.size() == calibration_methods().size() + 1);
    double best = 0;
    for (size_t i = 0; i < calibration_methods().size(); ++i) {
        CHECK(lines[i]["method"] == calibration_methods()[i]);
        CHECK(lines[i]["images"] == 200);
        best = std::max(best, lines[i]["top1_agreement"].get<double>());
    }
    const auto& s = lines.back();
    CHECK(s["summary"] == true);
    CHECK(s["calibration_images"] == 64);
    CHECK(s["held_out"] == true);
    CHECK(s["int8_layers"] == 8);
    CHECK(s["top1_agreement"].get<double>() == best);
    const LoadedModel m = load_model(out);
    CHECK(m.labels.size() == 10);  // class names travel
    CHECK(read_quantization(out, m.spec, m.weights).method == s["method"].get<std::string>());

    // classify runs it in int8 unasked, says so, and agrees with fp32 on the demo images
    const auto q = test::run(test::kBin + "/alexnet-classify -w " + out + " -k 1 " + kData + "/demo");
    const auto f = test::run(test::kBin + "/alexnet-classify -w " + kData + "/alexnet-28-fmnist.safetensors -k 1 -q " + kData + "/demo");
    REQUIRE(q.status == 0);
    REQUIRE(f.status == 0);
    CHECK(q.err.find("alexnet-classify: int8: conv1 s8->f32 (s8 weights") != std::string::npos);
    const auto ql = q.lines(), fl = f.lines();
    REQUIRE(ql.size() == 10);  // data/demo: one image per class
    REQUIRE(fl.size() == 10);
    int same = 0;
    for (size_t i = 0; i < ql.size(); ++i) same += ql[i]["top"][0]["class"] == fl[i]["top"][0]["class"];
    CHECK(same >= 9);  // all but one of the ten
    // ...and in fp32 on its dequantized weights when asked
    const auto d = test::run(test::kBin + "/alexnet-classify -w " + out + " --precision fp32 -k 1 " + kData + "/demo");
    CHECK(d.status == 0);
    CHECK(d.err.find(out + ": an int8 model run in fp32 on its dequantized weights") != std::string::npos);
}

TEST_CASE("--precision int8 on a float model points to alexnet-quantize") {
    const auto r = test::run(test::kBin + "/alexnet-classify --precision int8 -w " + kData + "/alexnet-28-fmnist.safetensors " +
                             kData + "/demo");
    if (precision_supported(Precision::int8)) {
        CHECK(r.status == 2);
        CHECK(r.err == "alexnet-classify: --precision int8: expected a quantized model (alexnet-quantize -w " + kData +
                           "/alexnet-28-fmnist.safetensors --calibrate IMAGES -o MODEL-int8.safetensors), found float weights in " +
                           kData + "/alexnet-28-fmnist.safetensors\n");
    } else {
        CHECK(r.status == 2);
        CHECK(r.err == "alexnet-classify: --precision: int8: expected a CPU with AVX2 or newer, found " + cpu_isa_name() +
                           " on this CPU (oneDNN's effective ISA), where fp32 runs\n");
    }
    CHECK(r.out.empty());
}
