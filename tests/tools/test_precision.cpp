// bf16 and int8 inference: the oneDNN network against its naive twin at the same precision plan,
// the quantization arithmetic by hand, I8 safetensors, the refusal where the CPU lacks support.
// The tools at these precisions (the shipped model's accuracy, memory, alexnet-quantize) are in
// test_precision_tools.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "cli_util.hpp"
#include "core/error.hpp"
#include "core/run_command.hpp"
#include "data/image.hpp"
#include "data/inputs.hpp"
#include "engine/fc_layout.hpp"
#include "engine/inference_net.hpp"
#include "engine/precision.hpp"
#include "engine/reference.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "metrics/agreement.hpp"
#include "metrics/topk.hpp"
#include "model/quantization.hpp"
#include "quantize/calibration.hpp"
#include "test_util.hpp"
#include "train/solver.hpp"

using namespace alexnet;
using test::random_vector;
using test::relative_max_error;
using test::TempDir;

namespace {

const std::string kData = ALEXNET_DATA_DIR;
const std::string kFashion = "/usr/share/datasets/fashion-mnist";

// `spec` with random weights quantized: s8 weights per channel, activation steps by `method`
// from `calibration` images.
Weights quantized_model(const ModelSpec& spec, unsigned seed, int calibration, const std::string& method = "minmax") {
    Weights w = random_weights(spec, seed, 0.1f);
    const auto input = random_vector(size_t(calibration) * spec.input.size(), seed + 11);
    const auto hists = collect_histograms(spec, w, input, calibration, calibration);
    std::vector<std::string> int8_names;
    Weights q = quantize_weights(spec, w, {}, int8_names);
    for (const auto& name : w.names())  // keep the float tensors alive beside their views
        if (!q.contains(name)) q.add(name, w.at(name).shape, std::vector<float>(w.at(name).floats(), w.at(name).floats() + w.at(name).numel()));
    q.metadata[kQuantizationKey] = to_json(activation_scales(hists, method));
    q.keep_alive(std::make_shared<Weights>(std::move(w)));
    return q;
}

// The oneDNN network at `precision` against the naive twin following the same plan, at `layer`.
double compare_planned(const ModelSpec& spec, Weights& w, int batch, const std::string& layer, Precision precision,
                       unsigned seed = 3) {
    const auto input = random_vector(size_t(batch) * spec.input.size(), seed);
    const int idx = spec.index_of(layer);
    const Quantization q = read_quantization("test", spec, w);
    const auto plan = plan_precision(spec, idx, w, q, precision, !cpu_has_vnni());
    const auto ref = reference::forward(spec, w, plan, input.data(), batch);
    InferenceNet net(spec, w, batch, layer, false, precision);
    std::vector<float> out(size_t(batch) * net.output_shape().size());
    net.forward(input.data(), out.data());
    REQUIRE(out.size() == ref[size_t(idx)].size());
    return relative_max_error(out.data(), ref[size_t(idx)].data(), out.size());
}

// `w` with every s8 tensor widened to integer-valued floats: how models were held before s8.
Weights widened(const Weights& w) {
    Weights out = w;
    for (const auto& name : w.names())
        if (const Tensor& t = w.at(name); t.is_s8()) out.add(name, t.shape, std::vector<float>(t.s8(), t.s8() + t.numel()));
    return out;
}

// The network's output at `layer` for `input`.
std::vector<float> outputs(const ModelSpec& spec, Weights& w, const std::vector<float>& input, int batch,
                           const std::string& layer, Precision precision, bool release = false) {
    InferenceNet net(spec, w, batch, layer, release, precision);
    std::vector<float> out(size_t(batch) * net.output_shape().size());
    net.forward(input.data(), out.data());
    return out;
}

}  // namespace

TEST_CASE("rounding helpers: bf16 ties to even, int8 saturates and rounds half to even") {
    CHECK(round_to_bf16(1.f) == 1.f);
    CHECK(round_to_bf16(1.f + 1.f / 256) == 1.f);              // a tie: down to the even 1.0
    CHECK(round_to_bf16(1.f + 3.f / 256) == 1.f + 4.f / 256);  // a tie: up to the even neighbour
    CHECK(round_to_bf16(1.f + 1.5f / 256) == 1.f + 2.f / 256);
    CHECK(saturate_round(2.5f, DType::u8) == 2.f);
    CHECK(saturate_round(3.5f, DType::u8) == 4.f);
    CHECK(saturate_round(-3.f, DType::u8) == 0.f);
    CHECK(saturate_round(300.f, DType::u8) == 255.f);
    CHECK(saturate_round(-200.f, DType::s8) == -128.f);
    CHECK(saturate_round(-2.5f, DType::s8) == -2.f);
}

