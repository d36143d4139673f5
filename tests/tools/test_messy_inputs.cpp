// Messy real data and one set of conventions across the tools: every path that used to give a
// wrong answer without a word (issue 11), and the options, exit codes and -q every tool shares.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "cli_util.hpp"
#include "formats/model_file.hpp"
#include "test_util.hpp"

using namespace alexnet;
using alexnet::test::kBin;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kData = ALEXNET_DATA_DIR;
const std::string kWeights = kData + "/alexnet-28-fmnist.safetensors";

// data/demo: the first test image of each Fashion-MNIST class, and its class.
const std::vector<std::pair<std::string, int>> kDemo = {
    {"0000-ankle-boot.png", 9}, {"0001-pullover.png", 2}, {"0002-trouser.png", 1}, {"0004-shirt.png", 6},
    {"0006-coat.png", 4},       {"0008-sandal.png", 5},   {"0009-sneaker.png", 7}, {"0013-dress.png", 3},
    {"0018-bag.png", 8},        {"0019-t-shirt-top.png", 0}};
const std::vector<std::string> kClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string tool(const std::string& name, const std::string& args) { return kBin + "/alexnet-" + name + " " + args; }

// A class folder per Fashion-MNIST class named as the model names it ("T-shirt/top" cannot be a
// folder name: "T-shirt_top"), each holding that class's demo image.
void write_class_folders(const fs::path& root) {
    for (const auto& [file, c] : kDemo) {
        std::string name = kClasses[size_t(c)];
        std::replace(name.begin(), name.end(), '/', '_');
        fs::create_directories(root / name);
        fs::copy_file(kData + "/demo/" + file, root / name / file);
    }
}

// Noisy 32x32 colour images: class "zebra" red, class "apple" blue.
void write_colour_folders(const fs::path& root, int per_class) {
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> noise(0, 60);
    for (const auto& [name, bgr] : std::vector<std::pair<std::string, cv::Vec3b>>{{"zebra", {20, 20, 200}}, {"apple", {200, 20, 20}}}) {
        fs::create_directories(root / name);
        for (int i = 0; i < per_class; ++i) {
            cv::Mat img(32, 32, CV_8UC3);
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x)
                    for (int c = 0; c < 3; ++c) img.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uint8_t>(bgr[c] + noise(rng));
            cv::imwrite((root / name / (std::to_string(i) + ".png")).string(), img);
        }
    }
}

std::vector<json> with_key(const std::vector<json>& lines, const std::string& key) {
    std::vector<json> out;
    for (const auto& l : lines)
        if (l.contains(key)) out.push_back(l);
    return out;
}

}  // namespace

TEST_CASE("alexnet-eval maps class folders to the model's labels by name, and refuses names it lacks") {
    TempDir d;
    write_class_folders(d.path / "set");
    std::ofstream list(d / "list.txt");
    for (const auto& [file, c] : kDemo) list << kData << "/demo/" << file << " " << c << "\n";
    list.close();
    const Run by_list = run(tool("eval", "-q -w " + kWeights + " " + d / "list.txt"));
    const Run by_folder = run(tool("eval", "-q -w " + kWeights + " --per-image " + d / "set"));
    REQUIRE(by_list.status == 0);
    REQUIRE(by_folder.status == 0);
    const json a = by_list.lines().back(), b = by_folder.lines().back();
    CHECK(b["images"] == 10);
    CHECK(b["top1_accuracy"] == a["top1_accuracy"]);  // sorted folder order would score 1 in 10 at best
    CHECK(a["top1_accuracy"].get<double>() >= 0.9);
    for (const auto& line : with_key(by_folder.lines(), "correct_top1")) {
        const std::string path = line["path"];
        const auto it = std::find_if(kDemo.begin(), kDemo.end(), [&](const auto& e) { return path.find(e.first) != std::string::npos; });
        REQUIRE(it != kDemo.end());
        CHECK(line["class"] == it->second);
    }
    fs::create_directories(d.path / "set" / "Hat");
    fs::copy_file(kData + "/demo/0000-ankle-boot.png", d.path / "set" / "Hat" / "x.png");
    const Run extra = run(tool("eval", "-q -w " + kWeights + " " + d / "set"));
    CHECK(extra.status == 1);
    CHECK(extra.out.empty());
    CHECK(extra.err == "alexnet-eval: " + d / "set" + ": classes: expected class names among the 10 of the model's labels (" +
                           kWeights + ") ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', "
                           "'Sneaker', 'Bag', 'Ankle boot'), found a folder that is not: 'Hat' (pass --labels FILE with the "
                           "model's class names in its order to map them)\n");
}

