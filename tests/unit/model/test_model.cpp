#include <doctest/doctest.h>

#include "core/error.hpp"
#include "model/model.hpp"
#include "model/summary.hpp"

using namespace alexnet;

TEST_CASE("alexnet totals match the paper's network: 60,965,224 params, 724.4M MACs") {
    const ModelSummary s = summarize(make_preset("alexnet"));
    CHECK(s.total_params == 60965224);
    CHECK(s.total_macs == 724406816);
    CHECK(s.layers.front().output == Shape{96, 55, 55});
    CHECK(s.layers[2].name == "pool1");  // relu -> norm -> pool
    CHECK(s.layers[2].output == Shape{96, 27, 27});
}

TEST_CASE("caffenet pools before it normalises and has alexnet's totals") {
    const ModelSpec m = make_preset("caffenet");
    CHECK(m.layers[1].name == "pool1");
    CHECK(m.layers[2].name == "norm1");
    const ModelSummary s = summarize(m);
    CHECK(s.total_params == 60965224);
    CHECK(s.total_macs == 724406816);
}

TEST_CASE("alexnet-tv totals match torchvision: 61,100,840 params, 714.2M MACs") {
    const ModelSummary s = summarize(make_preset("alexnet-tv"));
    CHECK(s.total_params == 61100840);
    CHECK(s.total_macs == 714188480);
    const ModelSpec m = make_preset("alexnet-tv");
    CHECK(infer_shapes(m)[m.index_of("pool5")] == Shape{256, 6, 6});
}

TEST_CASE("class count changes only fc8") {
    const ModelSummary s = summarize(make_preset("alexnet", {.num_classes = 10}));
    CHECK(s.total_params == 60965224 - 4097000 + (4096 * 10 + 10));
}

TEST_CASE("caffe pooling rounds up, torchvision's rounds down") {
    LayerSpec pool;
    pool.kind = LayerKind::max_pool;
    pool.kernel = 3;
    pool.stride = 2;
    pool.ceil_mode = true;
    CHECK(output_shape(pool, {4, 14, 14}).h == 7);  // ceil((14-3)/2)+1
    pool.ceil_mode = false;
    CHECK(output_shape(pool, {4, 14, 14}).h == 6);
}

TEST_CASE("torchvision input sizes other than 224 keep pool to 6x6 through adaptive pooling") {
    const ModelSpec m = make_preset("alexnet-tv", {.input_size = 256});
    const auto shapes = infer_shapes(m);
    CHECK(shapes[m.index_of("pool5")] == Shape{256, 7, 7});
    CHECK(shapes[m.index_of("avgpool")] == Shape{256, 6, 6});
}

TEST_CASE("unknown names are refused with the known ones listed") {
    CHECK_THROWS_WITH_AS(make_preset("vgg16"),
                         "--arch: expected one of alexnet, caffenet, alexnet-tv, alexnet-28, alexnet-32, convnet-4, convnet-18pct, found 'vgg16'", Error);
    const ModelSpec m = make_preset("alexnet");
    CHECK_THROWS_WITH_AS(m.index_of("fc9"),
                         "layer: fc9: expected one of conv1, norm1, pool1, conv2, norm2, pool2, conv3, "
                         "conv4, conv5, pool5, fc6, fc7, fc8, prob, found 'fc9'",
                         Error);
}

TEST_CASE("an input too small for the network names the layer") {
    CHECK_THROWS_WITH_AS(make_preset("alexnet", {.input_size = 40}),
                         "alexnet layer pool5: output shape: expected non-empty, found 256x0x0 from "
                         "input 256x2x2",
                         Error);
}

TEST_CASE("summary JSON carries every layer") {
    const auto j = to_json(summarize(make_preset("alexnet")));
    CHECK(j["layers"].size() == 14);
    CHECK(j["layers"][0]["layer"] == "conv1");
    CHECK(j["layers"][0]["macs"] == 105415200);
    CHECK(j["total_params"] == 60965224);
}

TEST_CASE("alexnet-28: the small Fashion-MNIST preset keeps AlexNet's eight layers") {
    const ModelSpec m = make_preset("alexnet-28", {.num_classes = 10});
    const auto shapes = infer_shapes(m);
    CHECK(m.input == Shape{1, 28, 28});
    CHECK(shapes[m.index_of("conv1")] == Shape{32, 28, 28});
    CHECK(shapes[m.index_of("pool1")] == Shape{32, 14, 14});  // ceil((28-3)/2)+1
    CHECK(shapes[m.index_of("pool2")] == Shape{64, 7, 7});
    CHECK(shapes[m.index_of("pool5")] == Shape{64, 3, 3});
    const ModelSummary s = summarize(m);
    // conv 832 + 51264 + 55392 + 83040 + 55360, fc 295424 + 262656 + 5130
    CHECK(s.total_params == 809098);
    CHECK(m.preprocessing.channels == 1);
    CHECK(m.preprocessing.crop == 28);
    CHECK(m.preprocessing.resize == 28);
}

TEST_CASE("convnet-4: the paper's Figure 1 network, three 5x5 conv layers and a classifier") {
    const ModelSpec m = make_preset("convnet-4", {.num_classes = 10});
    const auto shapes = infer_shapes(m);
    CHECK(m.input == Shape{3, 32, 32});
    CHECK(shapes[m.index_of("pool1")] == Shape{32, 16, 16});  // ceil((32-3)/2)+1
    CHECK(shapes[m.index_of("pool3")] == Shape{64, 4, 4});
    CHECK(m.classifier() == "fc4");
    // conv 2432 + 25632 + 51264, fc 1024 * 10 + 10
    CHECK(summarize(m).total_params == 89578);
    const ModelSpec grey = make_preset("convnet-4", {.num_classes = 10, .input_size = 28, .input_channels = 1});
    CHECK(grey.input == Shape{1, 28, 28});
    CHECK(infer_shapes(grey)[grey.index_of("pool3")] == Shape{64, 3, 3});  // 28 -> 14 -> 7 -> 3
    CHECK(grey.preprocessing.channels == 1);
}