TEST_CASE("int8_layer and int8_weights: s8 weights, halved with ties to even where the plan says so, bias in accumulator units") {
    LayerSpec l;
    l.name = "c";
    l.kind = LayerKind::fc;
    l.out_channels = 1;
    Weights w;
    std::vector<float> values;
    for (int v = -127; v <= 127; ++v) values.push_back(float(v));
    w.add("c.weight", {1, int64_t(values.size())}, values);
    w.add("c.weight_scale", {1}, {0.5f});
    w.add("c.bias", {1}, {3.f});
    LayerPlan plan;
    plan.int8_weights = true;
    plan.src_scale = 0.25f;
    plan.dst_scale = 2.f;
    const Int8Layer whole = int8_layer(l, w, plan);
    plan.halve_weights = true;
    const Int8Layer half = int8_layer(l, w, plan);
    // The same values held as s8 (as an I8 file gives them) or as integer-valued floats.
    std::vector<int8_t> as_s8(values.begin(), values.end());
    w.add_s8("c8.weight", {1, int64_t(values.size())}, as_s8);
    for (const std::string name : {"c.weight", "c8.weight"}) {
        CAPTURE(name);
        const int64_t n = int64_t(values.size());
        std::vector<int8_t> full(values.size()), halved(values.size()), tail(3);
        int8_weights(w.at(name), 0, n, false, full.data());
        int8_weights(w.at(name), 0, n, true, halved.data());
        int8_weights(w.at(name), 127 + 3, 3, true, tail.data());  // a slice
        for (size_t i = 0; i < values.size(); ++i) {
            CAPTURE(values[i]);
            CHECK(full[i] == int8_t(values[i]));
            CHECK(halved[i] == int8_t(std::nearbyint(values[i] / 2)));
        }
        CHECK(halved[size_t(127 + 3)] == 2);   // 1.5 -> 2
        CHECK(halved[size_t(127 + 5)] == 2);   // 2.5 -> 2
        CHECK(halved[size_t(127 - 3)] == -2);  // -1.5 -> -2
        CHECK(tail == std::vector<int8_t>{2, 2, 2});  // 1.5, 2, 2.5
    }
    CHECK(whole.bias[0] == 3.f / (0.25f * 0.5f));
    CHECK(whole.output_scale[0] == 0.25f * 0.5f / 2.f);
    CHECK(half.bias[0] == 3.f / (0.25f * 0.5f * 2.f));
}

TEST_CASE("per-channel weight quantization by hand") {
    const float w[] = {0.5f, -1.f, 0.25f, 0.f, 0.f, 0.f, 2.54f, 0.02f, -0.01f};
    int8_t q[9];
    float step[3];
    quantize_per_channel(w, 3, 3, q, step);
    CHECK(step[0] == doctest::Approx(1.f / 127));
    CHECK(q[0] == 64);  // 63.5 rounds to even
    CHECK(q[1] == -127);
    CHECK(q[2] == 32);  // 31.75
    CHECK(step[1] == 1.f);  // an all-zero channel
    CHECK(q[3] == 0);
    CHECK(step[2] == doctest::Approx(0.02f));
    CHECK(q[6] == 127);
    CHECK(q[7] == 1);
    CHECK(q[8] == 0);  // -0.5 rounds to even
}

