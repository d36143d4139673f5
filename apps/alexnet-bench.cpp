// alexnet-bench: speed with random weights, like `caffe time`: warm-up runs, then timed runs
// reported as min/median/max. One JSON line per measurement; a subcommand picks what is measured
// (apps/bench/bench.hpp), none runs the default set.
#include <cstring>
#include <map>

#include "bench/bench.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/temp_dir.hpp"
#include "engine/inference_net.hpp"
#include "formats/model_file.hpp"
#include "model/summary.hpp"
#include "parallel/communicator.hpp"
#include "parallel/gradient_reducer.hpp"

using namespace alexnet;

namespace {

// The flags that were "only ... and exit" switches before the subcommands (kept for one release):
// argv with the subcommand in their place, first, and a note on stderr.
std::vector<std::string> translate_old_flags(int argc, char** argv) {
    static const std::map<std::string, std::pair<std::string, bool>> old = {  // flag -> subcommand, takes a value
        {"--precision-only", {"precision", false}}, {"--training", {"training", false}},
        {"--allreduce", {"allreduce", false}},      {"--summary", {"summary", false}},
        {"--under-load", {"under-load", true}},     {"--write-random-weights", {"random-weights", true}},
        {"--make-jpegs", {"make-jpegs", true}}};
    std::vector<std::string> args(argv, argv + argc), rest{args[0]}, sub;
    bool quiet = false;
    for (size_t i = 1; i < args.size(); ++i) {
        const std::string a = args[i], name = a.substr(0, a.find('='));
        quiet = quiet || a == "-q" || a == "--quiet";
        const auto found = old.find(name);
        if (found == old.end() || !sub.empty()) {
            rest.push_back(a);
            continue;
        }
        sub.push_back(found->second.first);
        if (found->second.second && a.find('=') != std::string::npos) sub.push_back(a.substr(a.find('=') + 1));
        else if (found->second.second && i + 1 < args.size()) sub.push_back(args[++i]);
    }
    if (sub.empty()) return args;
    if (!quiet)
        std::cerr << "alexnet-bench: " << (sub.size() > 1 ? sub[0] + " " + sub[1] : sub[0])
                  << " is a subcommand now: alexnet-bench " << sub[0] << (sub.size() > 1 ? " " + sub[1] : "")
                  << " [OPTIONS] (the old flag goes in the next release)\n";
    rest.insert(rest.begin() + 1, sub.begin(), sub.end());
    return rest;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Benchmark AlexNet (random weights). Without a subcommand: per-layer times, images/s, latency, "
                 "start-up, decoding, and the end-to-end embed path",
                 "alexnet-bench"};
    app.fallthrough();  // the options below may follow the subcommand
    app.require_subcommand(0, 1);
    bench::Settings s;
    s.bucket_mb = GradientReducer::kDefaultBucketMb;
    bool skip_embed = false, quiet = false;  // run_tool reads -q: no "stopped by" line on a signal
    int neighbours = 0;
    std::string file;
    app.add_option("--arch", s.arch, "alexnet | caffenet | alexnet-tv | ...")->capture_default_str();
    app.add_option("--batches", s.batches, "forward: batch sizes for images/s")->delimiter(',')->capture_default_str();
    app.add_option("--warmup", s.warmup, "Untimed runs first")->check(in_range(0, 1000))->capture_default_str();
    app.add_option("--runs", s.runs, "Timed runs per measurement")->check(in_range(1, 100000))->capture_default_str();
    app.add_option("--latency-runs", s.latency_runs, "forward, precision: timed batch-1 runs for the latency median")
        ->check(in_range(1, 100000))->capture_default_str();
    app.add_option("--layer-batch", s.layer_batch, "forward: batch size of the per-layer timing")
        ->check(in_range(1, 4096))->capture_default_str();
    app.add_option("-t,--threads", s.threads, "Compute threads (0: all cores)")->capture_default_str();
    app.add_option("--images", s.images_dir, "embed: folder of JPEGs (default: --embed-images generated 500x375 JPEGs)");
    app.add_option("--embed-images", s.embed_images, "embed, make-jpegs: how many JPEGs to generate")
        ->check(in_range(1, 100000))->capture_default_str();
    app.add_flag("--skip-embed", skip_embed, "The default run without the end-to-end embed path");
    app.add_option("--precisions", s.precisions, "precision, embed: the precisions compared (fp32 first)")
        ->delimiter(',')->check(one_of({"fp32", "bf16", "int8"}))->capture_default_str();
    app.add_option("--train-batch", s.train_batch, "training: batch size; allreduce: the global batch")
        ->check(in_range(1, 4096))->capture_default_str();
    app.add_option("--bucket-mb", s.bucket_mb, "allreduce: bucket size of the overlapped sums")
        ->check(in_range(0.001, 65536.0))->capture_default_str();
    app.add_flag("-q,--quiet", quiet, "Nothing on stderr but errors (the bench writes only JSON lines otherwise too)");

