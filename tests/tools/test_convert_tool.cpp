// alexnet-convert as a process: one JSON line per conversion, refusals in one line each with
// their exit codes and nothing written, and alexnet-embed --convert pointing to it.
#include <doctest/doctest.h>

#include <filesystem>

#include "cli_util.hpp"
#include "formats/model_file.hpp"
#include "test_util.hpp"

using namespace alexnet;
using alexnet::test::kBin;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return std::string(ALEXNET_FIXTURES) + "/" + name; }
const std::string kConvert = kBin + "/alexnet-convert ";

}  // namespace

TEST_CASE("alexnet-convert writes ONNX, safetensors and .pth, saying so in one JSON line") {
    TempDir dir;
    const std::string onnx = (dir.path / "caffenet.onnx").string();
    Run r = run(kConvert + fixture("narrow_caffenet.caffemodel") + " -o " + onnx);
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    REQUIRE(r.lines().size() == 1);
    CHECK(r.lines()[0] == nlohmann::json{{"input", fixture("narrow_caffenet.caffemodel")}, {"output", onnx},
                                         {"format", "onnx"}, {"arch", "caffenet"}, {"num_classes", 11},
                                         {"names", "ours"}});
    CHECK(load_model(onnx).spec.arch == "caffenet");

    const std::string pth = (dir.path / "tv.pth").string();
    r = run(kConvert + fixture("narrow_alexnet-tv.onnx") + " --names torchvision -o " + pth);
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.lines()[0]["format"] == "pth");
    CHECK(r.lines()[0]["torchvision_widths"] == false);  // narrow: torchvision's own class would not load it
    CHECK(load_model(pth).spec.arch == "alexnet-tv");
}

TEST_CASE("alexnet-convert refuses in one line what it cannot write, and writes nothing") {
    TempDir dir;
    const std::string out = (dir.path / "m").string();
    Run r = run(kConvert + fixture("narrow_alexnet.safetensors") + " -o " + out + ".bin");
    CHECK(r.status == 2);
    CHECK(r.err == "alexnet-convert: --output: expected a file ending in .safetensors, .onnx or .pth (.pth with "
                   "--names torchvision), found '" + out + ".bin'\n");
    r = run(kConvert + fixture("narrow_alexnet.safetensors") + " --names torchvision -o " + out + ".pth");
    CHECK(r.status == 2);
    CHECK(r.err == "alexnet-convert: --names torchvision: alexnet layer conv1 (conv 11x11 stride 4 pad 0 + relu) is "
                   "not in torchvision's AlexNet, which has there features.0: conv 11x11 stride 4 pad 2 + relu (only "
                   "alexnet-tv models take torchvision's names)\n");
    const std::string int8 = std::string(ALEXNET_DATA_DIR) + "/alexnet-28-fmnist-int8.safetensors";
    r = run(kConvert + int8 + " -o " + out + ".onnx");
    CHECK(r.status == 1);
    CHECK(r.err == "alexnet-convert: " + int8 + ": int8 models cannot be exported yet: convert the float model it "
                   "was made from\n");
    r = run(kConvert + fixture("narrow_alexnet.prototxt") + " -o " + out + ".onnx");  // the readers' own errors
    CHECK(r.status == 1);
    CHECK(r.err.find("alexnet-convert: " + fixture("narrow_alexnet.prototxt") + ": weights format: expected") == 0);
    CHECK(r.out.empty());
    CHECK(fs::is_empty(dir.path));
}

TEST_CASE("alexnet-embed --convert points to alexnet-convert") {
    const Run r = run(kBin + "/alexnet-embed -q -w " + fixture("narrow_caffenet.safetensors") + " --convert /tmp/x.safetensors");
    CHECK(r.status == 2);
    CHECK(r.err == "alexnet-embed: --convert moved to alexnet-convert: alexnet-convert IN -o OUT\n");
}