TEST_CASE("calibration thresholds on a known histogram") {
    TensorHistogram h;
    h.nonnegative = true;
    std::vector<float> x;
    for (int i = 1; i <= 10000; ++i) x.push_back(float(i % 100) / 100.f);  // uniform on [0, 0.99]
    x.push_back(50.f);  // one outlier
    x.push_back(0.f);   // zeros are not counted
    h.add_max(x.data(), x.size());
    h.add_counts(x.data(), x.size());
    CHECK(h.max_abs == 50.f);
    CHECK(h.total() == 9900 + 1);
    CHECK(clip_threshold(h, "minmax") == 50.f);
    // 99.98% of 9901 values lie at or below 0.99: the first bin edge past 0.99 (bins 50/2048 wide);
    // 99.99% needs the outlier too
    CHECK(clip_threshold(h, "percentile-99.98") == doctest::Approx(41 * 50.f / 2048));
    CHECK(clip_threshold(h, "percentile-99.99") == 50.f);
    CHECK(clip_threshold(h, "percentile-100") == doctest::Approx(50.f));
    const float t = clip_threshold(h, "entropy");  // clips the outlier, keeps the bulk
    CHECK(t >= 0.99f);
    CHECK(t < 25.f);
    CHECK_THROWS_WITH_AS(clip_threshold(h, "median"), "calibration: method: expected minmax, percentile-P or entropy, found median",
                         Error);
}

TEST_CASE("bf16 and int8 are refused with one line on a CPU that lacks them, and built where it has them") {
    // Runs on every CPU (and under every ONEDNN_MAX_CPU_ISA cap of the suite): one branch or the other.
    const ModelSpec spec = make_preset("alexnet", {.num_classes = 7, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 24});
    Weights w = random_weights(spec, 4, 0.1f);
    const std::string where = "found " + cpu_isa_name() + " on this CPU (oneDNN's effective ISA), where " +
                              (precision_supported(Precision::int8) ? "fp32 and int8 run" : "fp32 runs");
    if (precision_supported(Precision::bf16))
        CHECK_NOTHROW(InferenceNet(spec, w, 1, "prob", false, Precision::bf16));
    else
        CHECK_THROWS_WITH_AS(InferenceNet(spec, w, 1, "prob", false, Precision::bf16),
                             ("--precision: bf16: expected a CPU with AVX512-BF16 (oneDNN ISA avx512_core_bf16 or newer), " + where).c_str(),
                             Error);
    Weights q = quantized_model(spec, 5, 4);
    if (precision_supported(Precision::int8))
        CHECK_NOTHROW(InferenceNet(spec, q, 1, "prob", false, Precision::int8));
    else
        CHECK_THROWS_WITH_AS(InferenceNet(spec, q, 1, "prob", false, Precision::int8),
                             ("--precision: int8: expected a CPU with AVX2 or newer, " + where).c_str(), Error);
    // The tools say it in one line and exit 2 (a value of --precision this CPU cannot run).
    const auto r = test::run(test::kBin + "/alexnet-eval " + kFashion + " -w " + kData +
                             "/alexnet-28-fmnist.safetensors --precision bf16 --limit 10 -q");
    if (precision_supported(Precision::bf16)) {
        CHECK(r.status == 0);
    } else {
        CHECK(r.status == 2);
        CHECK(r.err == "alexnet-eval: --precision: bf16: expected a CPU with AVX512-BF16 (oneDNN ISA avx512_core_bf16 or newer), " +
                           where + "\n");
        CHECK(r.out.empty());
    }
}

TEST_CASE("int8 network against its naive twin: odd shapes, groups, s8 and u8 inputs, every output layer [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    for (const std::string arch : {"alexnet", "caffenet", "alexnet-tv", "alexnet-28"}) {
        const ModelSpec spec =
            make_preset(arch, {.num_classes = 11, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 24});
        Weights w = quantized_model(spec, 5, 4);
        for (int batch : {1, 3})
            for (const auto& layer : spec.layers) {
                CAPTURE(arch);
                CAPTURE(batch);
                CAPTURE(layer.name);
                CHECK(compare_planned(spec, w, batch, layer.name, Precision::int8) < 2e-3);
            }
    }
}

