// alexnet-eval: the metrics against hand-computed cases, and the tool as a user runs it (skipped
// items and their reasons, --strict, per-image lines, the confusion matrix, and the Fashion-MNIST
// model's accuracy against PyTorch's and against what alexnet-train recorded).
#include <doctest/doctest.h>

#include <fstream>
#include <tuple>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.hpp"
#include "figure_util.hpp"
#include "formats/safetensors.hpp"
#include "metrics/topk.hpp"
#include "test_util.hpp"

using namespace alexnet;
using alexnet::test::kBin;
using alexnet::test::check_png_size;
using alexnet::test::count_colour;
using alexnet::test::read_figure;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kData = ALEXNET_DATA_DIR;
const std::string kFashion = "/usr/share/datasets/fashion-mnist";
const std::string kModel = kData + "/alexnet-28-fmnist.safetensors";

std::string eval_cmd(const std::string& args) { return kBin + "/alexnet-eval -q --weights " + kModel + " " + args; }

Weights pytorch_reference() { return read_safetensors(std::string(ALEXNET_FIXTURES) + "/fmnist_demo_logits.safetensors"); }

std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    return {std::istreambuf_iterator<char>(f), {}};
}

}  // namespace

TEST_CASE("top-k counting: ties go to the lower class index, k beyond the class count always hits") {
    const float scores[4] = {0.2f, 0.5f, 0.5f, 0.1f};
    CHECK(label_rank(scores, 4, 1) == 0);
    CHECK(label_rank(scores, 4, 2) == 1);  // tied with class 1, which comes first
    CHECK(label_rank(scores, 4, 0) == 2);
    CHECK(label_rank(scores, 4, 3) == 3);
    CHECK(top_classes(scores, 4, 3) == std::vector<int>{1, 2, 0});

    Evaluation e(4, 2);
    CHECK(e.add(scores, 2) == 1);  // top-2, not top-1; predicted class 1
    CHECK(e.add(scores, 1) == 0);
    CHECK(e.add(scores, 3) == 3);
    CHECK(e.total().images == 3);
    CHECK(e.total().top1 == 1);
    CHECK(e.total().topk == 2);
    CHECK(e.per_class()[2].images == 1);
    CHECK(e.per_class()[2].top1 == 0);
    CHECK(e.per_class()[2].topk == 1);
    CHECK(e.confusion(2, 1) == 1);
    CHECK(e.confusion(1, 1) == 1);
    CHECK(e.confusion(3, 1) == 1);
    CHECK(e.confusion(3, 3) == 0);

    Evaluation wide(3, 5);  // k larger than the class count: every image is a top-k hit
    const float three[3] = {0.7f, 0.2f, 0.1f};
    wide.add(three, 2);
    CHECK(wide.total().topk == 1);
    CHECK(wide.total().top1 == 0);

    const float flat[3] = {0.25f, 0.25f, 0.25f};  // all tied: the first class is the prediction
    Evaluation tied(3, 1);
    tied.add(flat, 0);
    tied.add(flat, 2);
    CHECK(tied.total().top1 == 1);
    CHECK(tied.confusion(2, 0) == 1);
}

TEST_CASE("ten-crop averaging: the mean of the crops' probabilities decides, not the center crop") {
    // ten crops of 3 classes: the center favours class 0, the other nine lean to class 2
    std::vector<float> rows;
    rows.insert(rows.end(), {0.6f, 0.1f, 0.3f});
    for (int c = 1; c < 10; ++c) rows.insert(rows.end(), {0.35f, 0.2f, 0.45f});
    float mean[3];
    average_rows(rows.data(), 10, 3, mean);
    CHECK(mean[0] == doctest::Approx((0.6 + 9 * 0.35) / 10));  // 0.375
    CHECK(mean[1] == doctest::Approx((0.1 + 9 * 0.2) / 10));   // 0.19
    CHECK(mean[2] == doctest::Approx((0.3 + 9 * 0.45) / 10));  // 0.435
    CHECK(label_rank(rows.data(), 3, 0) == 0);
    CHECK(label_rank(mean, 3, 2) == 0);
}

