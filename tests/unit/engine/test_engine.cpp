// The oneDNN network against the naive reference layers, on odd shapes and batch sizes.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.hpp"
#include "engine/fc_layout.hpp"
#include "engine/inference_net.hpp"
#include "engine/reference.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "test_util.hpp"

using namespace alexnet;
using test::random_vector;
using test::relative_max_error;

namespace {

// Runs `spec` through oneDNN and the reference up to `layer`; returns the relative max error.
double compare(const ModelSpec& spec, int batch, const std::string& layer, unsigned seed = 1) {
    Weights w = random_weights(spec, seed, 0.1f);
    const auto input = random_vector(size_t(batch) * spec.input.size(), seed + 7);
    const auto ref = reference::forward(spec, w, input.data(), batch);
    const int idx = spec.index_of(layer);
    InferenceNet net(spec, w, batch, layer);
    CHECK(net.output_shape() == infer_shapes(spec)[idx]);
    std::vector<float> out(size_t(batch) * net.output_shape().size());
    net.forward(input.data(), out.data());
    REQUIRE(out.size() == ref[idx].size());
    return relative_max_error(out.data(), ref[idx].data(), out.size());
}

ModelSpec single(Shape input, LayerSpec layer) {
    ModelSpec m;
    m.arch = "test";
    m.input = input;
    layer.name = "x";
    m.layers = {layer};
    return m;
}

}  // namespace

TEST_CASE("conv: odd shapes, groups, strides, every activation") {
    for (Activation act : {Activation::none, Activation::relu, Activation::tanh, Activation::sigmoid}) {
        CAPTURE(to_string(act));
        CHECK(compare(single({6, 13, 11}, conv_layer("x", 4, 3, 2, 1, 2, act)), 3, "x") < 1e-5);
        CHECK(compare(single({3, 23, 19}, conv_layer("x", 5, 5, 4, 2, 1, act)), 1, "x") < 1e-5);
        CHECK(compare(single({9, 7, 9}, conv_layer("x", 6, 3, 1, 1, 3, act)), 2, "x") < 1e-5);
    }
}

TEST_CASE("lrn across channels with Caffe's and the paper's constants") {
    LayerSpec l;
    l.kind = LayerKind::lrn;
    CHECK(compare(single({7, 5, 3}, l), 3, "x") < 1e-5);
    l.lrn = {5, 1e-1f, 0.75f, 2.f};  // paper-style k=2, large alpha so the term matters
    CHECK(compare(single({9, 4, 6}, l), 2, "x") < 1e-5);
    l.lrn = {3, 0.5f, 0.5f, 1.f};
    CHECK(compare(single({4, 3, 3}, l), 1, "x") < 1e-5);
}

TEST_CASE("lrn within a map (cuda-convnet's rnorm): hand-computed values, then odd shapes") {
    // one 2x2 map, size 3: every pixel's window holds the whole map; alpha/size^2 = 1, so
    // out = a / (1 + 1 + 4 + 9 + 16)^1
    LayerSpec l = lrn_layer("x", LrnParams{3, 9.f, 1.f, 1.f, true});
    const std::vector<float> in{1, 2, 3, 4};
    std::vector<float> out(4);
    reference::lrn_forward(out.data(), in.data(), 1, {1, 2, 2}, l.lrn);
    for (int i = 0; i < 4; ++i) CHECK(out[size_t(i)] == doctest::Approx(in[size_t(i)] / 31.f));
    // a 1x3 map, size 3: the window of the first pixel is clipped to two pixels, the divisor stays 9
    l.lrn = {3, 9.f, 0.5f, 2.f, true};
    const std::vector<float> row{1, 2, 3};
    std::vector<float> row_out(3);
    reference::lrn_forward(row_out.data(), row.data(), 1, {1, 1, 3}, l.lrn);
    CHECK(row_out[0] == doctest::Approx(1 / std::sqrt(2.0 + 1 + 4)));
    CHECK(row_out[1] == doctest::Approx(2 / std::sqrt(2.0 + 1 + 4 + 9)));
    CHECK(compare(single({1, 2, 2}, lrn_layer("x", LrnParams{3, 9.f, 1.f, 1.f, true})), 1, "x") < 1e-5);
    CHECK(compare(single({7, 9, 5}, lrn_layer("x", LrnParams{3, 5e-5f, 0.75f, 1.f, true})), 3, "x") < 1e-5);
    CHECK(compare(single({4, 6, 7}, lrn_layer("x", LrnParams{3, 4.f, 0.75f, 1.f, true})), 2, "x") < 1e-5);
    CHECK(compare(single({3, 8, 8}, lrn_layer("x", LrnParams{5, 2.f, 0.5f, 2.f, true})), 1, "x") < 1e-5);
}