TEST_CASE("alexnet-train stores --labels names against the folders of those names, not sorted positions") {
    TempDir d;
    write_colour_folders(d.path / "data", 48);
    std::ofstream(d / "names.txt") << "zebra\napple\n";  // the opposite of the folders' sorted order
    const Run r = run(tool("train", "-q --data " + d / "data" + " --labels " + d / "names.txt" +
                                        " --arch convnet-4 --init kaiming --epochs 3 -b 16 --lr 0.001 --lighting none -o " + d / "run"));
    REQUIRE(r.status == 0);
    const LoadedModel m = load_model(d / "run/model.safetensors");
    CHECK(m.labels == std::vector<std::string>{"zebra", "apple"});
    const Run c = run(tool("classify", "-q -k 1 -w " + d / "run/model.safetensors" + " " + d / "data/zebra/0.png " + d / "data/apple/0.png"));
    REQUIRE(c.status == 0);
    const auto lines = c.lines();
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["top"][0]["label"] == "zebra");
    CHECK(lines[1]["top"][0]["label"] == "apple");
}

TEST_CASE("a validation list whose paths do not resolve fails before training; --val-root resolves them") {
    TempDir d;
    write_colour_folders(d.path / "data", 16);
    std::ofstream val(d / "val.txt");  // paths relative to data/, but the list lives one folder up
    for (int i = 0; i < 4; ++i) val << "zebra/" << i << ".png 0\napple/" << i << ".png 1\n";
    val.close();
    const std::string common = "-q --data " + d / "data" + " --arch convnet-4 --epochs 1 -b 8 --lighting none -o " + d / "run";
    const Run wrong = run(tool("train", common + " --val " + d / "val.txt"));
    CHECK(wrong.status == 2);
    CHECK(wrong.err == "alexnet-train: --val: expected existing image files (relative paths start at --val-root, else "
                       "--root, else the list's folder), found none of its 8 files, e.g. " + d / "zebra/0.png" + "\n");
    CHECK(with_key(wrong.lines(), "val_top1_error").empty());  // no epoch ran
    const Run right = run(tool("train", common + " --val " + d / "val.txt" + " --val-root " + d / "data"));
    CHECK(right.status == 0);
    const auto epochs = with_key(right.lines(), "val_top1_error");
    REQUIRE(epochs.size() == 1);
    CHECK(epochs[0]["val_top1_error"].is_number());
}

