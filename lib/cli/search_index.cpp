// alexnet-search index: the inputs' vectors into a new index file, or added to one (--append).
#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>

#include "cli/search_parts.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

// A new index of the kind the options ask for, trained on a seeded sample of `v` when it needs it.
VectorIndex new_index(const SearchCli& o, const VectorSet& v) {
    VectorIndex index(v.dim, {o.codes, o.lists});
    if (index.trained()) return index;
    check(v.size() >= index.training_minimum(), o.index, "vectors",
          "at least " + std::to_string(index.training_minimum()) + " to train " + index.kind().name() +
              " (256 per code byte's centroids, one per list)",
          std::to_string(v.size()));
    std::vector<int64_t> order(static_cast<size_t>(v.size()));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(o.seed));
    const size_t n = size_t(std::min<int64_t>(v.size(), o.train_vectors));
    std::vector<float> sample(n * size_t(v.dim));
    for (size_t i = 0; i < n; ++i)
        std::copy_n(&v.rows[size_t(order[i]) * v.dim], v.dim, &sample[i * v.dim]);
    if (int64_t(n) < index.training_advised())
        log_info(o.common.quiet, "alexnet-search: note: " + index.kind().name() + " trained on " + std::to_string(n) +
                                     " vectors; " + std::to_string(index.training_advised()) +
                                     " or more fit its centroids better (FAISS's advice: 39 per centroid)");
    index.train(sample.data(), int64_t(n), o.seed);
    return index;
}

// --append: the existing index's settings rule; options given that contradict them are refused.
void check_append(CLI::App& app, const SearchCli& o, const IndexFile& f, const VectorSet& v) {
    const IndexKind& k = f.index.kind();
    check(!app.count("--metric") || o.metric == f.metric, "--metric", "", f.metric + " (the index's)", o.metric);
    check(!app.count("--codes") || o.codes == k.codes, "--codes", "", std::to_string(k.codes) + " (the index's)",
          std::to_string(o.codes));
    check(!app.count("--lists") || o.lists == k.lists, "--lists", "", std::to_string(k.lists) + " (the index's)",
          std::to_string(o.lists));
    check(v.dim == f.index.dim(), o.index, "dimension", std::to_string(f.index.dim()) + " (the index's vectors)",
          std::to_string(v.dim) + " (the new ones)");
    const std::string diff = origin_difference(f.origin, v.origin);
    check(diff.empty(), o.index, "vectors", "new vectors made as the index's were", diff);
    check(f.class_names.empty() || v.class_names.empty() || f.class_names == v.class_names, o.index, "class names",
          "the index's class names", "other names");
}

}  // namespace

int run_index(CLI::App& app, const SearchCli& o, JsonLines& out) {
    const bool appending = o.append && path_exists(o.index);
    std::optional<IndexFile> f;
    if (appending) f.emplace(load_index(o.index));
    int failed = 0;
    VectorSet v = gather_vectors(o, o.common.inputs, true, f ? f->origin.weights : "", out, failed);
    check(v.size() > 0, "alexnet-search index", "inputs", "at least one vector", "none");
    const std::string metric = f ? f->metric : o.metric;
    if (metric == "cosine") normalize_rows(v.rows, v.dim);
    if (f) {
        check_append(app, o, *f, v);
        if (f->class_names.empty()) f->class_names = v.class_names;
        if (f->origin.model.empty()) f->origin = v.origin;
    } else {
        f.emplace(IndexFile{new_index(o, v), metric, v.origin, {}, {}, v.class_names});
    }
    f->index.add(v.rows.data(), v.size());
    f->paths.insert(f->paths.end(), v.paths.begin(), v.paths.end());
    f->labels.insert(f->labels.end(), v.labels.begin(), v.labels.end());
    save_index(o.index, *f);
    out.write({{"index", o.index}, {"added", v.size()}, {"vectors", f->index.size()}, {"dim", f->index.dim()},
               {"kind", f->index.kind().name()}, {"metric", f->metric},
               {"bytes_per_vector", json_float(float(f->index.bytes_per_vector()))}, {"layer", f->origin.layer},
               {"model", f->origin.model}, {"failed", failed}});
    log_info(o.common.quiet, "alexnet-search: " + o.index + ": " + count_of(f->index.size(), "vector") + " (" +
                                 std::to_string(v.size()) + " added), " + f->index.kind().name() + ", " + f->metric);
    return failed ? 1 : 0;
}

}  // namespace alexnet