TEST_CASE("average pool 3/2: hand-computed clipped windows, then rounding up and down") {
    // 4x4 map 1..16, rounding up: 2x2 windows, the last row and column clipped to the image
    std::vector<float> in(16), out(4);
    for (int i = 0; i < 16; ++i) in[size_t(i)] = float(i + 1);
    LayerSpec l = avg_pool_layer("x", true);
    reference::avg_pool_forward(out.data(), in.data(), 1, {1, 4, 4}, l);
    CHECK(out == std::vector<float>{6.f, 7.5f, 12.f, 13.5f});
    for (bool ceil_mode : {true, false}) {
        l.ceil_mode = ceil_mode;
        CHECK(compare(single({5, 14, 13}, l), 3, "x") < 1e-6);
        CHECK(compare(single({2, 8, 10}, l), 1, "x") < 1e-6);
        CHECK(compare(single({1, 4, 4}, l), 1, "x") < 1e-6);
    }
}

TEST_CASE("max pool 3/2 rounding up (Caffe) and down (PyTorch)") {
    LayerSpec l;
    l.kind = LayerKind::max_pool;
    l.kernel = 3;
    l.stride = 2;
    for (bool ceil_mode : {true, false}) {
        l.ceil_mode = ceil_mode;
        CHECK(compare(single({5, 14, 13}, l), 3, "x") < 1e-6);
        CHECK(compare(single({2, 8, 10}, l), 1, "x") < 1e-6);
    }
}

TEST_CASE("adaptive average pool: uneven, even and identity windows") {
    LayerSpec l;
    l.kind = LayerKind::adaptive_avg_pool;
    l.out_h = 3;
    l.out_w = 2;
    CHECK(compare(single({4, 7, 5}, l), 2, "x") < 1e-6);   // uneven, overlapping windows
    CHECK(compare(single({3, 12, 8}, l), 3, "x") < 1e-6);  // even: a plain avg pool
    CHECK(compare(single({3, 3, 2}, l), 1, "x") < 1e-6);   // identity
}

TEST_CASE("fc from a spatial input and from a vector, then softmax") {
    ModelSpec m;
    m.arch = "test";
    m.input = {5, 3, 2};
    LayerSpec a, b, p;
    a.name = "a", a.kind = LayerKind::fc, a.out_channels = 17, a.activation = Activation::relu;
    b.name = "b", b.kind = LayerKind::fc, b.out_channels = 7;
    p.name = "p", p.kind = LayerKind::softmax;
    m.layers = {a, b, p};
    CHECK(compare(m, 3, "a") < 1e-5);
    CHECK(compare(m, 3, "b") < 1e-5);
    CHECK(compare(m, 5, "p") < 1e-5);
}

TEST_CASE("narrow presets end to end, every output layer, batch 1 and 3") {
    for (const std::string arch : {"alexnet", "caffenet", "alexnet-tv", "alexnet-28"}) {
        const ModelSpec spec =
            make_preset(arch, {.num_classes = 11, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 24});
        for (int batch : {1, 3}) {
            for (const auto& layer : spec.layers) {
                CAPTURE(arch);
                CAPTURE(batch);
                CAPTURE(layer.name);
                CHECK(compare(spec, batch, layer.name) < 1e-5);
            }
        }
    }
}