TEST_CASE("a validation pass that can read no image reports null errors, never a perfect score") {
    TempDir d;
    write_colour_folders(d.path / "data", 16);
    fs::create_directories(d.path / "bad");
    std::ofstream val(d / "bad/val.txt");
    for (int i = 0; i < 3; ++i) {
        std::ofstream(d / ("bad/" + std::to_string(i) + ".png")) << "not a png";
        val << i << ".png " << i % 2 << "\n";
    }
    val.close();
    const Run r = run(tool("train", "--data " + d / "data" + " --val " + d / "bad/val.txt" +
                                        " --arch convnet-4 --epochs 1 -b 8 --lighting none -o " + d / "run"));
    CHECK(r.status == 1);
    const auto epochs = with_key(r.lines(), "val_top1_error");
    REQUIRE(epochs.size() == 1);
    CHECK(epochs[0]["val_top1_error"].is_null());
    CHECK(epochs[0]["val_loss"].is_null());
    CHECK(epochs[0]["best"] == false);
    CHECK(r.err.find("alexnet-train: epoch 1: no validation image could be read; its errors are null") != std::string::npos);
    const auto skipped = with_key(r.lines(), "skipped");
    CHECK(skipped.size() == 4);  // three items, each reported once, and the summary
    CHECK(r.lines().back()["skipped_reasons"] == json{{"unreadable", 3}});
    const LoadedModel m = load_model(d / "run/model.safetensors");  // written all the same (the last epoch)
    const json training = json::parse(m.weights.metadata.at("training"));
    CHECK(training["val_top1_error"].is_null());
}

TEST_CASE("an unreadable training image is skipped and counted, or stops the run with --strict") {
    TempDir d;
    write_colour_folders(d.path / "data", 16);
    fs::remove(d.path / "data" / "apple" / "0.png");  // 32 items: four full batches of 8
    std::ofstream(d / "data/zebra/broken.png") << "not a png";
    const std::string common = "-q --data " + d / "data" + " --arch convnet-4 --epochs 2 -b 8 --lighting none -o " + d / "run";
    const Run r = run(tool("train", common));
    CHECK(r.status == 1);
    const auto lines = r.lines();
    const auto skipped = with_key(lines, "skipped");
    REQUIRE(skipped.size() == 2);  // once, although both epochs met it; then the summary
    CHECK(skipped[0] == json{{"path", d / "data/zebra/broken.png"}, {"label", 1}, {"skipped", "unreadable"},
                             {"error", "image: expected a JPEG, PNG, WebP, BMP or TIFF image, found an unknown format"}});
    CHECK(with_key(lines, "train_loss").size() == 2);  // both epochs ran
    const Run strict = run(tool("train", common + " --strict"));
    CHECK(strict.status == 1);
    CHECK(with_key(strict.lines(), "train_loss").empty());
    CHECK(strict.err == "alexnet-train: " + d / "data/zebra/broken.png" +
                            ": image: expected a JPEG, PNG, WebP, BMP or TIFF image, found an unknown format (--strict)\n");
}

TEST_CASE("paths on stdin: -0 for find -print0; NUL bytes in a line list are refused") {
    const std::string a = kData + "/demo/0002-trouser.png", b = kData + "/demo/0018-bag.png";
    const Run nul = run("printf '%s\\0%s\\0' " + a + " " + b + " | " + tool("classify", "-q -0 -w " + kWeights + " -"));
    CHECK(nul.status == 0);
    const auto lines = nul.lines();
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["top"][0]["label"] == "Trouser");
    CHECK(lines[1]["top"][0]["label"] == "Bag");
    const Run refused = run("printf '%s\\0%s\\0' " + a + " " + b + " | " + tool("classify", "-q -w " + kWeights + " -"));
    CHECK(refused.status == 2);
    CHECK(refused.out.empty());
    CHECK(refused.err == "alexnet-classify: stdin: line 1: expected paths one per line, found a NUL byte (for find "
                         "-print0 output, pass -0/--null)\n");
}

TEST_CASE("no image among the inputs is an error, and embed writes no empty .npy") {
    TempDir d;
    fs::create_directories(d.path / "empty");
    std::ofstream(d / "empty/notes.txt") << "x";
    const Run c = run(tool("classify", "-w " + kWeights + " " + d / "empty"));
    CHECK(c.status == 1);
    CHECK(c.out.empty());
    CHECK(c.err == "alexnet-classify: no images among the inputs (" + d / "empty" +
                       ": a folder with no jpg, jpeg, png, bmp, webp or tiff files)\n");
    const Run e = run(tool("embed", "-q -w " + kWeights + " --format npy -o " + d / "x.npy " + d / "empty"));
    CHECK(e.status == 1);
    CHECK(!fs::exists(d / "x.npy"));
    CHECK(!fs::exists(d / "x.npy.paths.txt"));
    const Run s = run("true | " + tool("embed", "-q -w " + kWeights + " -"));
    CHECK(s.status == 1);
    CHECK(s.err == "alexnet-embed: no images among the inputs (stdin: no paths)\n");
}

