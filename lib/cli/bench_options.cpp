#include "cli/bench_options.hpp"

#include <iostream>
#include <map>

#include "cli/options.hpp"

namespace alexnet {

void add_bench_options(CLI::App& app, BenchCli& o) {
    BenchSettings& s = o.settings;
    app.fallthrough();  // the options below may follow the subcommand
    app.require_subcommand(0, 1);
    app.add_option("--arch", s.arch, "alexnet | caffenet | alexnet-tv | ...")->capture_default_str();
    app.add_option("--batches", s.batches, "forward: batch sizes for images/s")->delimiter(',')->capture_default_str();
    app.add_option("--warmup", s.warmup, "Untimed runs first")->check(in_range(0, 1000))->capture_default_str();
    app.add_option("--runs", s.runs, "Timed runs per measurement")->check(in_range(1, 100000))->capture_default_str();
    app.add_option("--latency-runs", s.latency_runs, "forward, precision: timed batch-1 runs for the latency median")
        ->check(in_range(1, 100000))->capture_default_str();
    app.add_option("--layer-batch", s.layer_batch, "forward: batch size of the per-layer timing")
        ->check(in_range(1, 4096))->capture_default_str();
    add_threads_option(app, s.threads);
    app.add_option("--images", s.images_dir, "embed: folder of JPEGs (default: --embed-images generated 500x375 JPEGs)");
    app.add_option("--embed-images", s.embed_images, "embed, make-jpegs: how many JPEGs to generate")
        ->check(in_range(1, 100000))->capture_default_str();
    app.add_flag("--skip-embed", o.skip_embed, "The default run without the end-to-end embed path");
    app.add_option("--precisions,--precision", s.precisions,
                   "precision, embed, training: the precisions compared (fp32 first; training: fp32 and bf16)")
        ->delimiter(',')->check(one_of({"fp32", "bf16", "int8"}))->capture_default_str();
    app.add_option("--train-batch", s.train_batch, "training: batch size; allreduce: the global batch")
        ->check(in_range(1, 4096))->capture_default_str();
    app.add_option("--bucket-mb", s.bucket_mb, "allreduce: bucket size of the overlapped sums")
        ->check(in_range(0.001, 65536.0))->capture_default_str();
    app.add_option("--search-vectors", s.search_vectors, "search: synthetic vectors in the index")
        ->check(in_range(1000, 1e9))->capture_default_str();
    app.add_option("--search-dim", s.search_dim, "search: their dimension (fc7: 4096)")->check(in_range(8, 65536))
        ->capture_default_str();
    app.add_option("--search-codes", s.search_codes, "search: code bytes per vector")->check(in_range(1, 65536))
        ->capture_default_str();
    app.add_option("--search-lists", s.search_lists, "search: inverted-file lists")->check(in_range(1, 1 << 20))
        ->capture_default_str();
    app.add_option("--search-nprobes", s.search_nprobes, "search: lists searched per query, one line each")
        ->delimiter(',')->check(in_range(1, 1 << 20))->capture_default_str();
    app.add_option("--search-queries", s.search_queries, "search: queries timed (and checked against the exact answer)")
        ->check(in_range(1, 100000))->capture_default_str();
    add_quiet_option(app, o.quiet);

    // name -> what it measures; the default run is forward, startup, decode and embed.
    app.add_subcommand("forward", "Per-layer times, images/s per --batches, batch-1 latency");
    app.add_subcommand("embed", "alexnet-embed's own path end to end (decode threads, fc7, batch 32), per precision");
    app.add_subcommand("startup", "alexnet-classify --help, and one JPEG classified from a weights file");
    app.add_subcommand("decode", "Core-ms to read, decode and preprocess a 4000x3000 and a 500x375 JPEG");
    app.add_subcommand("precision", "--precisions side by side, interleaved: images/s at batch 32, latency, peak memory");
    app.add_subcommand("training", "Training steps (forward, loss, backward, SGD update) at --train-batch");
    app.add_subcommand("allreduce", "Under mpirun: one allreduce of every gradient, and steps without sums, with one "
                                    "sum after the backward pass, and with buckets summed during it");
    app.add_subcommand("search", "alexnet-search's compressed index on --search-vectors synthetic clustered vectors: "
                                 "bytes per vector, queries/s and recall at 10 per --search-nprobes");
    app.add_subcommand("under-load", "Throughput beside N busy processes of its own, as a ratio to the fair share")
        ->add_option("N", o.neighbours, "Busy processes")->required()->check(in_range(1, 64));
    app.add_subcommand("summary", "The --arch model summary as JSON");
    app.add_subcommand("random-weights", "Write seeded random weights for --arch (for trying the other tools)")
        ->add_option("FILE", o.file, "The safetensors file to write")->required();
    app.add_subcommand("make-jpegs", "Write --embed-images 500x375 JPEGs into a folder")
        ->add_option("DIR", o.file, "The folder")->required();
}

std::vector<std::string> translate_old_bench_flags(int argc, char** argv) {
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

}  // namespace alexnet