    // name -> what it measures; the default run is forward, startup, decode and embed.
    app.add_subcommand("forward", "Per-layer times, images/s per --batches, batch-1 latency");
    app.add_subcommand("embed", "alexnet-embed's own path end to end (decode threads, fc7, batch 32), per precision");
    app.add_subcommand("startup", "alexnet-classify --help, and one JPEG classified from a weights file");
    app.add_subcommand("decode", "Core-ms to read, decode and preprocess a 4000x3000 and a 500x375 JPEG");
    app.add_subcommand("precision", "--precisions side by side, interleaved: images/s at batch 32, latency, peak memory");
    app.add_subcommand("training", "Training steps (forward, loss, backward, SGD update) at --train-batch");
    app.add_subcommand("allreduce", "Under mpirun: one allreduce of every gradient, and steps without sums, with one "
                                    "sum after the backward pass, and with buckets summed during it");
    app.add_subcommand("under-load", "Throughput beside N busy processes of its own, as a ratio to the fair share")
        ->add_option("N", neighbours, "Busy processes")->required()->check(in_range(1, 64));
    app.add_subcommand("summary", "The --arch model summary as JSON");
    app.add_subcommand("random-weights", "Write seeded random weights for --arch (for trying the other tools)")
        ->add_option("FILE", file, "The safetensors file to write")->required();
    app.add_subcommand("make-jpegs", "Write --embed-images 500x375 JPEGs into a folder")
        ->add_option("DIR", file, "The folder")->required();

    std::vector<std::string> args = translate_old_flags(argc, argv);
    std::vector<char*> args_c;
    for (auto& a : args) args_c.push_back(a.data());
    return run_tool(app, int(args_c.size()), args_c.data(), [&] {
        const std::string sub = app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name();
        bench::Lines out;
        if (sub == "allreduce") world();  // MPI first: the cores are shared among a machine's processes
        set_num_threads(threads_per_process(s.threads));
        const ModelSpec spec = make_preset(s.arch);
        if (sub == "summary") out.write(alexnet::to_json(summarize(spec)));
        if (sub == "make-jpegs") {
            bench::make_jpegs(file, s.embed_images);
            out.write({{"written", file}, {"images", s.embed_images}});
        }
        if (sub == "random-weights") {
            Weights marker;  // the tools say so when they run such a file
            marker.metadata["random"] = "seeded random weights written by alexnet-bench random-weights, not trained";
            save_model(file, spec, random_weights(spec, 1), {}, &marker);
            out.write({{"written", file}, {"arch", s.arch}});
        }
        if (sub == "training") bench::training(s, spec, out);
        if (sub == "allreduce") bench::allreduce(s, spec, out);
        if (sub == "summary" || sub == "make-jpegs" || sub == "random-weights" || sub == "training" || sub == "allreduce")
            return 0;
        const Weights weights = random_weights(spec, 1);
        // Every file the bench writes goes into one folder of its own, removed however the run ends.
        const TempDir scratch("alexnet-bench");
        if (sub == "under-load") bench::under_load(s, spec, weights, neighbours, out);
        if (sub == "precision") bench::precision(s, spec, weights, out);
        const double rate32 = sub == "" || sub == "forward" ? bench::forward(s, spec, weights, out) : 0;
        if (sub == "" || sub == "startup") bench::startup(spec, weights, scratch / "startup", out);
        if (sub == "" || sub == "decode") bench::decode(spec, scratch / "decode", out);
        if ((sub == "" && !skip_embed) || sub == "embed") bench::embed(s, spec, weights, out, scratch.path, rate32);
        return 0;
    });
}