TEST_CASE("int8 plan: u8 after ReLU, s8 network input, requantisation fused, fallbacks stated") {
    const ModelSpec spec = make_preset("alexnet", {.num_classes = 5, .conv_channels = {8, 8, 8, 8, 8}, .fc_width = 16});
    Weights w = quantized_model(spec, 2, 2);
    const Quantization q = read_quantization("test", spec, w);
    CHECK(describe(spec, plan_precision(spec, spec.index_of("prob"), w, q, Precision::int8, false)) ==
          "conv1 s8->f32 (s8 weights), norm1 f32, pool1 f32, conv2 u8->f32 (s8 weights), norm2 f32, pool2 f32, "
          "conv3 u8->u8 (s8 weights), conv4 u8->u8 (s8 weights), conv5 u8->u8 (s8 weights), pool5 u8, "
          "fc6 u8->u8 (s8 weights), fc7 u8->u8 (s8 weights), fc8 u8->f32 (s8 weights), prob f32");
    w.release("fc7.weight_scale");  // a layer left in float: its neighbours adapt
    CHECK(describe(spec, plan_precision(spec, spec.index_of("fc8"), w, q, Precision::int8, true)).find(
              "fc6 u8->f32 (s8 weights, 7-bit), fc7 f32->f32, fc8 u8->f32 (s8 weights, 7-bit) "
              "[fc7 stays float: no int8 weights in the model]") != std::string::npos);
    ModelSpec tanh_spec = spec;  // signed activations: convs read s8, fc layers stay float
    set_hidden_activation(tanh_spec, Activation::tanh);
    Weights wt = quantized_model(tanh_spec, 2, 2);
    const std::string d = describe(tanh_spec, plan_precision(tanh_spec, tanh_spec.index_of("fc8"), wt,
                                                             read_quantization("t", tanh_spec, wt), Precision::int8, false));
    CHECK(d.find("conv3 s8->f32 (s8 weights)") != std::string::npos);
    CHECK(d.find("fc6 f32->f32") != std::string::npos);
    CHECK(d.find("fc6 stays float: signed input (int8 fc layers read u8, after ReLU)") != std::string::npos);
}

TEST_CASE("int8 plans with float layers (a layer left float, signed tanh activations) run as their twins [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    const ModelSpec spec = make_preset("alexnet", {.num_classes = 5, .conv_channels = {8, 8, 8, 8, 8}, .fc_width = 16});
    Weights w = quantized_model(spec, 2, 2);
    w.add("fc7.weight", w.at("fc7.weight").shape, dequantized(spec.layers[size_t(spec.index_of("fc7"))], w));
    w.release("fc7.weight_scale");  // a layer left in float
    ModelSpec tanh_spec = spec;
    set_hidden_activation(tanh_spec, Activation::tanh);
    Weights wt = quantized_model(tanh_spec, 2, 2);
    for (const auto& layer : {"conv3", "pool5", "fc6", "fc8"}) {
        CAPTURE(layer);
        CHECK(compare_planned(tanh_spec, wt, 2, layer, Precision::int8) < 2e-3);
        CHECK(compare_planned(spec, w, 2, layer, Precision::int8) < 2e-3);
    }
    // The tanh network's fc layers hold s8 weights the plan keeps float: they run on q * step (on q
    // alone its logits were off by a factor of 1 / step), so its logits stay near fp32's.
    const auto input = random_vector(size_t(2) * tanh_spec.input.size(), 13);
    Weights real = wt;
    dequantize_weights(tanh_spec, real);
    const auto i8 = outputs(tanh_spec, wt, input, 2, "fc8", Precision::int8);
    const auto fp = outputs(tanh_spec, real, input, 2, "fc8", Precision::fp32);
    MESSAGE("tanh network, int8 (fc layers float) against fp32 at fc8: relative max error "
            << relative_max_error(i8.data(), fp.data(), fp.size()));
    CHECK(relative_max_error(i8.data(), fp.data(), fp.size()) < 0.1);
}

TEST_CASE("int8: large u8 inputs and weights of one sign (16-bit pair sums would saturate without VNNI) [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    ModelSpec m;
    m.arch = "test";
    m.input = {16, 3, 3};
    LayerSpec a = conv_layer("a", 4, 1, 1, 0, 1, Activation::relu), b = conv_layer("b", 2, 3, 1, 0);
    m.layers = {a, b};
    Weights w;
    w.add("a.weight", {4, 16, 1, 1}, std::vector<float>(64, 1.f));
    w.add("a.bias", {4}, std::vector<float>(4, 0.f));
    w.add("b.weight", {2, 4, 3, 3}, std::vector<float>(72, 0.5f));
    w.add("b.bias", {2}, {0.f, 1.f});
    std::vector<std::string> names;
    Weights q = quantize_weights(m, w, {}, names);
    Quantization scales;
    scales.activation_scale = {{"input", 1.f / 127}, {"a", 16.f / 255}, {"b", 1.f}};
    q.metadata[kQuantizationKey] = to_json(scales);
    // a = 16 everywhere: u8 255 (saturated when 7-bit weights make it 16 * 128/127); b sums 36
    // products 255 x 127 in pairs: 64770 per pair, beyond int16. b = 16 * 36 * 0.5 = 288 with 8-bit
    // weights; 7-bit weights store 0.5 as 64 steps of 1/127.
    std::vector<float> input(144, 1.f);
    InferenceNet net(m, q, 1, "b", false, Precision::int8);
    std::vector<float> out(2);
    net.forward(input.data(), out.data());
    const float expected = cpu_has_vnni() ? 288.f : 16.f * 36 * 64 / 127;
    CHECK(out[0] == doctest::Approx(expected).epsilon(1e-5));
    CHECK(out[1] == doctest::Approx(expected + 1).epsilon(1e-5));
}

