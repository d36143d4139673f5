// The executables as a user runs them: JSON lines, exit codes, error lines, pipes.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "formats/safetensors.hpp"
#include "cli_util.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using alexnet::test::TempDir;
using alexnet::test::kBin;
using alexnet::test::run;
using alexnet::test::Run;

namespace {

const std::string kData = ALEXNET_DATA_DIR;
const std::string kWeights = kData + "/alexnet-28-fmnist.safetensors";

std::string classify(const std::string& args) { return kBin + "/alexnet-classify -q --weights " + kWeights + " " + args; }
std::string embed(const std::string& args) { return kBin + "/alexnet-embed -q --weights " + kWeights + " " + args; }


}  // namespace

TEST_CASE("classify: one line per image in sorted order, labels from the weights, probabilities sum below 1") {
    const Run r = run(classify("--top 3 " + kData + "/demo"));
    CHECK(r.status == 0);
    CHECK(r.err.empty());
    const auto lines = r.lines();
    REQUIRE(lines.size() == 10);
    CHECK(lines[0]["path"] == kData + "/demo/0000-ankle-boot.png");
    CHECK(lines[9]["path"] == kData + "/demo/0019-t-shirt-top.png");
    for (const auto& l : lines) {
        REQUIRE(l["top"].size() == 3);
        double sum = 0, last = 2;
        for (const auto& t : l["top"]) {
            CHECK(t["label"].is_string());
            CHECK(t["prob"].get<double>() <= last);
            last = t["prob"].get<double>();
            sum += last;
        }
        CHECK(sum <= 1.0 + 1e-6);
    }
    CHECK(lines[2]["top"][0]["label"] == "Trouser");
    CHECK(lines[2]["top"][0]["class"] == 1);
}

TEST_CASE("classify: ten-crop, stdin paths and --top larger than the class count") {
    const Run ten = run(classify("--crop ten " + kData + "/demo/0002-trouser.png"));
    CHECK(ten.status == 0);
    CHECK(ten.lines().at(0)["top"][0]["label"] == "Trouser");
    const Run from_stdin = run("ls " + kData + "/demo/*.png | " + classify("--top 20 -"));
    CHECK(from_stdin.status == 0);
    const auto lines = from_stdin.lines();
    REQUIRE(lines.size() == 10);
    CHECK(lines[0]["top"].size() == 10);  // capped at the 10 classes
}

TEST_CASE("classify: bad images give error lines, the run goes on, exit status 1") {
    TempDir dir;
    std::ofstream(dir / "text.jpg") << "not an image";
    std::ifstream src(kData + "/demo/0002-trouser.png", std::ios::binary);
    std::string png((std::istreambuf_iterator<char>(src)), {});
    std::ofstream(dir / "cut.png", std::ios::binary) << png.substr(0, png.size() / 2);
    const Run r = run(classify(dir / "missing.png " + dir / "text.jpg " + kData + "/demo/0002-trouser.png " +
                               dir / "cut.png"));
    CHECK(r.status == 1);
    const auto lines = r.lines();
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == json{{"path", dir / "missing.png"}, {"error", dir / "missing.png" + ": cannot open: No such file or directory"}});
    CHECK(lines[1]["error"] == dir / "text.jpg" + ": image: expected a JPEG, PNG, WebP, BMP or TIFF image, found an unknown format");
    CHECK(lines[2]["top"][0]["label"] == "Trouser");
    CHECK(lines[3]["error"] == dir / "cut.png" + ": PNG data: expected an IEND chunk, found a truncated file");
}

TEST_CASE("classify: usage errors exit 2; bad weights fail before any image, naming the tensor") {
    const Run usage = run(kBin + "/alexnet-classify --top zero x.png");
    CHECK(usage.status == 2);
    CHECK(usage.out.empty());
    CHECK(usage.err.find("--top") != std::string::npos);
    const Run no_inputs = run(classify(""));
    CHECK(no_inputs.status == 2);
    CHECK(no_inputs.err == "alexnet-classify: no inputs: give image files, directories, or - to read paths from stdin\n");
    const Run no_weights = run("env -u ALEXNET_WEIGHTS " + kBin + "/alexnet-classify x.png");
    CHECK(no_weights.status == 2);
    CHECK(no_weights.err.find("no weights given: pass --weights") != std::string::npos);

    TempDir dir;
    alexnet::Weights w = alexnet::read_safetensors(kWeights);
    alexnet::Weights broken;
    broken.metadata = w.metadata;
    for (const auto& name : w.names()) {
        const auto& t = w.at(name);
        if (name == "conv3.weight")
            broken.add(name, {96, 64, 3, 2}, std::vector<float>(96 * 64 * 6));
        else
            broken.add_view(name, t);
    }
    alexnet::write_safetensors(dir / "broken.safetensors", broken);
    const Run bad = run(kBin + "/alexnet-classify --weights " + dir / "broken.safetensors" + " " + kData + "/demo");
    CHECK(bad.status == 1);
    CHECK(bad.out.empty());
    CHECK(bad.err == "alexnet-classify: " + dir / "broken.safetensors" +
                         ": conv3.weight: expected shape [96, 64, 3, 3] for alexnet-28, found [96, 64, 3, 2]\n");
}

