#include "cli/search_options.hpp"

#include <cmath>
#include <functional>
#include <filesystem>

#include "cli/options.hpp"
#include "cli/run_model.hpp"
#include "cli/search_parts.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "data/labels.hpp"
#include "engine/inference_net.hpp"

namespace alexnet {

namespace fs = std::filesystem;

void add_search_options(CLI::App& app, SearchCli& o) {
    add_common_options(app, o.common);
    app.remove_option(app.get_option("inputs"));
    app.remove_option(app.get_option("--summary"));
    app.fallthrough();  // the options above may follow the subcommand
    app.require_subcommand(1, 1);
    app.add_option("-l,--layer", o.layer, "The layer whose outputs are the vectors (images and data sets; query: the "
                                          "index's unless given)")->capture_default_str();
    app.add_option("--split", o.split, "Which part of an IDX or CIFAR-10 folder (default: train for index, test for query)")
        ->check(one_of({"train", "test"}));
    app.add_option("--root", o.root, "Folder that a list's relative paths start from (default: the list's folder)");
    app.add_option("--limit", o.limit, "N items drawn across a data set (each class in proportion, fixed seed)")
        ->check(positive_number);

    CLI::App* index = app.add_subcommand("index", "Vectors of INPUTS into an index file (-o)");
    index->add_option("INPUTS", o.common.inputs, "Images, folders, - (paths on stdin), path-label lists, IDX or CIFAR-10 "
                                                 "sets, or alexnet-embed output (.npy with its .paths.txt, .jsonl)")
        ->required();
    index->add_option("-o,--output", o.index, "The index file to write (atomically)")->required();
    index->add_flag("--append", o.append, "Add to the index -o names (made the same way)");
    index->add_option("--metric", o.metric, "l2 (Euclidean, the paper's) | cosine")->check(one_of({"l2", "cosine"}))
        ->capture_default_str();
    index->add_option("--codes", o.codes, "Store each vector as BYTES bytes of product-quantisation codes instead of "
                                          "4 x dim bytes of floats (BYTES divides the dimension)")->check(in_range(1, 65536));
    index->add_option("--lists", o.lists, "An inverted file of N lists: each query searches --nprobe of them")
        ->check(in_range(1, 1 << 20));
    index->add_option("--train-vectors", o.train_vectors, "Vectors the codes and lists are trained on (a seeded sample)")
        ->check(in_range(1, 100000000))->capture_default_str();
    index->add_option("--seed", o.seed, "Seeds the training sample")->capture_default_str();

    CLI::App* query = app.add_subcommand("query", "The nearest vectors of the index to each query, one JSON line each");
    query->add_option("INDEX", o.index, "The index file")->required();
    query->add_option("QUERIES", o.common.inputs, "As index's INPUTS")->required();
    query->add_option("-k", o.k, "Neighbours per query")->check(in_range(1, 100000))->capture_default_str();
    query->add_flag("--exclude-self", o.exclude_self, "Leave out the index's vector of the query's own path");
    query->add_option("--nprobe", o.nprobe, "Lists searched per query (an index with --lists)")->check(in_range(1, 1 << 20))
        ->capture_default_str();
    query->add_option("--sheet", o.sheet, "PNG (and SVG beside it) of each query and its neighbours (the paper's Figure 4)");

    CLI::App* dups = app.add_subcommand("duplicates", "Groups of near-duplicates in an index, one JSON line per group");
    dups->add_option("INDEX", o.index, "The index file")->required();
    dups->add_option("--max-distance", o.max_distance, "Vectors at most this far apart (as query reports distances) group")
        ->required()->check(non_negative_number);
    dups->add_option("-k", o.k, "Nearest vectors looked at per vector")->check(in_range(1, 100000))->capture_default_str();
    dups->add_option("--nprobe", o.nprobe, "Lists searched per vector (an index with --lists)")->check(in_range(1, 1 << 20))
        ->capture_default_str();
}

int run_search(CLI::App& app, SearchCli& o, JsonLines& out) {
    CLI::App* sub = app.get_subcommands().front();
    set_num_threads(o.common.threads);
    if (sub->get_name() == "index") return run_index(*sub, o, out);
    o.layer_given = app.count("--layer") > 0;
    if (sub->get_name() == "query") return run_query(o, out);
    return run_duplicates(o, out);
}

double reported_distance(const std::string& metric, double distance2) {
    return metric == "cosine" ? distance2 / 2 : std::sqrt(std::max(distance2, 0.0));
}

double squared_distance_for(const std::string& metric, double distance) {
    return metric == "cosine" ? distance * 2 : distance * distance;
}

void add_label_fields(nlohmann::ordered_json& line, int label, const std::vector<std::string>& names) {
    if (label < 0) return;
    line["class"] = label;
    if (label < int(names.size())) line["label"] = names[size_t(label)];
}

void embed_images(const SearchCli& o, const std::vector<std::string>& images, LoadedModel& model, VectorSet& v,
                  JsonLines& out, int& failed, const std::function<void()>& after_each,
                  const std::function<void()>& before_error) {
    CommonOptions c = o.common;
    c.inputs = images;
    c.quiet = true;  // its per-run line would read as alexnet-search's own
    run_images(c, model, o.layer, [&](const std::string& path, const std::string& error, const float* values, int dim) {
        if (!error.empty()) {
            if (before_error) before_error();
            out.write({{"path", path}, {"error", error}});
            ++failed;
            return;
        }
        v.append(path, -1, values, dim, path);
        if (after_each) after_each();
    });
}

LoadedModel load_query_model(const SearchCli& o, const std::string& default_weights) {
    CommonOptions c = o.common;
    if (c.weights.empty() && !default_weights.empty() && path_exists(default_weights)) c.weights = default_weights;
    return load_tool_model(c);
}

namespace {

// Chunks of the inputs' vectors passed on, each checked to agree with the first (origin,
// dimension, class names); unknown fields of the origin are filled from later chunks.
class ChunkChecker {
public:
    explicit ChunkChecker(const std::function<void(VectorSet&)>& sink) : sink_(sink) {}
    void operator()(VectorSet& part, const std::string& input) {
        if (part.size() == 0) return;
        if (!seen_) {
            seen_ = true, first_ = part.origin, dim_ = part.dim, names_ = part.class_names;
        } else {
            const std::string diff = origin_difference(first_, part.origin);
            check(diff.empty(), input, "vectors", "made as the inputs before it", diff);
            check(part.dim == dim_, input, "dimension", std::to_string(dim_), std::to_string(part.dim));
            check(names_.empty() || part.class_names.empty() || part.class_names == names_, input, "class names",
                  "those of the inputs before it", "other names");
            if (first_.model.empty()) first_ = part.origin;
            if (names_.empty()) names_ = part.class_names;
        }
        sink_(part);
    }

private:
    const std::function<void(VectorSet&)>& sink_;
    bool seen_ = false;
    VectorOrigin first_;
    int dim_ = 0;
    std::vector<std::string> names_;
};

}  // namespace

void stream_vectors(const SearchCli& o, const std::vector<std::string>& inputs, bool index_side,
                    const std::string& default_weights, JsonLines& out, int& failed, int64_t chunk,
                    const std::function<void(VectorSet&)>& sink) {
    failed = 0;
    std::optional<LoadedModel> model;
    auto loaded = [&]() -> LoadedModel& {
        if (!model) model = load_query_model(o, default_weights);
        return *model;
    };
    const std::string split = o.split.empty() ? (index_side ? "train" : "test") : o.split;
    ChunkChecker pass_on(sink);
    // Images (and "-") between other inputs go through the network together, in input order.
    std::vector<std::string> images;
    const auto embed_pending_images = [&] {
        if (images.empty()) return;
        LoadedModel m = loaded();  // (a copy: the run hands its weights to the network)
        VectorSet v;
        v.origin = origin_of(m, o.layer);
        const auto flush = [&] {
            pass_on(v, images.front());
            v.clear_rows();
        };
        embed_images(o, images, m, v, out, failed, [&] { if (v.size() >= chunk) flush(); }, flush);
        flush();
        images.clear();
    };
    for (const std::string& input : inputs) {
        if (input != "-" && is_vector_file(input)) {
            embed_pending_images();
            read_vector_file(input, chunk, [&](VectorSet& part) { pass_on(part, input); });
        } else if (input != "-" && path_exists(input) && is_labelled_data_set(input)) {
            embed_pending_images();
            LoadedModel& m = loaded();
            const LabelledSet set = sample_items(open_labelled_set(input, split == "train" ? Split::train : Split::test, o.root),
                                                 o.limit, kSampleSeed);
            int bad = 0;
            embed_labelled_set(m, resolve_precision(o.common, m), set, o.layer, o.common.batch, o.common.loader_threads,
                               bad, chunk, [&](VectorSet& v) {
                                   if (v.class_names.empty() && !m.labels.empty()) v.class_names = m.labels;
                                   pass_on(v, input);
                               });
            failed += bad;
        } else {
            images.push_back(input);
        }
    }
    embed_pending_images();
}

}  // namespace alexnet
