// safetensors reading/writing, validation messages, architecture detection from weights.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "test_util.hpp"

using namespace alexnet;
using test::TempDir;
using test::load_error;
namespace fs = std::filesystem;

namespace {

void write_raw(const std::string& path, const std::string& header, const std::vector<uint8_t>& data,
               uint64_t declared_len = 0) {
    std::ofstream out(path, std::ios::binary);
    uint64_t len = declared_len ? declared_len : header.size();
    for (int i = 0; i < 8; ++i) out.put(char(len >> (8 * i)));
    out << header;
    out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}


ModelSpec narrow(const std::string& arch, int classes = 7) {
    return make_preset(arch, {.num_classes = classes, .conv_channels = {8, 12, 10, 10, 6}, .fc_width = 24});
}

}  // namespace

TEST_CASE("save then load: same tensors, arch, groups, preprocessing and labels") {
    TempDir dir;
    for (const std::string arch : {"alexnet", "caffenet", "alexnet-tv", "alexnet-28"}) {
        CAPTURE(arch);
        const ModelSpec spec = narrow(arch, 3);
        const Weights w = random_weights(spec, 42);
        save_model(dir.file("m.safetensors"), spec, w, {"cat", "dog", "bird \"quoted\""});
        const LoadedModel m = load_model(dir.file("m.safetensors"));
        CHECK(m.spec.arch == arch);
        CHECK(m.spec.num_classes() == 3);
        CHECK(m.spec.find("conv2")->groups == spec.find("conv2")->groups);
        CHECK(m.spec.find("fc6")->out_channels == 24);
        CHECK(m.spec.preprocessing.bgr == spec.preprocessing.bgr);
        CHECK(m.spec.preprocessing.crop == spec.preprocessing.crop);
        CHECK(m.spec.preprocessing.mean[2] == spec.preprocessing.mean[2]);
        CHECK(m.spec.preprocessing.std[1] == spec.preprocessing.std[1]);
        CHECK(m.labels == std::vector<std::string>{"cat", "dog", "bird \"quoted\""});
        for (const auto& p : param_specs(spec)) {
            const Tensor &a = w.at(p.name), &b = m.weights.at(p.name);
            REQUIRE(a.shape == b.shape);
            CHECK(std::memcmp(a.floats(), b.floats(), a.numel() * 4) == 0);
        }
    }
    // no temporary files left behind
    int files = 0;
    for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
    CHECK(files == 1);
}

TEST_CASE("the architecture is detected from the weights") {
    TempDir dir;
    Weights w = random_weights(narrow("alexnet-tv", 5), 1);
    w.metadata.clear();  // no metadata: 8 != 64 channels, so it needs the arch override... use full width
    const ModelSpec tv = make_preset("alexnet-tv", {.num_classes = 5, .conv_channels = {64, 8, 8, 8, 8}, .fc_width = 16});
    Weights tvw = random_weights(tv, 2);
    tvw.metadata.clear();
    // torchvision names, as a converted state dict would carry them
    Weights renamed;
    const char* tv_names[] = {"features.0", "features.3", "features.6", "features.8", "features.10",
                              "classifier.1", "classifier.4", "classifier.6"};
    const char* canon[] = {"conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"};
    for (int i = 0; i < 8; ++i)
        for (const char* suffix : {".weight", ".bias"}) {
            const Tensor& t = tvw.at(std::string(canon[i]) + suffix);
            renamed.add_view(std::string(tv_names[i]) + suffix, t);
        }
    write_safetensors(dir.file("tv.safetensors"), renamed);
    const LoadedModel m = load_model(dir.file("tv.safetensors"));
    CHECK(m.spec.arch == "alexnet-tv");
    CHECK(m.spec.num_classes() == 5);
    CHECK(m.spec.preprocessing.bgr == false);
    CHECK(m.spec.preprocessing.crop == 224);
    CHECK(m.labels.empty());

    // Caffe-family weights with ungrouped conv2 (the caffenet seed's description): groups = 1
    ModelSpec ungrouped = make_preset("caffenet", {.num_classes = 4, .conv_channels = {96, 8, 8, 8, 8}, .fc_width = 16});
    for (auto& l : ungrouped.layers) l.groups = 1;
    Weights uw = random_weights(ungrouped, 3);
    uw.metadata.clear();
    write_safetensors(dir.file("c.safetensors"), uw);
    const LoadedModel c = load_model(dir.file("c.safetensors"), "caffenet");
    CHECK(c.spec.arch == "caffenet");
    CHECK(c.spec.find("conv2")->groups == 1);
    CHECK(c.spec.layers[1].name == "pool1");
    CHECK(c.spec.preprocessing.bgr == true);
    CHECK(c.spec.preprocessing.crop == 227);
    const LoadedModel a = load_model(dir.file("c.safetensors"));
    CHECK(a.spec.arch == "alexnet");
}

TEST_CASE("a copy of Weights owns its floats; take() hands owned floats over") {
    Weights copy;
    {
        Weights w;
        w.add("a", {3}, {1.f, 2.f, 3.f});
        copy = w;
        Weights again(w);
        CHECK(again.at("a").floats() != w.at("a").floats());
    }  // the original is gone: the copy must not point into it (ASan catches a read after free)
    CHECK(copy.at("a").owns());
    CHECK(copy.at("a").floats()[2] == 3.f);
    const std::vector<float> taken = copy.take("a");
    CHECK(taken == std::vector<float>{1.f, 2.f, 3.f});
    CHECK_FALSE(copy.contains("a"));
    CHECK(copy.take("missing").empty());
}