TEST_CASE("convnet-18pct (cuda-convnet's layers-18pct) end to end, 32x32 colour and 28x28 grey") {
    for (int channels : {3, 1}) {
        PresetOptions o;
        o.num_classes = 10;
        o.input_channels = channels;
        o.input_size = channels == 1 ? 28 : 0;
        const ModelSpec spec = make_preset("convnet-18pct", o);
        CHECK(infer_shapes(spec)[spec.index_of("pool3")] == Shape{64, channels == 1 ? 3 : 4, channels == 1 ? 3 : 4});
        for (const auto& layer : spec.layers) {
            CAPTURE(channels);
            CAPTURE(layer.name);
            CHECK(compare(spec, 2, layer.name) < 1e-5);
        }
    }
}

TEST_CASE("alexnet-tv at 256x256 pools 7x7 to 6x6 like PyTorch") {
    const ModelSpec spec = make_preset(
        "alexnet-tv", {.num_classes = 5, .conv_channels = {8, 8, 8, 8, 8}, .fc_width = 16, .input_size = 256});
    CHECK(compare(spec, 2, "avgpool") < 1e-6);
    CHECK(compare(spec, 2, "prob") < 1e-5);
}

TEST_CASE("a large fc weight is reordered in slices of output rows, with the same result") {
    ModelSpec m;
    m.arch = "test";
    m.input = {256, 6, 6};  // fc6's input; 1088 x 9216 floats = 40 MB, sliced into 8 MB pieces
    LayerSpec a;
    a.name = "a", a.kind = LayerKind::fc, a.out_channels = 1088, a.activation = Activation::relu;
    m.layers = {a};
    CHECK(compare(m, 2, "a") < 1e-5);
    m.input = {9216, 1, 1};  // the same as a plain matrix (fc7-like layout)
    CHECK(compare(m, 3, "a") < 1e-5);
}

TEST_CASE("non-finite weights are refused while the network is built, naming the tensor") {
    const ModelSpec spec = make_preset("alexnet-28", {.num_classes = 3, .conv_channels = {4, 4, 4, 4, 4}, .fc_width = 8});
    Weights w = random_weights(spec, 3);
    std::vector<float> bad(w.at("conv3.weight").floats(), w.at("conv3.weight").floats() + w.at("conv3.weight").numel());
    bad[7] = std::nanf("");
    w.add("conv3.weight", w.at("conv3.weight").shape, bad);
    CHECK_THROWS_WITH_AS(InferenceNet(spec, w, 1), "weights: conv3.weight: expected finite values, found nan at flat index 7",
                         Error);
}

// Sets ALEXNET_FC_LAYOUT for a scope (engine/fc_layout.hpp).
struct ForcedFcLayout {
    explicit ForcedFcLayout(const char* layout) { setenv(kForceEnv, layout, 1); }
    ~ForcedFcLayout() { unsetenv(kForceEnv); }
};