TEST_CASE("alexnet-eval on the Fashion-MNIST test set gives PyTorch's numbers and alexnet-train's") {
    const Weights ref = pytorch_reference();
    const double top1 = std::stod(ref.metadata.at("test_accuracy"));
    const double top5 = std::stod(ref.metadata.at("test_top5_accuracy"));
    const double ten = std::stod(ref.metadata.at("test_ten_crop_accuracy"));
    const json per_class = json::parse(ref.metadata.at("test_per_class_accuracy"));
    REQUIRE(fs::exists(kFashion));  // installed by scripts/install-deps.sh

    TempDir dir;
    const Run r = run(eval_cmd(kFashion + " --top5 --batch 256 --confusion " + (dir.path / "conf.csv").string()));
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto lines = r.lines();
    REQUIRE(lines.size() == 1);
    const json& s = lines[0];
    CHECK(s["summary"] == true);
    CHECK(s["images"] == 10000);
    CHECK(s["skipped"] == 0);
    CHECK(s["crop"] == "center");
    MESSAGE("alexnet-eval: top-1 " << s["top1_accuracy"] << " top-5 " << s["top5_accuracy"] << "; PyTorch " << top1
                                   << " / " << top5);
    // Preprocessing rounding may flip a borderline image or two, never more.
    CHECK(std::fabs(s["top1_accuracy"].get<double>() - top1) <= 0.0003);
    CHECK(std::fabs(s["top5_accuracy"].get<double>() - top5) <= 0.0003);
    CHECK(s["top1_error"].get<double>() == doctest::Approx(1 - s["top1_accuracy"].get<double>()));
    REQUIRE(s["per_class"].size() == 10);
    for (int c = 0; c < 10; ++c) {
        CAPTURE(c);
        CHECK(s["per_class"][c]["images"] == 1000);
        CHECK(std::fabs(s["per_class"][c]["top1_accuracy"].get<double>() - per_class[c].get<double>()) <= 0.003);
    }
    CHECK(s["per_class"][9]["label"] == "Ankle boot");

    // What alexnet-train measured on the same images when it saved these weights (make model).
    const json trained = json::parse(read_safetensors(kModel).metadata.at("training"));
    CHECK(trained["val_images"] == 10000);
    CHECK(std::fabs(s["top1_error"].get<double>() - trained["val_top1_error"].get<double>()) <= 0.0003);
    CHECK(std::fabs(s["top5_error"].get<double>() - trained["val_top5_error"].get<double>()) <= 0.0003);

    // The confusion matrix: a header of class names, then per label its counts, summing to 1000
    // with the diagonal equal to the per-class hits.
    std::istringstream csv(slurp(dir.path / "conf.csv"));
    std::string line;
    std::getline(csv, line);
    CHECK(line.rfind("label\\predicted,T-shirt/top,Trouser,", 0) == 0);
    for (int c = 0; c < 10; ++c) {
        REQUIRE(std::getline(csv, line));
        std::vector<long> counts;
        std::istringstream cells(line.substr(line.find(',') + 1));
        for (std::string cell; std::getline(cells, cell, ',');) counts.push_back(std::stol(cell));
        REQUIRE(counts.size() == 10);
        long sum = 0;
        for (long v : counts) sum += v;
        CHECK(sum == 1000);
        CHECK(counts[size_t(c)] == std::lround(s["per_class"][c]["top1_accuracy"].get<double>() * 1000));
    }
    // The heat map and its SVG: ten 44-point cells a side, zeros in viridis' darkest colour
    const auto heat = read_figure((dir.path / "conf.png").string());
    check_png_size(heat, 1100, 1400, 1000, 1300);
    CHECK(count_colour(heat.png, 0x440154) > 10 * 88 * 88);
    CHECK(s["confusion_png"] == (dir.path / "conf.png").string());

    // PyTorch's ten-crop figure is over the first 1,000 test images (--limit samples across the
    // set): an IDX pair holding just those.
    const fs::path first = dir.path / "first1000";
    fs::create_directories(first);
    for (const auto& [file, head, item] : {std::tuple{"t10k-images-idx3-ubyte", 16, 784}, {"t10k-labels-idx1-ubyte", 8, 1}}) {
        const std::string to = (first / file).string();
        REQUIRE(run("gzip -dc " + kFashion + "/" + file + ".gz | head -c " + std::to_string(head + 1000 * item) + " > " + to).status == 0);
        std::fstream f(to, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4);
        const char count[4] = {0, 0, char(1000 >> 8), static_cast<char>(1000 & 0xff)};
        f.write(count, 4);
    }
    const Run tr = run(eval_cmd(first.string() + " --crop ten --batch 320"));
    REQUIRE(tr.status == 0);
    REQUIRE(!tr.lines().empty());
    CHECK(tr.lines().back()["images"] == 1000);

    // --limit on a set in memory: each item is named by its index in the file ("#k"), not in the sample
    std::ifstream label_file(first / "t10k-labels-idx1-ubyte", std::ios::binary);
    const std::string label_bytes((std::istreambuf_iterator<char>(label_file)), {});
    const Run some = run(eval_cmd(first.string() + " --limit 30 --per-image"));
    REQUIRE(some.status == 0);
    int beyond_30 = 0;
    for (const json& l : some.lines()) {
        if (!l.contains("correct_top1")) continue;
        const std::string path = l["path"];
        const int k = std::stoi(path.substr(path.rfind('#') + 1));
        CHECK(l["class"] == int(label_bytes.at(size_t(8 + k))));
        beyond_30 += k >= 30;
    }
    CHECK(beyond_30 > 0);  // drawn from the whole file
    const json t = tr.lines().back();
    MESSAGE("ten-crop top-1: " << t["top1_accuracy"] << "; PyTorch " << ten);
    CHECK(t["crop"] == "ten");
    CHECK(std::fabs(t["top1_accuracy"].get<double>() - ten) <= 0.0003);
}

