// alexnet-train as a user runs it, on a small synthetic IDX data set: learning, outputs, exact
// resume, signals, a diverging run, fine-tuning with a new head.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "cli_util.hpp"
#include "figure_util.hpp"
#include "synthetic_idx.hpp"
#include "formats/model_file.hpp"
#include "formats/safetensors.hpp"
#include "test_util.hpp"
#include "engine/precision.hpp"
#include "train/checkpoint.hpp"

using namespace alexnet;
using alexnet::test::kBin;
using alexnet::test::check_png_size;
using alexnet::test::count_colour;
using alexnet::test::read_figure;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
using alexnet::test::write_quadrants;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Data {
    TempDir dir;
    Data() {
        write_quadrants(dir.path, "train", 256, 1);
        write_quadrants(dir.path, "t10k", 64, 2);
    }
    std::string path() const { return dir.path.string(); }
};

std::string train_cmd(const Data& d, const std::string& out, const std::string& args) {
    return kBin + "/alexnet-train -q --data " + d.path() + " --val " + d.path() + " --arch alexnet-28 --init kaiming" +
           " --batch-size 32 --lr 0.01 --warmup-epochs 1 --dropout 0.5 --no-flip --loader-threads 2 --out " + out + " " + args;
}

std::vector<json> with_key(const std::vector<json>& lines, const std::string& key) {
    std::vector<json> out;
    for (const auto& l : lines)
        if (l.contains(key) && !l.contains("summary")) out.push_back(l);
    return out;
}

}  // namespace

TEST_CASE("alexnet-train learns the synthetic set and writes model, checkpoint and curves") {
    Data d;
    TempDir out;
    const Run r = run(train_cmd(d, out.path.string(), "--epochs 5 --log-every 4"));
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto lines = r.lines();
    REQUIRE(lines.size() >= 5);
    CHECK(lines.front()["event"] == "start");
    CHECK(lines.front()["classes"] == 4);
    CHECK(lines.front()["iters_per_epoch"] == 8);
    const auto intervals = with_key(lines, "iter");
    REQUIRE(intervals.size() == 10);
    for (const char* k : {"epoch", "iter", "loss", "lr", "train_top1_error", "images_per_sec"}) CHECK(intervals[0].contains(k));
    const auto epochs = with_key(lines, "val_top1_error");
    REQUIRE(epochs.size() == 5);
    CHECK(epochs[4]["val_top1_error"].get<double>() < 0.2);  // chance: 0.75
    CHECK(epochs[4]["train_loss"].get<double>() < epochs[0]["train_loss"].get<double>());
    CHECK(lines.back()["summary"] == true);
    CHECK(lines.back()["best_val_top1_error"].get<double>() < 0.2);

    LoadedModel m = load_model((out.path / "model.safetensors").string());
    CHECK(m.spec.arch == "alexnet-28");
    const Checkpoint ck = load_checkpoint((out.path / "last.safetensors").string());
    CHECK(ck.state.epoch == 5);
    CHECK(ck.state.step == 40);
    CHECK(ck.state.history.size() == 5);
    // Two panels, about 14 x 6 inches at 144 dpi, with an SVG beside; training in Okabe-Ito blue,
    // validation in vermillion.
    const auto curves = read_figure((out.path / "curves.png").string());
    check_png_size(curves, 1900, 2100, 800, 950);
    CHECK(count_colour(curves.png, 0x0072b2) > 500);
    CHECK(count_colour(curves.png, 0xd55e00) > 500);
    std::ifstream svg(out.path / "curves.svg");
    const std::string svg_text((std::istreambuf_iterator<char>(svg)), {});
    CHECK(svg_text.find("<title>alexnet-28 trained on " + d.dir.path.filename().string() + "</title>") != std::string::npos);

    // The model classifies like the validation said: alexnet-classify reads it directly.
    cv::Mat img(28, 28, CV_8UC1, cv::Scalar(60));
    img(cv::Rect(14, 0, 14, 14)).setTo(120);  // top right: class 1
    cv::imwrite((out.path / "q1.png").string(), img);
    const Run c = run(kBin + "/alexnet-classify -q --top 1 --weights " + (out.path / "model.safetensors").string() + " " +
                      (out.path / "q1.png").string());
    REQUIRE(c.status == 0);
    CHECK(c.lines()[0]["top"][0]["class"] == 1);
}

