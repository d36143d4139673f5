// alexnet-search query and duplicates.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <numeric>

#include "cli/search_parts.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "figures/plot.hpp"
#include "search/neighbour_sheet.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int kMaxSheetRows = 64;
constexpr int kMaxSheetNeighbours = 16;

// A label's name, comparable across the query's and the index's classes ("" when unknown).
std::string class_key(int label, const std::vector<std::string>& names) {
    if (label < 0) return "";
    return label < int(names.size()) ? names[size_t(label)] : "#" + std::to_string(label);
}

// Share of neighbours of the query's class among the first 1, 5, 10 and k, and a k-nearest-
// neighbour vote (the most frequent class among the k; a tie goes to the class that reached that
// count first, counting from the nearest).
struct LabelAgreement {
    std::vector<int> depths;
    std::vector<double> same;  // per depth, summed over the queries
    int64_t queries = 0, votes_right = 0;

    explicit LabelAgreement(int k) {
        for (int d : {1, 5, 10, k})
            if (d <= k && std::find(depths.begin(), depths.end(), d) == depths.end()) depths.push_back(d);
        same.assign(depths.size(), 0);
    }
    void add(const std::string& query_class, const std::vector<std::string>& neighbour_classes) {
        if (query_class.empty()) return;
        ++queries;
        for (size_t i = 0; i < depths.size(); ++i) {
            const int d = std::min<int>(depths[i], int(neighbour_classes.size()));
            same[i] += double(std::count(neighbour_classes.begin(), neighbour_classes.begin() + d, query_class)) / depths[i];
        }
        std::map<std::string, int> count;
        std::string best;
        for (const std::string& c : neighbour_classes)
            if (!c.empty() && (++count[c] > count[best] || best.empty())) best = c;
        votes_right += best == query_class;
    }
    void add_to(nlohmann::ordered_json& summary) const {
        if (queries == 0) return;
        nlohmann::ordered_json p = nlohmann::ordered_json::object();
        for (size_t i = 0; i < depths.size(); ++i) p[std::to_string(depths[i])] = json_float(float(same[i] / queries));
        summary["label_precision_at"] = p;
        summary["knn_top1_accuracy"] = json_float(float(double(votes_right) / queries));
    }
};

// A path as --exclude-self compares them: absolute (from the current folder) and normalised, so
// "./a.jpg", "a.jpg" and "/here/a.jpg" are one file.
std::string same_file_key(const std::string& path) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(path, ec);
    return (ec ? fs::path(path) : absolute).lexically_normal().string();
}

// Searches queries a batch at a time and writes their lines as they come; the summary and the
// sheet at the end.
class QueryReporter {
public:
    QueryReporter(const SearchCli& o, const IndexFile& f, JsonLines& out)
        : o_(o), f_(f), out_(out), agreement_(o.k),
          index_labelled_(std::any_of(f.labels.begin(), f.labels.end(), [](int l) { return l >= 0; })) {
        if (o.exclude_self)
            for (const std::string& p : f.paths) ++copies_[same_file_key(p)];
    }

    // `q`'s vectors (made as the index's were: checked here) searched and reported, in order.
    void add(VectorSet& q) {
        if (q.size() == 0) return;
        const std::string diff = origin_difference(f_.origin, q.origin);
        check(diff.empty(), o_.common.inputs.front(), "queries", "vectors made as " + o_.index + "'s were", diff);
        check(q.dim == f_.index.dim(), o_.common.inputs.front(), "dimension",
              std::to_string(f_.index.dim()) + " (the index's vectors)", std::to_string(q.dim));
        if (f_.metric == "cosine") normalize_rows(q.rows, q.dim);
        // With --exclude-self, enough more to leave k once every copy of the query's file is out.
        std::vector<std::string> keys;
        int64_t most_copies = 0;
        for (int64_t i = 0; o_.exclude_self && i < q.size(); ++i) {
            keys.push_back(same_file_key(q.paths[size_t(i)]));
            const auto it = copies_.find(keys.back());
            most_copies = std::max<int64_t>(most_copies, it == copies_.end() ? 0 : it->second);
        }
        const int k = int(std::min<int64_t>(f_.index.size(), o_.k + most_copies));
        const auto results = f_.index.search(q.rows.data(), q.size(), k, o_.nprobe);
        for (int64_t i = 0; i < q.size(); ++i)
            report(q.paths[size_t(i)], o_.exclude_self ? keys[size_t(i)] : "", q.labels[size_t(i)], q.class_names,
                   results[size_t(i)]);
        queries_ += q.size();
    }