TEST_CASE("a closed stdout (| head -1) ends the program quietly with status 0") {
    std::string many;
    for (int i = 0; i < 300; ++i) many += " " + kData + "/demo";
    const Run r = run("bash -c '" + classify("--top 1" + many) + " | head -1 >/dev/null; exit ${PIPESTATUS[0]}'");
    CHECK(r.status == 0);
    CHECK(r.err.empty());
}

TEST_CASE("embed: fc7 by default, exact float round trip, l2 normalisation, any layer") {
    const Run r = run(embed(kData + "/demo/0002-trouser.png"));
    CHECK(r.status == 0);
    const json line = r.lines().at(0);
    CHECK(line["layer"] == "fc7");
    CHECK(line["dim"] == 512);
    CHECK(line["embedding"].size() == 512);
    const Run again = run(embed("--layer fc7 --format jsonl " + kData + "/demo/0002-trouser.png"));
    CHECK(again.out == r.out);

    const Run norm = run(embed("--normalize l2 --layer pool2 " + kData + "/demo/0002-trouser.png"));
    const json n = norm.lines().at(0);
    CHECK(n["dim"] == 64 * 7 * 7);
    double sq = 0;
    for (const auto& v : n["embedding"]) sq += v.get<double>() * v.get<double>();
    CHECK(sq == doctest::Approx(1.0).epsilon(1e-5));

    const Run bad = run(embed("--layer fc9 " + kData + "/demo"));
    CHECK(bad.status == 2);
    CHECK(bad.err.find("--layer: expected a layer of alexnet-28 (conv1, norm1, pool1,") != std::string::npos);
}

TEST_CASE("embed: npy output numpy can load, with the paths sidecar in row order") {
    TempDir dir;
    const std::string npy = dir / "fc7.npy";
    const Run r = run(embed("--format npy -o " + npy + " " + kData + "/demo " + dir / "missing.png"));
    CHECK(r.status == 1);
    const auto lines = r.lines();
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["error"].get<std::string>().find("missing.png: cannot open") != std::string::npos);
    CHECK(lines[1]["rows"] == 10);
    CHECK(lines[1]["dim"] == 512);
    std::ifstream in(npy, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    REQUIRE(bytes.size() > 10);
    CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    const size_t header_len = uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8);
    CHECK((10 + header_len) % 64 == 0);
    const std::string header = bytes.substr(10, header_len);
    CHECK(header.find("'descr': '<f4'") != std::string::npos);
    CHECK(header.find("'shape': (                  10, 512)") != std::string::npos);
    CHECK(bytes.size() == 10 + header_len + 10 * 512 * 4);
    std::ifstream paths(npy + ".paths.txt");
    std::string first;
    std::getline(paths, first);
    CHECK(first == kData + "/demo/0000-ankle-boot.png");
    // rows equal, bit for bit, the JSON Lines output of the same run (same batch: oneDNN may pick
    // other kernels, and so round differently, for another batch size)
    const Run j = run(embed(kData + "/demo " + dir / "missing.png"));
    const json e = j.lines().at(0)["embedding"];
    float row0[512];
    std::memcpy(row0, bytes.data() + 10 + header_len, sizeof row0);
    for (int i = 0; i < 512; ++i) CHECK(row0[i] == e[i].get<float>());
}