TEST_CASE("F16 and BF16 tensors are converted exactly") {
    CHECK(half_to_float(0x3c00) == 1.0f);
    CHECK(half_to_float(0xc000) == -2.0f);
    CHECK(half_to_float(0x7bff) == 65504.0f);
    CHECK(half_to_float(0x0001) == doctest::Approx(5.960464477539063e-08).epsilon(1e-12));
    CHECK(half_to_float(0x3555) == doctest::Approx(0.333251953125).epsilon(1e-12));
    CHECK(bfloat16_to_float(0x3f80) == 1.0f);
    CHECK(bfloat16_to_float(0xc0a0) == -5.0f);
    TempDir dir;
    write_raw(dir.file("h.safetensors"),
              R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1,1],"data_offsets":[4,6]}})",
              {0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f});
    const Weights w = read_safetensors(dir.file("h.safetensors"));
    CHECK(w.at("a").floats()[0] == 1.0f);
    CHECK(w.at("a").floats()[1] == -2.0f);
    CHECK(w.at("b").floats()[0] == 1.0f);
    CHECK(w.at("b").shape == std::vector<int64_t>{1, 1});
}

TEST_CASE("damaged files fail with the field named") {
    TempDir dir;
    const std::string f = dir.file("bad.safetensors");
    const std::string ok_entry = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

    write_raw(f, ok_entry, std::vector<uint8_t>(8), 1ull << 40);
    CHECK(load_error(f) == f + ": weights format: expected safetensors, a PyTorch .pth (zip), a Caffe "
                               ".caffemodel or an ONNX model, found other content");
    write_raw(f, ok_entry, std::vector<uint8_t>(8), 200);
    CHECK_THROWS_WITH_AS(read_safetensors(f), (f + ": header length: expected at most 62 bytes, found 200").c_str(), Error);
    write_raw(f, "{\"x\": [1,", {});
    CHECK(std::string(load_error(f)).rfind(f + ": header: expected JSON, found invalid JSON", 0) == 0);
    write_raw(f, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::vector<uint8_t>(4));
    CHECK_THROWS_WITH_AS(read_safetensors(f), (f + ": tensor x: data_offsets: expected inside the 4-byte data section, found [0,8]").c_str(), Error);
    write_raw(f, R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::vector<uint8_t>(8));
    CHECK_THROWS_WITH_AS(read_safetensors(f), (f + ": tensor x: byte size: expected 12 bytes for F32 [3], found 8 bytes").c_str(), Error);
    write_raw(f, R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::vector<uint8_t>(8));
    CHECK_THROWS_WITH_AS(read_safetensors(f), (f + ": tensor x: dtype: expected F32, F16, BF16 or I8, found I64").c_str(), Error);
    write_raw(f, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::vector<uint8_t>(8));
    CHECK_THROWS_WITH_AS(read_safetensors(f), (f + ": tensor y: data_offsets: expected no overlap with other tensors, found overlap with x").c_str(), Error);
    write_raw(f, "", {}, 0);
    std::ofstream(f, std::ios::trunc) << "abc";
    CHECK_THROWS_WITH_AS(read_safetensors(f), (f + ": safetensors header: expected at least 8 bytes, found 3 bytes").c_str(), Error);
    CHECK(load_error(dir.file("missing")) == dir.file("missing") + ": cannot open weights file: No such file or directory");
    // pickle.dump({"a": [1, 2]}, f, protocol=4): a pickle, but not what torch.save writes
    const std::string plain = dir.file("plain.pth");
    const char pickled[] = "\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01" "a\x94]\x94(K\x01K\x02" "es.";
    std::ofstream(plain, std::ios::binary) << std::string(pickled, sizeof pickled - 1);
    CHECK(load_error(plain) == plain + ": weights format: expected safetensors, a PyTorch .pth (zip), a Caffe .caffemodel or an "
                                       "ONNX model, found a Python pickle without a state dict (torch.save(model.state_dict(), "
                                       "FILE) writes one)");
    std::ofstream(f, std::ios::trunc) << "PK\x03\x04rest";
    CHECK(load_error(f) == f + ": zip: expected an end-of-central-directory record, found none (not a zip "
                               "archive, or truncated)");
}

TEST_CASE("a missing or misshapen tensor is named before anything runs") {
    TempDir dir;
    const ModelSpec spec = narrow("alexnet");
    Weights w = random_weights(spec, 5);
    Weights partial;
    partial.metadata = w.metadata;
    for (const auto& name : w.names())
        if (name != "fc7.bias") partial.add_view(name, w.at(name));
    write_safetensors(dir.file("p.safetensors"), partial);
    const std::string p = dir.file("p.safetensors");
    CHECK(load_error(p) == p + ": fc7.bias: expected a tensor of shape [24] for alexnet, found none");

    std::vector<float> wrong(24 * 11);
    partial.add("fc7.bias", {24}, std::vector<float>(24));
    partial.add("fc7.weight", {24, 11}, wrong);
    write_safetensors(p, partial);
    CHECK(load_error(p) == p + ": fc7.weight: expected shape [24, 24] for alexnet, found [24, 11]");

    partial.add("fc7.weight", {24, 24}, std::vector<float>(24 * 24));
    partial.metadata["labels"] = R"(["a","b"])";
    write_safetensors(p, partial);
    CHECK(load_error(p) == p + ": __metadata__.labels: expected a JSON array of 7 strings, found 2 entries");
    partial.metadata.erase("labels");
    partial.metadata["channel_order"] = "rbg";
    write_safetensors(p, partial);
    CHECK(load_error(p) == p + ": __metadata__.channel_order: expected bgr or rgb, found 'rbg'");
}