TEST_CASE("every fc layout (preferred, stored, flat, flat-stored) computes the reference's result at batch 9") {
    // Which one runs is timed on the CPU at hand, so each is forced here in turn.
    const ModelSpec tv = make_preset("alexnet-tv", {.num_classes = 6, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 40});
    const ModelSpec fm = make_preset("alexnet-28", {.num_classes = 5, .conv_channels = {4, 4, 4, 4, 4}, .fc_width = 16});
    for (const char* layout : {"preferred", "stored", "flat", "flat-stored"}) {
        CAPTURE(layout);
        const ForcedFcLayout forced(layout);
        for (const ModelSpec* spec : {&tv, &fm})
            for (const char* layer : {"fc6", "fc7", "fc8", "prob"}) {
                CAPTURE(spec->arch);
                CAPTURE(layer);
                CHECK(compare(*spec, 9, layer) < 1e-5);
            }
        // A one-layer net whose fc reads the caller's input directly (calibration builds these).
        LayerSpec fc;
        fc.kind = LayerKind::fc, fc.out_channels = 13, fc.activation = Activation::relu;
        CHECK(compare(single({5, 3, 2}, fc), 9, "x") < 1e-5);
        Weights w = random_weights(fm, 1, 0.1f);
        const InferenceNet net(fm, w, 9, "fc8");
        CHECK(net.kernels().find(std::string("fc6 ")) != std::string::npos);
        CHECK(net.kernels().find(std::string("[") + layout + " layout; forced by ALEXNET_FC_LAYOUT]") != std::string::npos);
    }
    // Left to itself at batch 9, it times the candidates of a layer with a million weights or more
    // and says so (f32: the stored layout first); smaller layers follow the rule.
    Weights w = random_weights(fm, 1, 0.1f);
    CHECK(InferenceNet(fm, w, 9, "fc8").kernels().find("layout; rule: a small layer") != std::string::npos);
    LayerSpec big;
    big.kind = LayerKind::fc, big.out_channels = 128, big.activation = Activation::relu;
    const ModelSpec one = single({256, 6, 6}, big);  // 9216 x 128 weights, as alexnet's fc6 per 128 rows
    Weights wb = random_weights(one, 2, 0.1f);
    CHECK(InferenceNet(one, wb, 9, "x").kernels().find("layout; timed at batch 9: stored ") != std::string::npos);
    CHECK(compare(one, 9, "x") < 1e-5);
}

TEST_CASE("the fc layout kept: a candidate must be clearly faster than the one before it") {
    using L = FcLayout;
    // fc6 of alexnet-tv at batch 32 on an AVX-512 Zen 5 (stored gemm is 4x slower; preferred and
    // flat tie) and with ONEDNN_MAX_CPU_ISA=AVX2 (all within 20%): the same choice whatever the noise.
    CHECK(pick_fc_layout({{L::stored, 35.5}, {L::preferred, 8.3}, {L::flat, 8.6}, {L::flat_stored, 37.0}}) == 1);
    CHECK(pick_fc_layout({{L::stored, 35.5}, {L::preferred, 8.6}, {L::flat, 8.3}, {L::flat_stored, 37.0}}) == 1);
    CHECK(pick_fc_layout({{L::stored, 16.6}, {L::preferred, 19.3}, {L::flat, 17.9}, {L::flat_stored, 15.8}}) == 0);
    CHECK(pick_fc_layout({{L::stored, 10.0}, {L::preferred, 7.0}}) == 0);  // 1.43x: not enough
    CHECK(pick_fc_layout({{L::stored, 10.0}, {L::preferred, 6.0}, {L::flat, 3.9}}) == 2);
    CHECK(pick_fc_layout({{L::preferred, 1.0}}) == 0);
}

TEST_CASE("fc weights the caller lets go are taken over, not copied, at any batch") {
    // In the stored layout (which the timing picks wherever it is as fast) the floats are used as
    // they are.
    const ForcedFcLayout forced("stored");
    const ModelSpec spec = make_preset("alexnet-28", {.num_classes = 5, .conv_channels = {4, 4, 4, 4, 4}, .fc_width = 16});
    const Weights w = random_weights(spec, 11, 0.1f);
    const int batch = 8;
    const auto input = random_vector(size_t(batch) * spec.input.size(), 6);
    const auto ref = reference::forward(spec, w, input.data(), batch);
    const float* fc6 = w.at("fc6.weight").floats();
    Weights kept = w, given = w;
    InferenceNet copied(spec, kept, batch, "prob", /*release_weights=*/false);
    InferenceNet taking(spec, given, batch, "prob", /*release_weights=*/true);
    CHECK(copied.weights_in_place() == 0);
    CHECK(kept.contains("fc6.weight"));  // the caller's copy is left alone
    CHECK(taking.weights_in_place() >= 6);
    CHECK_FALSE(given.contains("fc6.weight"));
    CHECK(w.at("fc6.weight").floats() == fc6);
    for (InferenceNet* net : {&copied, &taking}) {
        std::vector<float> out(size_t(batch) * net->output_shape().size());
        net->forward(input.data(), out.data());
        CHECK(relative_max_error(out.data(), ref.back().data(), out.size()) < 1e-5);
    }
}