TEST_CASE("embed -o: the format follows the extension; a contradiction or an unknown one is refused") {
    TempDir dir;
    const std::string npy = dir / "out.npy";
    const Run n = run(embed("-o " + npy + " " + kData + "/demo"));  // no --format
    CHECK(n.status == 0);
    REQUIRE(n.lines().size() == 1);
    CHECK(n.lines()[0]["output"] == npy);
    CHECK(n.lines()[0]["rows"] == 10);
    CHECK(fs::file_size(npy) > 10 * 512 * 4);
    CHECK(fs::exists(npy + ".paths.txt"));

    // .jsonl: the lines go to the file (written atomically), stdout gets the errors and one summary
    const std::string jsonl = dir / "out.jsonl";
    const Run j = run(embed("-o " + jsonl + " " + kData + "/demo " + dir / "missing.png"));
    CHECK(j.status == 1);
    REQUIRE(j.lines().size() == 2);
    CHECK(j.lines()[0]["error"].get<std::string>().find("missing.png: cannot open") != std::string::npos);
    CHECK(j.lines()[1]["output"] == jsonl);
    CHECK(j.lines()[1]["rows"] == 10);
    const Run plain = run(embed(kData + "/demo"));
    std::ifstream in(jsonl);
    std::string file((std::istreambuf_iterator<char>(in)), {});
    CHECK(file == plain.out);  // the same lines, byte for byte

    const Run contra = run(embed("--format jsonl -o " + npy + " " + kData + "/demo"));
    CHECK(contra.status == 2);
    CHECK(contra.out.empty());
    CHECK(contra.err == "alexnet-embed: --format: expected npy (the format of --output " + npy + "), found jsonl\n");
    const Run unknown = run(embed("-o " + dir / "out.txt" + " " + kData + "/demo"));
    CHECK(unknown.status == 2);
    CHECK(unknown.err == "alexnet-embed: --output: expected a .npy or .jsonl file (or --format npy|jsonl), found " + dir / "out.txt" + "\n");
    CHECK(!fs::exists(dir / "out.txt"));
    const Run forced = run(embed("--format npy -o " + dir / "out.bin" + " " + kData + "/demo"));
    CHECK(forced.status == 0);  // an explicit format takes any name
    CHECK(fs::exists(dir / "out.bin"));
}

TEST_CASE("embed: an unwritable npy output fails before any image, with nothing on stdout") {
    const Run r = run(embed("--format npy -o /nonexistent-dir/x.npy " + kData + "/demo"));
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "alexnet-embed: /nonexistent-dir/x.npy: cannot create a file beside it: No such file or directory\n");
}

TEST_CASE("--arch that contradicts the weights is refused; it settles only alexnet vs caffenet") {
    const std::string png = kData + "/demo/0002-trouser.png";
    const std::string tv = std::string(ALEXNET_FIXTURES) + "/narrow_alexnet-tv.safetensors";
    const Run hybrid = run(kBin + "/alexnet-classify -q -w " + tv + " --arch alexnet " + png);
    CHECK(hybrid.status == 2);
    CHECK(hybrid.out.empty());
    CHECK(hybrid.err == "alexnet-classify: --arch: expected alexnet-tv or no --arch (" + tv +
                            " holds alexnet-tv weights, by its metadata; --arch only settles what weights cannot tell: "
                            "alexnet or caffenet, whose tensors have the same shapes), found alexnet\n");
    const Run small = run(kBin + "/alexnet-classify -q -w " + kWeights + " --arch alexnet " + png);
    CHECK(small.status == 2);
    CHECK(small.err.find("--arch: expected alexnet-28 or no --arch (") != std::string::npos);
    CHECK(run(kBin + "/alexnet-classify -q -w " + kWeights + " --arch alexnet-28 " + png).status == 0);  // agreeing

    // A .pth without metadata: torchvision's names say alexnet-tv
    const std::string pth = std::string(ALEXNET_FIXTURES) + "/narrow_alexnet-tv.pth";
    CHECK(run(kBin + "/alexnet-classify -q -w " + pth + " --arch caffenet " + png).err.find(
              "holds alexnet-tv weights, by torchvision's tensor names;") != std::string::npos);

    // Bare tensors with the paper's shapes: alexnet unless --arch caffenet says the other order
    TempDir dir;
    alexnet::Weights w = alexnet::read_safetensors(std::string(ALEXNET_FIXTURES) + "/narrow_caffenet.safetensors");
    alexnet::Weights bare;
    for (const auto& name : w.names()) bare.add_view(name, w.at(name));
    const std::string file = dir / "bare.safetensors";
    alexnet::write_safetensors(file, bare);
    const Run as_alexnet = run(kBin + "/alexnet-embed -q --summary -w " + file);
    const Run as_caffenet = run(kBin + "/alexnet-embed -q --summary -w " + file + " --arch caffenet");
    CHECK(as_alexnet.lines().at(0)["arch"] == "alexnet");
    CHECK(as_caffenet.status == 0);
    CHECK(as_caffenet.lines().at(0)["arch"] == "caffenet");
    // convnet-18pct without metadata: three convs and fc10 say it
    alexnet::Weights c18 = alexnet::read_safetensors(std::string(ALEXNET_FIXTURES) + "/narrow_convnet-18pct.safetensors");
    alexnet::Weights bare18;
    for (const auto& name : c18.names()) bare18.add_view(name, c18.at(name));
    alexnet::write_safetensors(dir / "bare18.safetensors", bare18);
    const Run c18_summary = run(kBin + "/alexnet-embed -q --summary -w " + dir / "bare18.safetensors");
    REQUIRE(c18_summary.status == 0);
    CHECK(c18_summary.lines().at(0)["arch"] == "convnet-18pct");
}