namespace {

// A run stopped after 5 steps and resumed against one that was not, with `args` (a precision).
void check_exact_resume(const std::string& args) {
    Data d;
    TempDir a, b;
    const Run full = run(train_cmd(d, a.path.string(), "--epochs 2 --log-every 1 --seed 7 " + args));
    REQUIRE(full.status == 0);
    const Run first = run(train_cmd(d, b.path.string(), "--epochs 2 --log-every 1 --seed 7 --stop-after 5 " + args));
    REQUIRE(first.status == 0);
    CHECK(first.lines().back()["stopped"] == "stop-after");
    const Run rest = run(kBin + "/alexnet-train -q --log-every 1 --resume " + (b.path / "last.safetensors").string());
    INFO(rest.err);
    REQUIRE(rest.status == 0);

    const auto want = with_key(full.lines(), "iter");
    auto got = with_key(first.lines(), "iter");
    for (const auto& l : with_key(rest.lines(), "iter")) got.push_back(l);
    REQUIRE(want.size() == 16);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i]["iter"] == want[i]["iter"]);
        CHECK(got[i]["loss"] == want[i]["loss"]);
        CHECK(got[i]["train_top1_error"] == want[i]["train_top1_error"]);
    }
    const auto ea = with_key(full.lines(), "val_top1_error"), eb = with_key(rest.lines(), "val_top1_error");
    REQUIRE(eb.size() == 2);
    CHECK(ea[0]["train_loss"] == eb[0]["train_loss"]);  // the interrupted epoch reports all its batches
    CHECK(ea[1]["val_loss"] == eb[1]["val_loss"]);
    const Weights wa = read_safetensors((a.path / "last.safetensors").string());
    const Weights wb = read_safetensors((b.path / "last.safetensors").string());
    for (const auto& name : wa.names()) {
        CAPTURE(name);
        const Tensor &x = wa.at(name), &y = wb.at(name);
        REQUIRE(x.numel() == y.numel());
        CHECK(std::equal(x.floats(), x.floats() + x.numel(), y.floats()));
    }
}

}  // namespace

TEST_CASE("a run stopped mid-epoch and resumed gives the same losses and weights as one that was not") {
    check_exact_resume("");
}

TEST_CASE("a bf16 run resumes bit for bit, in bf16 (the checkpoint's), and its model runs in every tool [needs bf16]") {
    if (!test::cpu_runs(Precision::bf16)) return;
    check_exact_resume("--precision bf16");
    Data d;
    TempDir out;
    const Run r = run(train_cmd(d, out.path.string(), "--epochs 3 --precision bf16"));
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.lines().front()["precision"] == "bf16");
    CHECK(r.lines().back()["best_val_top1_error"].get<double>() < 0.2);  // chance: 0.75
    const Checkpoint ck = load_checkpoint((out.path / "last.safetensors").string());
    CHECK(ck.options["precision"] == "bf16");
    // The master weights are f32: values a bf16 copy could not hold.
    const Tensor& w = ck.model.weights.at("conv1.weight");
    int64_t beyond_bf16 = 0;
    for (int64_t i = 0; i < w.numel(); ++i) beyond_bf16 += round_to_bf16(w.floats()[i]) != w.floats()[i];
    CHECK(beyond_bf16 > w.numel() / 2);
    const std::string model = (out.path / "model.safetensors").string();
    for (const std::string precision : {"fp32", "bf16"}) {
        const Run e = run(kBin + "/alexnet-eval -q --precision " + precision + " -w " + model + " " + d.path());
        CAPTURE(precision);
        CHECK(e.status == 0);
        CHECK(e.lines().back()["top1_error"].get<double>() < 0.2);
    }
}