TEST_CASE("alexnet-eval accounts for every item it cannot score, and --strict stops at the first") {
    TempDir dir;
    // A list with the shipped demo images, a missing file, a corrupt one and a label the model lacks.
    std::ofstream list(dir.path / "val.txt");
    const Weights ref = pytorch_reference();
    const json files = json::parse(ref.metadata.at("files"));
    const Tensor& labels = ref.at("labels");
    const Tensor& logits = ref.at("logits");
    int pytorch_correct = 0;
    for (size_t i = 0; i < files.size(); ++i) {
        list << kData << "/demo/" << files[i].get<std::string>() << " " << int(labels.floats()[i]) << "\n";
        const float* z = logits.floats() + i * 10;
        pytorch_correct += label_rank(z, 10, int(labels.floats()[i])) == 0;
    }
    std::ofstream(dir.path / "broken.png") << "not a png";
    list << "# comments and blank lines are skipped\n\n";
    list << "missing.png 3\nbroken.png 4\n" << kData << "/demo/0000-ankle-boot.png 12\n";
    list.close();

    const Run r = run(eval_cmd((dir.path / "val.txt").string() + " --per-image --topk 3 --batch 4"));
    INFO(r.err);
    CHECK(r.status == 1);  // items were skipped
    const auto lines = r.lines();
    REQUIRE(lines.size() == files.size() + 3 + 1);
    const json& s = lines.back();
    CHECK(s["images"] == files.size());
    CHECK(s["skipped"] == 3);
    CHECK(s["skipped_reasons"] == json{{"label_out_of_range", 1}, {"missing", 1}, {"unreadable", 1}});
    CHECK(s.contains("top3_error"));
    CHECK(!s.contains("top5_error"));
    CHECK(s["top1_accuracy"].get<double>() == doctest::Approx(double(pytorch_correct) / double(files.size())));
    int per_image = 0;
    const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    std::map<std::string, json> skipped;
    for (const auto& l : lines) {
        if (l.contains("skipped") && l.contains("error")) skipped[l["skipped"]] = l;
        if (!l.contains("top")) continue;
        ++per_image;
        CHECK(l["top"].size() == 5);
        CHECK(l["correct_top1"] == (l["top"][0]["class"] == l["class"]));
        CHECK(l["label"] == names.at(l["class"].get<size_t>()));  // the true class's name beside its index
        bool in3 = false;
        for (int j = 0; j < 3; ++j) in3 = in3 || l["top"][j]["class"] == l["class"];
        CHECK(l["correct_top3"] == in3);
    }
    CHECK(per_image == int(files.size()));
    REQUIRE(skipped.size() == 3);
    CHECK(skipped["missing"]["path"] == (dir.path / "missing.png").string());
    CHECK(skipped["missing"]["error"] == "no such file");
    CHECK(skipped["label_out_of_range"]["class"] == 12);
    CHECK(!skipped["label_out_of_range"].contains("label"));  // no name: the model has no class 12
    CHECK(skipped["missing"]["class"] == 3);
    CHECK(skipped["missing"]["label"] == "Dress");
    CHECK(skipped["label_out_of_range"]["error"] == "label: expected 0..9 (the model has 10 classes), found 12");
    CHECK(skipped["unreadable"]["path"] == (dir.path / "broken.png").string());

    const Run strict = run(eval_cmd((dir.path / "val.txt").string() + " --strict"));
    CHECK(strict.status == 1);
    CHECK(strict.out.empty());
    CHECK(strict.err == "alexnet-eval: " + (dir.path / "missing.png").string() + ": no such file (--strict)\n");

    const Run limited = run(eval_cmd((dir.path / "val.txt").string() + " --limit 4"));
    const json ls = limited.lines().back();  // 4 items drawn from all 13: scored or skipped, and counted
    CHECK(ls["images"].get<int>() + ls["skipped"].get<int>() == 4);
    CHECK(limited.status == (ls["skipped"] == 0 ? 0 : 1));

    const Run usage = run(eval_cmd(""));
    CHECK(usage.status == 2);
    CHECK(usage.err.find("give one data set") != std::string::npos);
}