    void finish(int failed, double seconds) {
        nlohmann::ordered_json summary{{"summary", true}, {"queries", queries_}, {"k", o_.k}, {"index", o_.index},
                                       {"kind", f_.index.kind().name()}, {"metric", f_.metric}};
        agreement_.add_to(summary);
        if (!sheet_.empty()) {
            if (queries_ > kMaxSheetRows)
                log_info(o_.common.quiet, "alexnet-search: the sheet shows the first " + std::to_string(kMaxSheetRows) +
                                              " of " + std::to_string(queries_) + " queries");
            if (o_.k > kMaxSheetNeighbours)
                log_info(o_.common.quiet, "alexnet-search: the sheet shows the nearest " +
                                              std::to_string(kMaxSheetNeighbours) + " of each query's " +
                                              std::to_string(o_.k) + " neighbours");
            write_neighbour_sheet(o_.sheet, "Nearest neighbours by " + f_.origin.layer + " (" + f_.metric + ")",
                                  data_name(o_.index) + ", " + count_of(f_.index.size(), "vector") + ", " +
                                      f_.index.kind().name() + "; captions: distance and class",
                                  sheet_);
            summary["sheet"] = o_.sheet;
        }
        summary["failed"] = failed;
        summary["seconds"] = json_float(float(seconds));
        out_.write(summary);
    }

private:
    // The neighbours to report: every copy of the query's own file left out with --exclude-self
    // (`self` its key), at most k.
    std::vector<Neighbour> kept(const std::string& self, std::vector<Neighbour> all) const {
        if (o_.exclude_self)
            std::erase_if(all, [&](const Neighbour& n) { return same_file_key(f_.paths[size_t(n.row)]) == self; });
        if (int(all.size()) > o_.k) all.resize(size_t(o_.k));
        return all;
    }

    void report(const std::string& path, const std::string& self, int label, const std::vector<std::string>& names,
                const std::vector<Neighbour>& found) {
        nlohmann::ordered_json line{{"path", path}};
        add_label_fields(line, label, names);
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        std::vector<std::string> classes;
        NeighbourRow row{{path, class_key(label, names), -1}, {}};
        for (const Neighbour& nb : kept(self, found)) {
            const int nb_label = f_.labels[size_t(nb.row)];
            const double d = reported_distance(f_.metric, nb.distance2);
            nlohmann::ordered_json entry{{"path", f_.paths[size_t(nb.row)]}, {"distance", json_float(float(d))}};
            add_label_fields(entry, nb_label, f_.class_names);
            list.push_back(entry);
            classes.push_back(class_key(nb_label, f_.class_names));
            if (row.neighbours.size() < size_t(kMaxSheetNeighbours))
                row.neighbours.push_back({f_.paths[size_t(nb.row)], classes.back(), d});
        }
        line["neighbours"] = list;
        out_.write(line);
        if (index_labelled_) agreement_.add(class_key(label, names), classes);
        if (!o_.sheet.empty() && int(sheet_.size()) < kMaxSheetRows) sheet_.push_back(std::move(row));
    }

    const SearchCli& o_;
    const IndexFile& f_;
    JsonLines& out_;
    LabelAgreement agreement_;
    const bool index_labelled_;  // label precision only where the index knows its classes
    std::vector<NeighbourRow> sheet_;
    std::map<std::string, int64_t> copies_;  // --exclude-self: index rows per file
    int64_t queries_ = 0;
};

// Whether every query input is images (not vectors, not a data set): then they stream.
bool images_only(const std::vector<std::string>& inputs) {
    for (const std::string& input : inputs)
        if (input != "-" && (is_vector_file(input) || (path_exists(input) && is_labelled_data_set(input))))
            return false;
    return true;
}

}  // namespace

