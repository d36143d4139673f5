// alexnet-bench: speed with random weights, like `caffe time`: warm-up runs, then timed runs
// reported as min/median/max. One JSON line per measurement; a subcommand picks what is measured
// (apps/bench/bench.hpp), none runs the default set.
#include "bench/bench.hpp"
#include "cli/bench_options.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/temp_dir.hpp"
#include "engine/inference_net.hpp"
#include "formats/model_file.hpp"
#include "model/summary.hpp"
#include "parallel/communicator.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Benchmark AlexNet (random weights). Without a subcommand: per-layer times, images/s, latency, "
                 "start-up, decoding, and the end-to-end embed path",
                 "alexnet-bench"};
    BenchCli o;
    add_bench_options(app, o);
    const bench::Settings& s = o.settings;
    std::vector<std::string> args = translate_old_bench_flags(argc, argv);
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
            bench::make_jpegs(o.file, s.embed_images);
            out.write({{"written", o.file}, {"images", s.embed_images}});
        }
        if (sub == "random-weights") {
            Weights marker;  // the tools say so when they run such a file
            marker.metadata["random"] = "seeded random weights written by alexnet-bench random-weights, not trained";
            save_model(o.file, spec, random_weights(spec, 1), {}, &marker);
            out.write({{"written", o.file}, {"arch", s.arch}});
        }
        if (sub == "training") bench::training(s, spec, out);
        if (sub == "allreduce") bench::allreduce(s, spec, out);
        if (sub == "search") bench::search(s, out);
        if (sub == "summary" || sub == "make-jpegs" || sub == "random-weights" || sub == "training" || sub == "allreduce" ||
            sub == "search")
            return 0;
        const Weights weights = random_weights(spec, 1);
        // Every file the bench writes goes into one folder of its own, removed however the run ends.
        const TempDir scratch("alexnet-bench");
        if (sub == "under-load") bench::under_load(s, spec, weights, o.neighbours, out);
        if (sub == "precision") bench::precision(s, spec, weights, out);
        const double rate32 = sub == "" || sub == "forward" ? bench::forward(s, spec, weights, out) : 0;
        if (sub == "" || sub == "startup") bench::startup(spec, weights, scratch / "startup", out);
        if (sub == "" || sub == "decode") bench::decode(spec, scratch / "decode", out);
        if ((sub == "" && !o.skip_embed) || sub == "embed") bench::embed(s, spec, weights, out, scratch.path, rate32);
        return 0;
    });
}