// Every fc layout (engine/fc_layout.hpp; the timing picks one per CPU) in each precision.
void check_fc_layouts(Precision precision, double tolerance) {
    const ModelSpec spec = make_preset("alexnet-tv", {.num_classes = 6, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 40});
    Weights w = precision == Precision::int8 ? quantized_model(spec, 5, 9) : random_weights(spec, 4, 0.1f);
    for (const char* layout : {"preferred", "stored", "flat", "flat-stored"}) {
        CAPTURE(layout);
        setenv(kForceEnv, layout, 1);
        for (const char* layer : {"fc6", "fc7", "prob"}) {
            CAPTURE(layer);
            CHECK(compare_planned(spec, w, 9, layer, precision) < tolerance);
        }
        unsetenv(kForceEnv);
    }
}

TEST_CASE("int8 fc layers in every layout at batch 9 against their twin [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    check_fc_layouts(Precision::int8, 2e-3);
}

TEST_CASE("bf16 fc layers in every layout at batch 9 against their twin [needs bf16]") {
    if (!test::cpu_runs(Precision::bf16)) return;
    check_fc_layouts(Precision::bf16, 2e-2);
}

TEST_CASE("bf16: the network against its naive twin [needs bf16]") {
    if (!test::cpu_runs(Precision::bf16)) return;
    const ModelSpec spec = make_preset("alexnet", {.num_classes = 7, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 24});
    Weights w = random_weights(spec, 4, 0.1f);
    for (const auto& layer : spec.layers) {
        CAPTURE(layer.name);
        CHECK(compare_planned(spec, w, 3, layer.name, Precision::bf16) < 2e-2);
    }
}