int run_query(const SearchCli& options, JsonLines& out) {
    const auto t0 = clock_type::now();
    const IndexFile f = load_index(options.index);
    SearchCli o = options;
    if (!o.layer_given && !f.origin.layer.empty()) o.layer = f.origin.layer;  // queries made as the index was
    const int64_t n = f.index.size();
    check(n > 0, o.index, "vectors", "at least one", "none (an empty index)");
    const int wanted = o.k + (o.exclude_self ? 1 : 0);
    check(wanted <= n, "-k", "", "1.." + std::to_string(n - (o.exclude_self ? 1 : 0)) + " (the vectors in " + o.index +
                                     (o.exclude_self ? ", less the query's own" : "") + ")", std::to_string(o.k));
    QueryReporter reporter(o, f, out);
    int failed = 0;
    if (images_only(o.common.inputs)) {
        // Images (and "-") stream: a line for each query as soon as its batch is searched.
        LoadedModel model = load_query_model(o, f.origin.weights);
        VectorSet batch;
        batch.origin = origin_of(model, o.layer);
        // Paths from stdin are answered one by one (someone may be waiting on each); files in
        // batches (one search over the index per batch).
        const auto& in = o.common.inputs;
        const int64_t flush_at = std::find(in.begin(), in.end(), "-") != in.end() ? 1 : o.common.batch;
        const auto flush = [&] {
            reporter.add(batch);
            batch.rows.clear(), batch.paths.clear(), batch.labels.clear();
        };
        // (an unreadable image's error line comes after the lines of the images before it)
        embed_images(o, in, model, batch, out, failed, [&] { if (batch.size() >= flush_at) flush(); }, flush);
        reporter.add(batch);
    } else {
        // Vector files and data sets: searched and reported 4,096 queries at a time.
        stream_vectors(o, o.common.inputs, false, f.origin.weights, out, failed, 4096,
                       [&](VectorSet& q) { reporter.add(q); });
    }
    reporter.finish(failed, std::chrono::duration<double>(clock_type::now() - t0).count());
    return failed ? 1 : 0;
}

namespace {

int64_t find_root(std::vector<int64_t>& parent, int64_t x) {
    while (parent[size_t(x)] != x) x = parent[size_t(x)] = parent[size_t(parent[size_t(x)])];
    return x;
}

}  // namespace

int run_duplicates(const SearchCli& o, JsonLines& out) {
    IndexFile f = load_index(o.index);
    const int64_t n = f.index.size();
    check(n > 0, o.index, "vectors", "at least one", "none (an empty index)");
    const int k = int(std::min<int64_t>(n, int64_t(o.k) + 1));
    const double max_d2 = squared_distance_for(f.metric, o.max_distance) * (1 + 1e-6);
    std::vector<int64_t> parent(static_cast<size_t>(n));
    std::iota(parent.begin(), parent.end(), 0);
    std::vector<double> widest(size_t(n), 0);  // per row, the largest distance that joined it
    constexpr int64_t kChunk = 1024;
    const int dim = f.index.dim();
    std::vector<float> rows(size_t(kChunk) * dim), other(static_cast<size_t>(dim));
    std::vector<int64_t> own(static_cast<size_t>(kChunk));
    for (int64_t first = 0; first < n; first += kChunk) {
        const int64_t count = std::min(kChunk, n - first);
        for (int64_t r = 0; r < count; ++r) f.index.reconstruct(first + r, &rows[size_t(r) * dim]), own[size_t(r)] = first + r;
        // Each row's own list is probed, so its exact copies (same list, same codes) are found.
        const auto found = f.index.search(rows.data(), count, k, o.nprobe, own.data());
        for (int64_t r = 0; r < count; ++r) {
            const float* x = &rows[size_t(r) * dim];
            for (const Neighbour& nb : found[size_t(r)]) {
                if (nb.row == first + r) continue;
                double d2 = nb.distance2;
                // Codes' distances are estimates (a copy's is not 0): near the bound, the
                // distance between the stored vectors (as their codes decode) decides.
                if (!f.index.kind().exact() && d2 <= max_d2 + 1e-4 * squared_length(x, dim) * 4 + 1e-30) {
                    f.index.reconstruct(nb.row, other.data());
                    d2 = squared_distance(x, other.data(), dim);
                }
                if (d2 > max_d2) continue;
                const int64_t a = find_root(parent, first + r), b = find_root(parent, nb.row);
                widest[size_t(first + r)] = std::max(widest[size_t(first + r)], d2);
                if (a != b) parent[size_t(std::max(a, b))] = std::min(a, b);
            }
        }
    }
    std::map<int64_t, std::vector<int64_t>> groups;
    for (int64_t i = 0; i < n; ++i) groups[find_root(parent, i)].push_back(i);
    int64_t shown = 0, members = 0;
    for (const auto& [root, rows_of] : groups) {
        if (rows_of.size() < 2) continue;
        nlohmann::ordered_json paths = nlohmann::ordered_json::array();
        double widest_d2 = 0;
        for (int64_t r : rows_of) paths.push_back(f.paths[size_t(r)]), widest_d2 = std::max(widest_d2, widest[size_t(r)]);
        out.write({{"group", shown++}, {"size", rows_of.size()}, {"paths", paths},
                   {"max_distance", json_float(float(reported_distance(f.metric, widest_d2)))}});
        members += int64_t(rows_of.size());
    }
    out.write({{"summary", true}, {"groups", shown}, {"vectors_in_groups", members}, {"vectors", n},
               {"max_distance", o.max_distance}, {"metric", f.metric}});
    return 0;
}

}  // namespace alexnet
