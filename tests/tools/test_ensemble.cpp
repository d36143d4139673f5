// Ensembles (several --weights in alexnet-classify and alexnet-eval): the probabilities are the
// mean of the members' own runs, members that preprocess differently each get their own input,
// and members that disagree on the classes, or options that apply to one model, are refused.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "cli_util.hpp"
#include "formats/model_file.hpp"
#include "test_util.hpp"

using namespace alexnet;
using alexnet::test::kBin;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
using nlohmann::json;

namespace {

const std::string kData = ALEXNET_DATA_DIR;
const std::string kModel = kData + "/alexnet-28-fmnist.safetensors";
const std::string kInt8 = kData + "/alexnet-28-fmnist-int8.safetensors";
const std::string kDemo = kData + "/demo";
const std::string kFashion = "/usr/share/datasets/fashion-mnist";

// The shipped model with `edit` applied to its spec and labels, written to `path`.
template <class Edit>
std::string edited_model(const std::string& path, Edit edit) {
    LoadedModel m = load_model(kModel);
    edit(m);
    save_model(path, m.spec, m.weights, m.labels);
    return path;
}

// Another member that preprocesses differently: resized to 32 and centre-cropped to 28 (the
// shipped model warps to 28), with another mean. Its images go through a block of their own.
std::string resized_member(const TempDir& dir) {
    return edited_model(dir / "resize32.safetensors", [](LoadedModel& m) {
        m.spec.preprocessing.resize = 32;
        m.spec.preprocessing.mean[0] = 0.25f;
    });
}

// path -> class -> probability, from alexnet-classify -k 10 (every class).
using Probs = std::map<std::string, std::map<int, double>>;
Probs classify(const std::string& weights, const std::string& extra = "", const std::string& inputs = kDemo,
               int classes = 10) {
    const Run r = run(kBin + "/alexnet-classify -q -k " + std::to_string(classes) + " " + weights + " " + extra + " " +
                      inputs);
    REQUIRE_MESSAGE(r.status == 0, r.err);
    Probs p;
    for (const json& line : r.lines())
        for (const json& top : line["top"]) p[line["path"]][top["class"].get<int>()] = top["prob"].get<double>();
    return p;
}

// Every probability of `ensemble` is the mean of the members' (float sums: within 1e-6).
void check_mean(const Probs& ensemble, const std::vector<Probs>& members, size_t classes = 10) {
    REQUIRE(ensemble.size() == members[0].size());
    REQUIRE(ensemble.size() >= 8);
    double worst = 0;
    for (const auto& [path, probs] : ensemble) {
        REQUIRE(probs.size() == classes);
        for (const auto& [c, p] : probs) {
            double sum = 0;
            for (const Probs& m : members) sum += m.at(path).at(c);
            worst = std::max(worst, std::fabs(p - sum / double(members.size())));
        }
    }
    CHECK(worst < 1e-6);
}

}  // namespace

TEST_CASE("an ensemble's probabilities are the mean of its members' own runs") {
    TempDir dir;
    const std::string resized = resized_member(dir);
    for (const std::string crop : {"center", "ten"}) {
        CAPTURE(crop);
        const std::string extra = "--crop " + crop;
        const Probs a = classify("-w " + kModel, extra), b = classify("-w " + resized, extra);
        // The members differ (another preprocessing gives other numbers), so the mean is a real check.
        CHECK(std::fabs(a.begin()->second.at(0) - b.begin()->second.at(0)) > 1e-7);
        check_mean(classify("-w " + kModel + " -w " + resized, extra), {a, b});
        // Three members, one of them int8 (its default precision), in a batch that ends short.
        const Probs q = classify("-w " + kInt8, extra + " -b 7");
        check_mean(classify("-w " + kModel + " -w " + kInt8 + " -w " + resized, extra + " -b 7"), {a, q, b});
    }
}

TEST_CASE("JPEGs: members of other resize targets see the decode they see alone (a DCT reduction each)") {
    // The photos (shorter side 256) decode at a reduction that depends on the resize target: the
    // shipped model's 28 allows 1/8 (32 pixels), a member resizing to 60 only 1/4 (64). Each member's block comes
    // from its own decode, so the ensemble is still the mean of the members' own runs.
    TempDir dir;
    const std::string larger = edited_model(dir / "resize60.safetensors", [](LoadedModel& m) { m.spec.preprocessing.resize = 60; });
    const std::string photos = std::string(ALEXNET_FIXTURES) + "/photos";
    const Probs a = classify("-w " + kModel, "", photos), b = classify("-w " + larger, "", photos);
    check_mean(classify("-w " + kModel + " -w " + larger, "", photos), {a, b});
}

TEST_CASE("members of other architectures, input sizes and channel orders each get their own input") {
    // Caffe's alexnet (227x227, BGR, Caffe's mean) and torchvision's (224x224, RGB, ImageNet's
    // mean and std), both narrow with 11 classes, on JPEG photos of several sizes.
    const std::string caffe = std::string(ALEXNET_FIXTURES) + "/narrow_alexnet.safetensors";
    const std::string tv = std::string(ALEXNET_FIXTURES) + "/narrow_alexnet-tv.safetensors";
    const std::string photos = std::string(ALEXNET_FIXTURES) + "/photos";
    for (const std::string crop : {"center", "ten"}) {
        CAPTURE(crop);
        const std::string extra = "--crop " + crop + " -b 7";
        const Probs a = classify("-w " + caffe, extra, photos, 11), b = classify("-w " + tv, extra, photos, 11);
        check_mean(classify("-w " + caffe + " -w " + tv, extra, photos, 11), {a, b}, 11);
    }
}