TEST_CASE("a quantized model round-trips through safetensors as I8; bad int8 content is refused") {
    TempDir dir;
    const ModelSpec spec = make_preset("alexnet-28", {.num_classes = 3, .conv_channels = {4, 4, 4, 4, 4}, .fc_width = 8});
    Weights w = random_weights(spec, 3);
    std::vector<std::string> names;
    Weights q = quantize_weights(spec, w, {"fc8"}, names);
    CHECK(names.size() == 7);
    Weights extra;
    for (const auto& n : q.names())
        if (n.find(".weight_scale") != std::string::npos) extra.add_view(n, q.at(n));
    Quantization scales;
    scales.method = "minmax";
    scales.activation_scale = {{"input", 0.5f}, {"conv1", 0.25f}};
    extra.metadata[kQuantizationKey] = to_json(scales);
    const std::string path = dir / "q.safetensors";
    save_model(path, spec, q, {}, &extra);
    SafetensorsFile file(path);
    for (const auto& e : file.entries()) {
        CAPTURE(e.name);
        const bool i8 = std::find(names.begin(), names.end(), e.name) != names.end();
        CHECK(e.dtype == (i8 ? "I8" : "F32"));
    }
    const LoadedModel m = load_model(path);
    for (const auto& n : q.names()) {
        CAPTURE(n);
        REQUIRE(m.weights.contains(n));
        const Tensor &a = q.at(n), &b = m.weights.at(n);
        REQUIRE(a.is_s8() == b.is_s8());
        CHECK(std::memcmp(a.is_s8() ? static_cast<const void*>(a.s8()) : a.floats(),
                          b.is_s8() ? static_cast<const void*>(b.s8()) : b.floats(), a.bytes()) == 0);
    }
    const Quantization back = read_quantization(path, m.spec, m.weights);
    CHECK(back.method == "minmax");
    CHECK(back.activation_scale == scales.activation_scale);
    CHECK_THROWS_WITH_AS(back.scale_of("conv2"),
                         "__metadata__.quantization: activation_scales.conv2: expected the step of that tensor, found none", Error);

    Weights bad = m.weights;  // a weight that is not an integer
    const int8_t* conv2 = bad.at("conv2.weight").s8();
    std::vector<float> v(conv2, conv2 + bad.at("conv2.weight").numel());
    v[5] = 0.5f;
    bad.add("conv2.weight", bad.at("conv2.weight").shape, v);
    CHECK_THROWS_WITH_AS(read_quantization("m", m.spec, bad),
                         "m: conv2.weight: expected int8 values in [-127, 127] (the layer has a weight_scale), found 0.500000 at flat index 5",
                         Error);
    // The check runs a chunk at a time: values past the first chunk, at the range's edges, and NaN.
    std::vector<float> big(10000, -127.f);
    big[9000] = 127.f;
    CHECK(first_non_int8(big.data(), int64_t(big.size())) == -1);
    for (const float odd : {128.f, -127.5f, 3.25f, std::nanf(""), 1e30f, -std::numeric_limits<float>::infinity()}) {
        CAPTURE(odd);
        big[9001] = odd;
        CHECK(first_non_int8(big.data(), int64_t(big.size())) == 9001);
    }
    CHECK_THROWS_WITH_AS(parse_quantization("m", "{\"activation_scales\": {\"input\": -1}}"),
                         "m: __metadata__.quantization.activation_scales.input: expected a positive step, found -1", Error);
    if (precision_supported(Precision::int8))
        CHECK_THROWS_WITH_AS(InferenceNet(spec, w, 1, "prob", false, Precision::int8),
                             "--precision int8: weights: expected a quantized model (made by alexnet-quantize), found float weights",
                             Error);
    else  // the CPU is checked first
        CHECK_THROWS_WITH_AS(InferenceNet(spec, w, 1, "prob", false, Precision::int8),
                             ("--precision: int8: expected a CPU with AVX2 or newer, found " + cpu_isa_name() +
                              " on this CPU (oneDNN's effective ISA), where fp32 runs").c_str(),
                             Error);
}