TEST_CASE("fc weights in a mapped file are used in place, outlive the loaded model, and are checked") {
    const ModelSpec spec = make_preset("alexnet-28", {.num_classes = 5, .conv_channels = {4, 4, 4, 4, 4}, .fc_width = 16});
    const Weights w = random_weights(spec, 9, 0.1f);
    test::TempDir dir;
    const std::string path = dir / "model.safetensors";
    save_model(path, spec, w);
    const auto input = random_vector(spec.input.size(), 4);
    const auto ref = reference::forward(spec, w, input.data(), 1);
    std::unique_ptr<InferenceNet> net;
    {
        LoadedModel m = load_model(path);
        CHECK(m.weights.at("fc6.weight").mapped());
        net = std::make_unique<InferenceNet>(m.spec, m.weights, 1, "fc8", /*release_weights=*/true);
    }  // the model (and its Weights) is gone; the net keeps the mapping
    // oneDNN's batch-1 inner product takes plain (O, I) weights on AVX2 and AVX-512 alike: fc6-fc8's
    // weights and biases need no copy.
    CHECK(net->weights_in_place() >= 6);
    std::vector<float> out(net->output_shape().size());
    net->forward(input.data(), out.data());
    CHECK(relative_max_error(out.data(), ref[size_t(spec.index_of("fc8"))].data(), out.size()) < 1e-5);

    Weights bad = w;  // a NaN in a weight used in place is refused like any other
    std::vector<float> fc7(w.at("fc7.weight").floats(), w.at("fc7.weight").floats() + w.at("fc7.weight").numel());
    fc7[5] = std::nanf("");
    bad.add("fc7.weight", w.at("fc7.weight").shape, fc7);
    save_model(path, spec, bad);
    LoadedModel m = load_model(path);
    CHECK_THROWS_WITH_AS(InferenceNet(m.spec, m.weights, 1, "fc8", true),
                         "weights: fc7.weight: expected finite values, found nan at flat index 5", Error);
}

TEST_CASE("networks sharing a workspace compute what each computes alone, whatever order they are built in") {
    // Two sizes of network: the second needs more activation memory, so the shared buffers grow
    // (and move) after the first is built; both must follow them.
    const ModelSpec small = make_preset("alexnet-28", {.num_classes = 11, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 24});
    const ModelSpec large = make_preset("alexnet", {.num_classes = 11, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 24});
    const int batch = 3;
    auto alone = [&](const ModelSpec& spec, const std::vector<float>& input) {
        Weights w = random_weights(spec, 5, 0.1f);
        InferenceNet net(spec, w, batch, "prob");
        std::vector<float> out(size_t(batch) * net.output_shape().size());
        net.forward(input.data(), out.data());
        return out;
    };
    const auto in_small = random_vector(size_t(batch) * small.input.size(), 11);
    const auto in_large = random_vector(size_t(batch) * large.input.size(), 12);
    const auto want_small = alone(small, in_small), want_large = alone(large, in_large);
    NetWorkspace workspace;
    Weights ws = random_weights(small, 5, 0.1f), wl = random_weights(large, 5, 0.1f);
    InferenceNet a(small, ws, batch, "prob", false, Precision::fp32, &workspace);
    const size_t after_small = workspace.bytes();
    InferenceNet b(large, wl, batch, "prob", false, Precision::fp32, &workspace);
    CHECK(workspace.bytes() > after_small);
    std::vector<float> out_small(want_small.size()), out_large(want_large.size());
    for (int round = 0; round < 2; ++round) {  // interleaved, as an ensemble runs its members
        a.forward(in_small.data(), out_small.data());
        b.forward(in_large.data(), out_large.data());
        CHECK(out_small == want_small);
        CHECK(out_large == want_large);
    }
}