TEST_CASE("alexnet-eval scores the ensemble and reports each member alone") {
    TempDir dir;
    const std::string resized = resized_member(dir);
    auto summary = [&](const std::string& weights) {
        const Run r = run(kBin + "/alexnet-eval -q --limit 300 --top5 --per-image " + weights + " " + kFashion);
        REQUIRE_MESSAGE(r.status == 0, r.err);
        return r.lines();
    };
    const std::vector<json> a = summary("-w " + kModel), b = summary("-w " + resized);
    const std::vector<json> e = summary("-w " + kModel + " -w " + resized);
    REQUIRE(e.size() == 301);
    const json& s = e.back();
    CHECK(s["weights"] == json::array({kModel, resized}));
    REQUIRE(s["members"].size() == 2);
    for (int i = 0; i < 2; ++i) {
        const json& alone = (i == 0 ? a : b).back();
        CHECK(s["members"][i]["weights"] == alone["weights"]);
        CHECK(s["members"][i]["precision"] == "fp32");
        CHECK(s["members"][i]["top1_error"] == alone["top1_error"]);
        CHECK(s["members"][i]["top5_error"] == alone["top5_error"]);
    }
    // Each image's ensemble probabilities are the mean of the members' (the top 5 of each line),
    // and the ensemble's top-1 error counts the ensemble's top class.
    int64_t wrong = 0;
    for (size_t i = 0; i + 1 < e.size(); ++i) {
        std::map<int, double> pa, pb;
        for (const json& t : a[i]["top"]) pa[t["class"]] = t["prob"];
        for (const json& t : b[i]["top"]) pb[t["class"]] = t["prob"];
        for (const json& t : e[i]["top"])
            if (pa.count(t["class"]) && pb.count(t["class"]))
                CHECK(std::fabs(t["prob"].get<double>() - (pa[t["class"]] + pb[t["class"]]) / 2) < 1e-6);
        wrong += !e[i]["correct_top1"].get<bool>();
    }
    CHECK(s["top1_error"].get<double>() == doctest::Approx(double(wrong) / 300).epsilon(1e-12));
    CHECK(s["per_class"].size() == 10);
}

TEST_CASE("members that disagree on the classes, and one-model options, are refused in one line") {
    TempDir dir;
    const std::string renamed = edited_model(dir / "renamed.safetensors", [](LoadedModel& m) { m.labels[3] = "Gown"; });
    Run r = run(kBin + "/alexnet-classify -w " + kModel + " -w " + renamed + " " + kDemo);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "alexnet-classify: ensemble members disagree on the classes: class 3 is \"Dress\" in " + kModel +
                       ", \"Gown\" in " + renamed + "\n");
    const std::string narrow = std::string(ALEXNET_FIXTURES) + "/narrow_alexnet.safetensors";
    r = run(kBin + "/alexnet-eval -w " + kModel + " -w " + narrow + " " + kFashion);
    CHECK(r.status == 2);
    CHECK(r.err == "alexnet-eval: ensemble members disagree on the classes: " + kModel + " has 10, " + narrow +
                       " has 11\n");
    r = run(kBin + "/alexnet-classify -w " + kModel + " -w " + kModel + " --resize 32 " + kDemo);
    CHECK(r.status == 2);
    CHECK(r.err == "alexnet-classify: --mean, --std, --rgb, --bgr, --resize and --crop-size apply to one model; with "
                   "several --weights each member preprocesses as its own metadata says\n");
    r = run(kBin + "/alexnet-embed -w " + kModel + " -w " + kModel + " " + kDemo);
    CHECK(r.status == 2);
    CHECK(r.err == "alexnet-embed: --weights given 2 times: only alexnet-classify and alexnet-eval take several (an "
                   "ensemble); alexnet-embed takes one\n");
    r = run(kBin + "/alexnet-eval --compare-precision -w " + kModel + " -w " + kInt8 + " " + kFashion);
    CHECK(r.status == 2);
    CHECK(r.err == "alexnet-eval: --compare-precision compares one model with its fp32 self; give one --weights\n");
    // --summary: a line per member.
    r = run(kBin + "/alexnet-classify --summary -w " + kModel + " -w " + kInt8);
    CHECK(r.status == 0);
    REQUIRE(r.lines().size() == 2);
    CHECK(r.lines()[1]["arch"] == "alexnet-28");
    CHECK(r.lines()[1]["weights"] == kInt8);
    r = run(kBin + "/alexnet-embed --summary -w " + kModel + " -w " + kInt8);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    // One --weights still takes the inputs after it as inputs.
    r = run(kBin + "/alexnet-classify -q -w " + kModel + " " + kDemo + "/0000-ankle-boot.png");
    CHECK(r.status == 0);
    CHECK(r.lines().size() == 1);
}