TEST_CASE("alexnet-eval --limit on a class-sorted folder takes every class") {
    TempDir dir;
    for (const std::string cls : {"T-shirt_top", "Trouser"}) {
        fs::create_directories(dir.path / "val" / cls);
        for (int i = 0; i < 25; ++i)
            fs::copy_file(kData + "/demo/0002-trouser.png", dir.path / "val" / cls / (std::to_string(i) + ".png"));
    }
    const Run r = run(eval_cmd((dir.path / "val").string() + " --limit 20 --confusion " + (dir.path / "conf.png").string()));
    INFO(r.err);
    CHECK(r.status == 0);
    // The title names the folder with its parent, without a --split that does not apply to it
    std::ifstream svg(dir.path / "conf.svg");
    const std::string text((std::istreambuf_iterator<char>(svg)), {});
    CHECK(text.find("<title>Confusion matrix: " + dir.path.filename().string() + "/val, alexnet-28-fmnist.safetensors</title>") !=
          std::string::npos);
    const json s = r.lines().back();
    CHECK(s["images"] == 20);
    CHECK(s["per_class"][0]["images"] == 10);  // T-shirt/top
    CHECK(s["per_class"][1]["images"] == 10);  // Trouser
    CHECK(s["per_class"][1]["top1_accuracy"] == 1.0);
}