TEST_CASE("classify says once when inputs are far from what the model was trained on") {
    TempDir dir;
    cv::Mat photo(48, 64, CV_8UC3);
    cv::randu(photo, cv::Scalar(0, 0, 0), cv::Scalar(255, 255, 255));
    const std::string colour = dir / "colour.png", colour2 = dir / "colour2.png", grey = dir / "grey.png";
    REQUIRE(cv::imwrite(colour, photo));
    REQUIRE(cv::imwrite(colour2, photo));
    REQUIRE(cv::imwrite(grey, cv::Mat(2000, 3000, CV_8UC1, cv::Scalar(128))));
    const std::string classify = kBin + "/alexnet-classify -w " + kWeights + " ";
    const std::string tail = ", and its answers for inputs this far from what it was trained on mean little (ImageNet "
                             "weights: README, \"ImageNet weights\")\n";

    const Run plain = run(classify + kData + "/demo");  // Fashion-MNIST's own images: no warning
    CHECK(plain.status == 0);
    CHECK(plain.err.find("warning") == std::string::npos);

    const Run c = run(classify + colour + " " + colour2);
    CHECK(c.status == 0);
    CHECK(c.lines().size() == 2);
    CHECK(c.err.rfind("alexnet-classify: warning: " + colour + " is a 64x48 colour image; alexnet-28 takes grey images "
                      "resized to 28 pixels (colour is dropped)" + tail, 0) == 0);
    CHECK(c.err.find("warning", 30) == std::string::npos);  // once a run
    CHECK(run(kBin + "/alexnet-classify -q -w " + kWeights + " " + colour).err.empty());

    const Run g = run(classify + grey);
    CHECK(g.err.rfind("alexnet-classify: warning: " + grey + " is a 3000x2000 grey image; alexnet-28 takes grey images "
                      "resized to 28 pixels" + tail, 0) == 0);
}

TEST_CASE("options are one family: -q on every tool, range and choice errors in one style, hints") {
    for (const char* tool : {"classify", "embed", "eval", "train", "quantize", "compare-activations", "bench"}) {
        CAPTURE(tool);
        const Run r = run(kBin + "/alexnet-" + tool + " -q --version");
        CHECK(r.status == 0);
        CHECK(r.err.empty());
    }
    const auto err = [](const std::string& args) {
        const Run r = run(kBin + "/" + args);
        CHECK(r.status == 2);
        return r.err;
    };
    CHECK(err("alexnet-classify -b -4 x.png") == "alexnet-classify: --batch-size: expected a number from 1 to 4096, found -4\n");
    CHECK(err("alexnet-classify --crop five x.png") == "alexnet-classify: --crop: expected one of center, ten, found 'five'\n");
    CHECK(err("alexnet-eval --limit 0 x") == "alexnet-eval: --limit: expected a number above 0, found 0\n");
    CHECK(err("alexnet-train --lr fast") == "alexnet-train: --lr: expected a number above 0, found 'fast'\n");
    CHECK(err("alexnet-train --arch resnet") ==
          "alexnet-train: --arch: expected one of alexnet, caffenet, alexnet-tv, alexnet-28, alexnet-32, convnet-4, "
          "convnet-18pct, found 'resnet'\n");
    CHECK(err("alexnet-eval --per-class x") == "alexnet-eval: unknown option '--per-class': per-class accuracy is always "
                                               "in the summary line (\"per_class\") (--help lists the options)\n");
}