TEST_CASE("streaming: with paths on stdin, each image is answered without waiting for a full batch") {
    // The second path is written 5 s after the first; the first answer must come out before it
    // (compared with the moment it is written, not with the second answer: on a busy machine the
    // first answer alone may take over a second, which made "answers 2 s apart" flaky).
    const std::string img = kData + "/demo/0002-trouser.png";
    TempDir dir;
    const std::string sent = dir / "sent";
    const Run r = run("(echo " + img + "; sleep 5; date +%s.%N > " + sent + "; echo " + img + ") | " +
                      tool("classify", "-q -w " + kWeights + " -") + " | while read -r line; do date +%s.%N; done");
    REQUIRE(r.status == 0);
    std::istringstream times(r.out);
    double first = 0, second = 0, second_sent = 0;
    times >> first >> second;
    std::ifstream(sent) >> second_sent;
    REQUIRE(second_sent > 0);
    CHECK(first < second_sent);
    CHECK(second >= second_sent);
}

TEST_CASE("the same options on every tool: -b/--batch-size (--batch), --version, nearest-option hints") {
    const std::string img = kData + "/demo/0002-trouser.png";
    for (const std::string flag : {"-b 2", "--batch-size 2", "--batch 2"}) {
        CHECK(run(tool("classify", "-q -w " + kWeights + " " + flag + " " + img)).status == 0);
        CHECK(run(tool("embed", "-q -w " + kWeights + " " + flag + " " + img)).status == 0);
    }
    for (const std::string t : {"classify", "embed", "train", "eval", "compare-activations", "bench"}) {
        const Run v = run(tool(t, "--version"));
        CHECK(v.status == 0);
        CHECK(v.out.rfind("alexnet-" + t + " 0.1.0 (oneDNN ", 0) == 0);
        const Run help = run(tool(t, "--help"));
        if (t == "bench") continue;  // its batch options are lists (--batches 1,8,32,64)
        CHECK(help.out.find("-b,--batch-size,--batch") != std::string::npos);
        CHECK(help.out.find("--loader-threads") != std::string::npos);
    }
    const Run typo = run(tool("classify", "--batchsize 4 " + img));
    CHECK(typo.status == 2);
    CHECK(typo.err == "alexnet-classify: unknown option '--batchsize'; did you mean '--batch-size'? (--help lists the options)\n");
    const Run typo2 = run(tool("train", "--data x --learning-rate 0.1"));
    CHECK(typo2.status == 2);
    CHECK(typo2.err == "alexnet-train: unknown option '--learning-rate' (--help lists the options)\n");
    const Run typo3 = run(tool("eval", "--top-5 x"));
    CHECK(typo3.err == "alexnet-eval: unknown option '--top-5'; did you mean '--top5'? (--help lists the options)\n");
    // -k/--top and --top5 where top-k applies; -o/--output and -w/--weights on train
    CHECK(run(tool("classify", "-q --top5 -w " + kWeights + " " + img)).lines().at(0)["top"].size() == 5);
    CHECK(run(tool("eval", "-q -k 3 -w " + kWeights + " --limit 20 /usr/share/datasets/fashion-mnist")).lines().back().contains("top3_error"));
    const Run train_help = run(tool("train", "--help"));
    for (const char* opt : {"-o,--output", "-w,--weights", "--limit", "--val-root", "--strict", "--max-pixels"})
        CHECK(train_help.out.find(opt) != std::string::npos);
}