TEST_CASE("bf16 training is refused in one line where the CPU lacks AVX512-BF16 (here capped to AVX2)") {
    Data d;
    TempDir out;
    const Run r = run("ONEDNN_MAX_CPU_ISA=AVX2 " + train_cmd(d, out.path.string(), "--epochs 1 --precision bf16"));
    CHECK(r.status == 2);  // as every tool refuses a --precision its CPU cannot run
    CHECK(r.out.empty());
    CHECK(r.err.rfind("alexnet-train: --precision: bf16: expected a CPU with AVX512-BF16 (oneDNN ISA avx512_core_bf16 or "
                      "newer), found avx2 on this CPU (oneDNN's effective ISA), where fp32 and int8 run\n", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(!fs::exists(out.path / "last.safetensors"));
}

TEST_CASE("SIGINT and SIGTERM: the step finishes, the checkpoint is written, exit 130 / 143") {
    Data d;
    for (const auto& sig_code : {std::pair<std::string, int>{"INT", 130}, {"TERM", 143}}) {
        const auto& [sig, code] = sig_code;
        CAPTURE(sig_code.first);  // not the binding: clang 14 cannot capture one
        TempDir out;
        const std::string log = (out.path / "log.jsonl").string();
        const Run r = run(train_cmd(d, out.path.string(), "--epochs 100000 --log-every 1") + " > " + log +
                          " & p=$!; for i in $(seq 600); do grep -q iter " + log + " && break; sleep 0.05; done; kill -" +
                          sig + " $p; wait $p; echo $?");
        CHECK(std::stoi(r.out) == code);
        const Checkpoint ck = load_checkpoint((out.path / "last.safetensors").string());
        CHECK(ck.state.step >= 1);
        std::ifstream in(log);
        std::string line, last;
        while (std::getline(in, line)) last = line;
        CHECK(json::parse(last)["stopped"] == "SIG" + sig);
        CHECK(json::parse(last)["iter"] == ck.state.step);
    }
}

TEST_CASE("a diverging run stops at the first non-finite loss and keeps the last good checkpoint") {
    Data d;
    TempDir out;
    const Run r = run(train_cmd(d, out.path.string(), "--epochs 50 --lr 1e9 --momentum 0.99 --dropout 0"));
    CHECK(r.status == 1);
    CHECK(r.err.find("the loss became") != std::string::npos);
    REQUIRE(!r.lines().empty());
    CHECK(r.lines().back()["stopped"] == "non-finite loss");
}

TEST_CASE("the images a whole-batch epoch leaves out are counted in the start line and said on stderr") {
    Data d;  // 256 training images
    TempDir out;
    const std::string cmd = train_cmd(d, out.path.string(), "--epochs 1 --batch-size 96");
    const Run r = run(cmd.substr(0, cmd.find(" -q ")) + cmd.substr(cmd.find(" -q ") + 3));  // without -q
    REQUIRE(r.status == 0);
    CHECK(r.lines().front()["iters_per_epoch"] == 2);
    CHECK(r.lines().front()["left_out_per_epoch"] == 64);
    CHECK(r.err.find("alexnet-train: 64 training images of 256 sit out each epoch (2 whole batches of 96; the shuffle "
                     "leaves out others each epoch)\n") != std::string::npos);
    const Run whole = run(train_cmd(d, out.path.string(), "--epochs 1 --batch-size 64"));
    REQUIRE(whole.status == 0);
    REQUIRE(!whole.lines().empty());
    CHECK(whole.lines().front()["left_out_per_epoch"] == 0);
}

TEST_CASE("a run whose loss grows a thousandfold while staying finite is stopped too, with a hint") {
    Data d;
    TempDir out;
    // Before the stop, such runs went on: on Fashion-MNIST at lr 0.05 without warm-up the loss went
    // 17 -> 1e3 -> 2e6 -> 2e20, then sat at chance (2.30) with its ReLUs dead, and exit 0.
    const Run r = run(train_cmd(d, out.path.string(), "--epochs 2 --lr 5 --warmup-epochs 0 --log-every 1"));
    CHECK(r.status == 1);
    CHECK(r.err.rfind("alexnet-train: the loss grew from ", 0) == 0);
    CHECK(r.err.find(" (over 1000 times where it started) at epoch 1, iteration ") != std::string::npos);
    CHECK(r.err.find("Try a lower --lr.\n") != std::string::npos);
    REQUIRE(!r.lines().empty());
    const json last = r.lines().back();
    CHECK(last["stopped"] == "diverging loss");
    CHECK(last["loss"].get<double>() > 1000 * std::log(2.0));
    CHECK(std::isfinite(last["loss"].get<double>()));
}

TEST_CASE("fine-tuning on a set with another class count re-initialises fc8 only") {
    Data d;
    TempDir base, tuned, three;
    REQUIRE(run(train_cmd(d, base.path.string(), "--epochs 1")).status == 0);
    write_quadrants(three.path, "train", 96, 3, 3);
    const Run r = run(kBin + "/alexnet-train -q --data " + three.path.string() + " --epochs 1 --batch-size 32 --lr 1e-20 " +
                      "--weights " + (base.path / "model.safetensors").string() + " --out " + tuned.path.string() +
                      " --log-every 0 --dropout 0");
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.lines().front()["classes"] == 3);
    const LoadedModel before = load_model((base.path / "model.safetensors").string());
    const LoadedModel after = load_model((tuned.path / "model.safetensors").string());
    CHECK(after.spec.num_classes() == 3);
    const Tensor &w0 = before.weights.at("conv3.weight"), &w1 = after.weights.at("conv3.weight");
    CHECK(alexnet::test::relative_max_error(w1.floats(), w0.floats(), size_t(w0.numel())) < 1e-6);  // the body is the base's
    const Tensor &b0 = before.weights.at("fc8.weight"), &b1 = after.weights.at("fc8.weight");
    CHECK(b0.shape[0] == 4);
    CHECK(b1.shape[0] == 3);
}

TEST_CASE("alexnet-train usage errors exit 2, bad data exits 1 with the file named") {
    Data d;
    TempDir out;
    CHECK(run(train_cmd(d, out.path.string(), "--lr-policy cyclic")).status == 2);
    CHECK(run(train_cmd(d, out.path.string(), "--arch vgg")).status == 2);
    CHECK(run(train_cmd(d, out.path.string(), "--activation swish")).status == 2);
    const Run r = run(kBin + "/alexnet-train -q --data " + (out.path / "missing").string());
    CHECK(r.status == 1);
    CHECK(r.err.find((out.path / "missing").string() + ": data set: expected an existing file or folder") !=
          std::string::npos);
    const Run none = run(kBin + "/alexnet-train -q");
    CHECK(none.status == 2);
}

TEST_CASE("a convnet-4 model from alexnet-train loads in alexnet-eval, which measures what training recorded") {
    Data d;
    TempDir out;
    const Run r = run(kBin + "/alexnet-train -q --data " + d.path() + " --val " + d.path() +
                      " --arch convnet-4 --init kaiming --batch-size 32 --lr 0.01 --epochs 2 --no-flip --out " +
                      out.path.string());
    INFO(r.err);
    REQUIRE(r.status == 0);
    const std::string model = (out.path / "model.safetensors").string();
    const json trained = json::parse(read_safetensors(model).metadata.at("training"));
    const Run e = run(kBin + "/alexnet-eval -q --top5 --weights " + model + " " + d.path());
    INFO(e.err);
    REQUIRE(e.status == 0);
    const json s = e.lines().back();
    CHECK(s["images"] == 64);
    CHECK(s["top1_error"].get<double>() == doctest::Approx(trained["val_top1_error"].get<double>()));
    CHECK(s["top5_error"].get<double>() == 0);  // 4 classes: top-5 always hits
}

// A cap on what one run may allocate. AddressSanitizer reserves terabytes of address space, so a
// sanitized build caps single allocations instead of the address space (ulimit -v aborts it).
#if defined(__SANITIZE_ADDRESS__)
#define ALEXNET_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALEXNET_TEST_ASAN 1
#endif
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ALEXNET_TEST_TSAN 1
#endif
#endif
#ifdef ALEXNET_TEST_ASAN
const std::string kMemoryCap = "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=8000 ";
#elif defined(ALEXNET_TEST_TSAN)  // likewise under ThreadSanitizer (make tsan)
const std::string kMemoryCap = "TSAN_OPTIONS=\"${TSAN_OPTIONS:+$TSAN_OPTIONS }max_allocation_size_mb=8000\" ";
#else
const std::string kMemoryCap = "ulimit -v 8000000; ";
#endif

TEST_CASE("a tampered checkpoint is refused field by field before any work (issue 12, item 6)") {
    Data d;
    TempDir out, resumed;
    REQUIRE(run(train_cmd(d, out.path.string(), "--epochs 2 --log-every 0 --stop-after 3")).status == 0);
    const std::string last = (out.path / "last.safetensors").string(), bad = (out.path / "bad.safetensors").string();
    // Rewrites the checkpoint's JSON with `edit` and resumes from it (memory capped: the unchecked
    // pad asked for 40 GB).
    const auto resume_with = [&](const std::function<void(json&)>& edit) {
        Weights w = read_safetensors(last);
        json ck = json::parse(w.metadata.at("checkpoint"));
        edit(ck);
        w.metadata["checkpoint"] = ck.dump();
        write_safetensors(bad, w);
        return run(kMemoryCap + "timeout 120 " + kBin + "/alexnet-train -q --resume " + bad + " --out " +
                   resumed.path.string());
    };
    const std::string prefix = bad + ": __metadata__.checkpoint.";
    const std::vector<std::pair<std::function<void(json&)>, std::string>> cases{
        {[](json& c) { c["batch"] = -1000000; }, "batch: expected an integer from 0 to 2147483647, found -1000000"},
        {[](json& c) { c["batch"] = 2000000000; },
         "batch: expected a batch index from 0 to 8 (batches per epoch of this data set), found 2000000000"},
        {[](json& c) { c["options"]["pad"] = 100000; }, "options.pad: expected 0..64, found 100000"},
        {[](json& c) { c["step"] = -7; }, "step: expected an integer from 0 to 1125899906842624, found -7"},
        {[](json& c) { c["step"] = 4; },
         "step: expected 3 (epoch 0 x 8 batches + batch 3; has the data set changed?), found 4"},
        {[](json& c) { c["options"]["batch"] = 0; }, "options.batch: expected 1..65536, found 0"},
        {[](json& c) { c["options"]["lr_step"] = 0; }, "options.lr_step: expected a positive number of epochs, found 0"},
        {[](json& c) { c["epoch_stats"]["top1"] = 500; }, "epoch_stats.top1: expected an integer from 0 to 96, found 500"},
        {[](json& c) { c["history"] = json::array({json::object()}); },
         "history: expected one record per epoch done (0), found [{}]"},
        {[](json& c) { c["options"]["lighting_values"]["stddev"] = "x"; },
         "options.lighting_values: expected stddev, eigval[3] and eigvec[3][3] numbers"},
        {[](json& c) { c["lr_state"] = 7; }, "lr_state: expected an object, found 7"},
    };
    for (const auto& edit_message : cases) {
        const auto& [edit, message] = edit_message;
        CAPTURE(edit_message.second);  // not the binding: clang 14 cannot capture one
        const Run r = resume_with(edit);
        CHECK(r.status == 1);
        CHECK(r.out.empty());  // nothing ran
        CHECK(r.err.find(prefix + message) != std::string::npos);
        INFO(r.err);
    }
    const Run ok = resume_with([](json&) {});
    CHECK(ok.status == 0);
}

TEST_CASE("stale temporaries in --out are removed at start-up; an unwritable --out fails before training (items 14, 15)") {
    Data d;
    TempDir out;
    for (const char* stale : {"last.safetensors.tmp.Ab12Cd", "model.safetensors.tmp.x9Y8z7", "curves.png.tmp.QQQQQQ"})
        std::ofstream(out.path / stale) << "left by a run killed with -9";
    std::ofstream(out.path / "notes.tmp.Ab12Cd") << "not ours";
    const Run r = run(train_cmd(d, out.path.string(), "--epochs 1 --log-every 0 --stop-after 1"));
    INFO(r.err);
    REQUIRE(r.status == 0);
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(out.path)) left.push_back(e.path().filename().string());
    std::sort(left.begin(), left.end());
    CHECK(left == std::vector<std::string>{"last.safetensors", "notes.tmp.Ab12Cd"});

    const Run ro = run(train_cmd(d, "/sys", "--epochs 1"));
    CHECK(ro.status == 1);
    CHECK(ro.out.empty());  // no "start" line: no epoch was trained
    CHECK(ro.err.find("/sys: cannot write in this folder: Permission denied") != std::string::npos);
}