TEST_CASE("random weights from alexnet-bench carry a marker, and the tools say so when they run them") {
    TempDir dir;
    const std::string file = dir / "random.safetensors";
    const Run w = run(kBin + "/alexnet-bench random-weights " + file + " --arch alexnet-28");
    REQUIRE(w.status == 0);
    CHECK(w.err == "");
    CHECK(alexnet::read_safetensors(file).metadata.count("random") == 1);
    const Run c = run(kBin + "/alexnet-classify -w " + file + " " + kData + "/demo/0002-trouser.png");
    CHECK(c.status == 0);
    CHECK(c.err.rfind("alexnet-classify: " + file + " holds random weights (alexnet-bench random-weights), not a "
                      "trained model: its answers mean nothing\n", 0) == 0);
    CHECK(run(kBin + "/alexnet-classify -w " + kWeights + " " + kData + "/demo/0002-trouser.png").err.find("random") ==
          std::string::npos);
}

TEST_CASE("alexnet-bench: subcommands, and the old only-this flags still work for one release with a note") {
    TempDir dir;
    const Run sub = run(kBin + "/alexnet-bench summary --arch alexnet-28");
    REQUIRE(sub.status == 0);
    const auto lines = sub.lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["arch"] == "alexnet-28");
    const Run old = run(kBin + "/alexnet-bench --arch alexnet-28 --summary");
    CHECK(old.status == 0);
    CHECK(old.out == sub.out);
    CHECK(old.err == "alexnet-bench: summary is a subcommand now: alexnet-bench summary [OPTIONS] (the old flag goes in "
                     "the next release)\n");
    const std::string file = dir / "w.safetensors";
    const Run old_value = run(kBin + "/alexnet-bench -q --write-random-weights=" + file + " --arch alexnet-28");
    CHECK(old_value.status == 0);
    CHECK(old_value.err == "");
    CHECK(alexnet::read_safetensors(file).metadata.count("random") == 1);
    const Run two = run(kBin + "/alexnet-bench training summary");
    CHECK(two.status == 2);
    CHECK(run(kBin + "/alexnet-bench under-load").status == 2);  // N is required
    CHECK(run(kBin + "/alexnet-bench --training-golden a b").status == 2);  // left the bench
}

TEST_CASE("--summary prints the model table as JSON") {
    const Run r = run(kBin + "/alexnet-classify --summary --arch alexnet-tv");
    CHECK(r.status == 0);
    const json s = r.lines().at(0);
    CHECK(s["total_params"] == 61100840);
    CHECK(s["total_macs"] == 714188480);
    CHECK(s["layers"][0]["output"] == json::array({64, 55, 55}));
}

TEST_CASE("OpenMP threads wait passively by default (a busy machine), unless the user chose a policy") {
    // libgomp's spin count is what matters: 0 when waiting passively, its default 300000 when the
    // policy is unset (which OMP_DISPLAY_ENV also prints as 'PASSIVE'), 30000000000 for ACTIVE.
    const Run quiet = run("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose " + kBin +
                          "/alexnet-classify --summary");
    CHECK(quiet.status == 0);
    CHECK(quiet.err.find("GOMP_SPINCOUNT = '0'") != std::string::npos);
    const Run chosen = run("OMP_DISPLAY_ENV=verbose OMP_WAIT_POLICY=active " + kBin + "/alexnet-eval --summary");
    CHECK(chosen.err.find("OMP_WAIT_POLICY = 'ACTIVE'") != std::string::npos);
    CHECK(chosen.err.find("GOMP_SPINCOUNT = '30000000000'") != std::string::npos);
    const Run spin = run("env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose GOMP_SPINCOUNT=1000 " + kBin + "/alexnet-eval --summary");
    CHECK(spin.err.find("GOMP_SPINCOUNT = '1000'") != std::string::npos);
    // Executed again under its own name (not "exe"): ps and pgrep still find it.
    const Run name = run("sleep 2 | env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + kBin +
                         "/alexnet-classify -q -w " + ALEXNET_DATA_DIR "/alexnet-28-fmnist.safetensors - 2>/dev/null & sleep 1; cat /proc/$!/comm; wait");
    CHECK(name.out == "alexnet-classif\n");  // the kernel keeps 15 characters
}