TEST_CASE("usage errors exit 2 with one line naming the option; runtime failures exit 1") {
    const std::string img = kData + "/demo/0002-trouser.png";
    const Run layer = run(tool("embed", "-w " + kWeights + " --layer fc9 " + img));
    CHECK(layer.status == 2);
    CHECK(layer.err.rfind("alexnet-embed: --layer: expected a layer of alexnet-28 (conv1, ", 0) == 0);
    CHECK(std::count(layer.err.begin(), layer.err.end(), '\n') == 1);
    const Run target = run(tool("compare-activations", "--target-error 1.5"));
    CHECK(target.status == 2);
    CHECK(target.err == "alexnet-compare-activations: --target-error: expected a fraction in [0, 1), found 1.500000\n");
    const Run mean = run(tool("classify", "-w " + kWeights + " --mean 1,2,3 " + img));
    CHECK(mean.status == 2);
    CHECK(mean.err == "alexnet-classify: --mean: expected 1 value (one per input channel of alexnet-28), found 3\n");
    const Run both = run(tool("train", "--data /usr/share/datasets/fashion-mnist --val /usr/share/datasets/fashion-mnist --val-split 0.1"));
    CHECK(both.status == 2);
    CHECK(both.err.rfind("alexnet-train: --val-split", 0) == 0);
    const Run missing = run(tool("classify", "-q -w /nonexistent.safetensors " + img));
    CHECK(missing.status == 1);
}

TEST_CASE("-q leaves nothing on stderr but errors; decoder warnings are our own lines") {
    TempDir d;
    std::vector<uint8_t> jpeg;
    cv::Mat img(40, 40, CV_8UC3, cv::Scalar(90, 120, 200));
    REQUIRE(cv::imencode(".jpg", img, jpeg));
    REQUIRE(jpeg[3] == 0xE0);  // JFIF APP0 first: stray bytes after it give "3 extraneous bytes before marker 0xdb"
    jpeg.insert(jpeg.begin() + 4 + (jpeg[4] << 8 | jpeg[5]), {0x00, 0x01, 0x02});
    std::ofstream(d / "odd.jpg", std::ios::binary).write(reinterpret_cast<const char*>(jpeg.data()), long(jpeg.size()));
    const Run loud = run(tool("classify", "-w " + kWeights + " " + d / "odd.jpg"));
    CHECK(loud.status == 0);
    CHECK(loud.err.find("alexnet-classify: " + d / "odd.jpg" + ": warning: Corrupt JPEG data: 3 extraneous bytes before marker 0xdb\n") !=
          std::string::npos);
    const Run quiet = run(tool("classify", "-q -w " + kWeights + " " + d / "odd.jpg"));
    CHECK(quiet.status == 0);
    CHECK(quiet.err.empty());
}

TEST_CASE("unsupported formats: named per file given, counted once per folder") {
    TempDir d;
    fs::create_directories(d.path / "photos");
    fs::copy_file(kData + "/demo/0002-trouser.png", d.path / "photos" / "a.png");
    std::ofstream(d / "photos/anim.gif") << "GIF89a\x01\x00\x01\x00";
    std::ofstream(d / "photos/b.gif") << "GIF89a\x01\x00\x01\x00";
    std::ofstream(d / "photos/readme.txt") << "x";
    const Run folder = run(tool("classify", "-w " + kWeights + " " + d / "photos"));
    CHECK(folder.status == 0);
    CHECK(folder.lines().size() == 1);
    CHECK(folder.err.find("alexnet-classify: skipped 3 files in the input folders that are not jpg, jpeg, png, bmp, "
                          "webp or tiff images (2 .gif, 1 .txt)\n") != std::string::npos);
    const Run given = run(tool("classify", "-q -w " + kWeights + " " + d / "photos/anim.gif"));
    CHECK(given.status == 1);
    CHECK(given.lines().at(0)["error"] == d / "photos/anim.gif" +
                                              ": image: expected a JPEG, PNG, WebP, BMP or TIFF image, found a GIF image "
                                              "(not supported; convert it, e.g. to PNG)");
}