TEST_CASE("an int8 model's I8 weights stay s8 from the file to the engine: mapped views, no float copy, the same outputs [needs int8]") {
    if (!test::cpu_runs(Precision::int8)) return;
    TempDir dir;
    const ModelSpec spec = make_preset("alexnet-28", {.num_classes = 5, .conv_channels = {6, 10, 12, 12, 8}, .fc_width = 24});
    const std::string path = dir / "q8.safetensors";
    save_model(path, spec, quantized_model(spec, 7, 4));
    LoadedModel m = load_model(path);

    // Held as the file stores them: each conv/fc weight an s8 view into the mapping, nothing owned.
    size_t owned_bytes = 0, s8_bytes = 0, weight_values = 0;
    for (const auto& n : m.weights.names()) {
        const Tensor& t = m.weights.at(n);
        CAPTURE(n);
        CHECK(t.mapped());
        owned_bytes += t.owns() ? t.bytes() : 0;
        s8_bytes += t.is_s8() ? t.bytes() : 0;
    }
    for (const auto& l : spec.layers)
        if (l.has_params()) {
            CHECK(m.weights.at(l.name + ".weight").is_s8());
            weight_values += size_t(m.weights.at(l.name + ".weight").numel());
        }
    CHECK(owned_bytes == 0);
    CHECK(s8_bytes == weight_values);
    // A reader of the other type is refused, naming the tensor.
    CHECK_THROWS_WITH_AS(m.weights.at("fc6.weight").floats(),
                         "weights: fc6.weight: expected float32 values, found s8 values (a quantized model's weights; "
                         "dequantize_weights() turns them into floats)", Error);
    CHECK_THROWS_WITH_AS(m.weights.at("fc6.bias").s8(),
                         "weights: fc6.bias: expected s8 values (a quantized model's weights), found float32 values", Error);

    // The engine on the s8 views (released as the tools do) gives exactly what it gives on the same
    // values widened to floats, and its naive twin's figures. Batch 3: below 8 the fc layouts are
    // fixed, so both nets run the same kernels.
    const int batch = 3;
    const auto input = random_vector(size_t(batch) * spec.input.size(), 21);
    const Weights as_floats = widened(m.weights);
    for (const std::string layer : {"conv1", "pool2", "conv5", "fc6", "fc8", "prob"}) {
        CAPTURE(layer);
        LoadedModel fresh = load_model(path);
        Weights old_way = as_floats;
        CHECK(outputs(spec, fresh.weights, input, batch, layer, Precision::int8, true) ==
              outputs(spec, old_way, input, batch, layer, Precision::int8));
        CHECK(fresh.weights.names().size() < m.weights.names().size());  // the net released what it copied
        CHECK(compare_planned(spec, m.weights, batch, layer, Precision::int8) < 2e-3);
    }

    // --precision fp32 on the int8 model: the dequantized floats are q * step, as from widened floats.
    LoadedModel dq = load_model(path);
    Weights dq_old = as_floats;
    dequantize_weights(dq.spec, dq.weights);
    dequantize_weights(spec, dq_old);
    for (const auto& l : spec.layers)
        if (l.has_params()) {
            CAPTURE(l.name);
            const Tensor &a = dq.weights.at(l.name + ".weight"), &b = dq_old.at(l.name + ".weight");
            REQUIRE_FALSE(a.is_s8());
            CHECK(std::memcmp(a.floats(), b.floats(), a.bytes()) == 0);
            const float step0 = m.weights.at(l.name + ".weight_scale").floats()[0];
            CHECK(a.floats()[1] == float(m.weights.at(l.name + ".weight").s8()[1]) * step0);
            CHECK_FALSE(dq.weights.contains(l.name + ".weight_scale"));
        }
    CHECK(outputs(spec, dq.weights, input, batch, "prob", Precision::fp32, true) ==
          outputs(spec, dq_old, input, batch, "prob", Precision::fp32));

    // Written back from the s8 views: I8 again, with its steps and activation scales, byte for byte.
    const std::string again = dir / "again.safetensors";
    save_model(again, m.spec, m.weights);
    const SafetensorsFile a(path), b(again);
    REQUIRE(a.entries().size() == b.entries().size());
    for (const auto& e : a.entries()) {
        CAPTURE(e.name);
        auto it = std::find_if(b.entries().begin(), b.entries().end(), [&](const auto& f) { return f.name == e.name; });
        REQUIRE(it != b.entries().end());
        CHECK(it->dtype == e.dtype);
        REQUIRE(it->end - it->begin == e.end - e.begin);
        CHECK(std::memcmp(a.data(e), b.data(*it), e.end - e.begin) == 0);
    }
    CHECK(b.metadata().at(kQuantizationKey) == a.metadata().at(kQuantizationKey));

    // -128 fits in I8 but not in the symmetric range: refused where the model is checked.
    Weights bad = m.weights;
    const Tensor& conv2 = bad.at("conv2.weight");
    std::vector<int8_t> v(conv2.s8(), conv2.s8() + conv2.numel());
    v[7] = -128;
    bad.add_s8("conv2.weight", conv2.shape, v);
    const std::string bad_path = dir / "bad.safetensors";
    save_model(bad_path, m.spec, bad);
    LoadedModel b8 = load_model(bad_path);
    CHECK_THROWS_WITH_AS(InferenceNet(b8.spec, b8.weights, 1, "prob", true, Precision::int8),
                         "weights: conv2.weight: expected int8 values in [-127, 127] (the layer has a weight_scale), "
                         "found -128.000000 at flat index 7", Error);
    std::vector<int8_t> big(10000, 127);
    big[9000] = -127;
    CHECK(first_non_int8(big.data(), int64_t(big.size())) == -1);
    big[9001] = -128;
    CHECK(first_non_int8(big.data(), int64_t(big.size())) == 9001);

    // s8 weights without their steps (not a quantized model) are refused by a float engine.
    Weights unscaled = m.weights;
    unscaled.metadata.erase(kQuantizationKey);
    for (const auto& l : spec.layers) unscaled.release(l.name + ".weight_scale");
    CHECK_THROWS_WITH_AS(InferenceNet(spec, unscaled, 1, "prob", false, Precision::fp32),
                         "weights: conv1.weight: expected float32 values, found s8 values (a quantized model's weights; "
                         "dequantize_weights() turns them into floats)", Error);
}