TEST_CASE("file names that are not UTF-8 go into JSON losslessly (\\udcXX) and never stop the run") {
    TempDir d;
    fs::create_directories(d.path / "in");
    const std::string latin1 = d / "in/caf\xe9.png";
    fs::copy_file(kData + "/demo/0002-trouser.png", latin1);
    fs::copy_file(kData + "/demo/0018-bag.png", d.path / "in" / "z.png");
    const Run r = run(tool("classify", "-q -w " + kWeights + " " + d / "in"));
    CHECK(r.status == 0);
    // Python's json.loads reads "\udce9" back as the lone surrogate that os.fsencode turns into
    // byte 0xe9; nlohmann refuses lone surrogates, so only the other line is parsed here.
    std::istringstream out(r.out);
    std::string first, second;
    std::getline(out, first), std::getline(out, second);
    CHECK(first.rfind("{\"path\":\"" + d / "in/caf\\udce9.png\",\"top\":[{", 0) == 0);
    CHECK(json::parse(second)["top"][0]["label"] == "Bag");
    // a class folder with such a name trains and saves (its label stored with U+FFFD)
    write_colour_folders(d.path / "data", 8);
    fs::rename(d.path / "data" / "apple", d.path / "data" / "pomme\xe9");
    const Run t = run(tool("train", "-q --data " + d / "data" + " --arch convnet-4 --epochs 1 -b 8 --lighting none -o " + d / "run"));
    CHECK(t.status == 0);
    CHECK(load_model(d / "run/model.safetensors").labels == std::vector<std::string>{"pomme\xef\xbf\xbd", "zebra"});
}

TEST_CASE("embed --format npy: a newline in a file name keeps rows and path lines in step") {
    TempDir d;
    fs::create_directories(d.path / "in");
    fs::copy_file(kData + "/demo/0002-trouser.png", d.path / "in" / "a\nb.png");
    fs::copy_file(kData + "/demo/0018-bag.png", d.path / "in" / "c\\d.png");
    const Run r = run(tool("embed", "-q -w " + kWeights + " --format npy -o " + d / "x.npy " + d / "in"));
    REQUIRE(r.status == 0);
    CHECK(r.lines().at(0)["rows"] == 2);
    std::ifstream paths(d / "x.npy.paths.txt");
    std::vector<std::string> lines;
    for (std::string line; std::getline(paths, line);) lines.push_back(line);
    CHECK(lines == std::vector<std::string>{d / "in/a\\nb.png", d / "in/c\\\\d.png"});
}

TEST_CASE("alexnet-bench leaves nothing behind in $TMPDIR, and refuses an end-to-end rate over failed images") {
    TempDir tmp;
    const std::string base = "TMPDIR=" + tmp.path.string() + " " + kBin +
                             "/alexnet-bench --arch alexnet-28 --batches 1 --warmup 0 --runs 1 --latency-runs 1 "
                             "--layer-batch 1 --precisions fp32 ";
    // A whole run: the start-up, decode and end-to-end benches each write files first.
    const Run ok = run(base + "--embed-images 2");
    CHECK(ok.status == 0);
    CHECK(with_key(ok.lines(), "bench").size() == 6);
    CHECK(fs::is_empty(tmp.path));
    // The end-to-end run fails after the others wrote their files: still nothing left.
    const std::string missing = tmp / "no-such-folder";
    const Run bad = run(base + "--images " + missing);
    CHECK(bad.status == 1);
    CHECK(bad.err == "alexnet-bench: " + missing + ": images: expected every image decoded, found 1 of 1 failed, the first: " +
                         missing + ": cannot open: No such file or directory\n");
    CHECK(fs::is_empty(tmp.path));
}
