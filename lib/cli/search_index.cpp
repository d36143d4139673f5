// alexnet-search index: the inputs' vectors into a new index file, or added to one (--append).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>

#include "cli/search_parts.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kChunk = 8192;  // vectors embedded, then added, at a time

// --append: the existing index's settings rule; options given that contradict them are refused.
void check_append_options(CLI::App& app, const SearchCli& o, const IndexFile& f) {
    const IndexKind& k = f.index.kind();
    check(!app.count("--metric") || o.metric == f.metric, "--metric", "", f.metric + " (the index's)", o.metric);
    check(!app.count("--codes") || o.codes == k.codes, "--codes", "", std::to_string(k.codes) + " (the index's)",
          std::to_string(o.codes));
    check(!app.count("--lists") || o.lists == k.lists, "--lists", "", std::to_string(k.lists) + " (the index's)",
          std::to_string(o.lists));
}

// Every chunk's vectors made as the index's (those already in it, or the first chunk's).
void check_like_index(const SearchCli& o, const IndexFile& f, const VectorSet& v) {
    check(v.dim == f.index.dim(), o.index, "dimension", std::to_string(f.index.dim()) + " (the index's vectors)",
          std::to_string(v.dim) + " (the new ones)");
    const std::string diff = origin_difference(f.origin, v.origin);
    check(diff.empty(), o.index, "vectors", "new vectors made as the index's were", diff);
    check(f.class_names.empty() || v.class_names.empty() || f.class_names == v.class_names, o.index, "class names",
          "the index's class names", "other names");
}

// Vectors written aside while an index that needs training cannot take them yet: an unlinked
// file beside the index (so nothing is left behind, whatever ends the program), read back in
// chunks once the index is trained.
class SpillFile {
public:
    explicit SpillFile(const std::string& beside) {
        const fs::path folder = fs::path(beside).parent_path().empty() ? fs::path(".") : fs::path(beside).parent_path();
        std::string name = (folder / ".alexnet-search-spill-XXXXXX").string();
        const int fd = mkstemp(name.data());
        if (fd < 0)
            throw Error(folder.string(), "cannot create a file for the vectors that wait for training: " +
                                             std::string(std::strerror(errno)));
        unlink(name.c_str());
        file_ = fdopen(fd, "w+b");
        if (!file_) {
            close(fd);
            throw Error(folder.string(), "cannot open a file for the vectors that wait for training");
        }
        name_ = name;
    }
    ~SpillFile() {
        if (file_) std::fclose(file_);
    }
    SpillFile(const SpillFile&) = delete;
    SpillFile& operator=(const SpillFile&) = delete;
    void write(const std::vector<float>& rows) {
        if (std::fwrite(rows.data(), sizeof(float), rows.size(), file_) != rows.size())
            throw Error(name_, "cannot write: " + std::string(std::strerror(errno)));
    }
    // Every row written, `chunk` rows at a time.
    void read_back(int dim, int64_t chunk, const std::function<void(const float*, int64_t)>& each) {
        if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0)
            throw Error(name_, "cannot read back: " + std::string(std::strerror(errno)));
        std::vector<float> rows(size_t(chunk) * dim);
        while (true) {
            const size_t got = std::fread(rows.data(), sizeof(float) * size_t(dim), size_t(chunk), file_);
            if (got == 0) break;
            each(rows.data(), int64_t(got));
        }
        if (std::ferror(file_)) throw Error(name_, "cannot read back: " + std::string(std::strerror(errno)));
    }

private:
    std::FILE* file_ = nullptr;
    std::string name_;
};

// A new index's training sample: a seeded uniform sample of up to `size` of the vectors seen
// (reservoir sampling: every vector equally likely, whatever order the inputs come in).
class TrainingSample {
public:
    TrainingSample(int64_t size, uint64_t seed) : size_(size), rng_(seed) {}
    void offer(const float* row, int dim) {
        if (seen_ < size_) {
            rows_.insert(rows_.end(), row, row + dim);
        } else if (const uint64_t j = rng_() % uint64_t(seen_ + 1); j < uint64_t(size_)) {
            std::copy_n(row, dim, &rows_[size_t(j) * dim]);
        }
        ++seen_;
    }
    const std::vector<float>& rows() const { return rows_; }
    std::vector<float> take() { return std::move(rows_); }

private:
    int64_t size_, seen_ = 0;
    std::mt19937_64 rng_;
    std::vector<float> rows_;
};

// The index being built: chunks go straight in when it is trained (exact, or an index appended
// to); otherwise into the training sample and a spill file, and in once it is trained.
class IndexBuilder {
public:
    IndexBuilder(CLI::App& app, const SearchCli& o, std::optional<IndexFile>& f) : app_(app), o_(o), f_(f) {}

    void add(VectorSet& chunk) {
        if (!started_) start(chunk);
        check_like_index(o_, *f_, chunk);
        if (f_->metric == "cosine") normalize_rows(chunk.rows, chunk.dim);
        if (f_->origin.model.empty()) f_->origin = chunk.origin;
        if (f_->class_names.empty()) f_->class_names = chunk.class_names;
        f_->paths.insert(f_->paths.end(), chunk.paths.begin(), chunk.paths.end());
        f_->labels.insert(f_->labels.end(), chunk.labels.begin(), chunk.labels.end());
        added_ += chunk.size();
        if (f_->index.trained()) {
            f_->index.add(chunk.rows.data(), chunk.size());
            return;
        }
        for (int64_t r = 0; r < chunk.size(); ++r) sample_->offer(&chunk.rows[size_t(r) * chunk.dim], chunk.dim);
        spill_->write(chunk.rows);
    }

    // Trains the index if it waited, adds what was spilled; the vectors added.
    int64_t finish() {
        check(added_ > 0, "alexnet-search index", "inputs", "at least one vector", "none");
        VectorIndex& index = f_->index;
        if (index.trained()) return added_;
        const int64_t n = int64_t(sample_->rows().size()) / index.dim();
        check(added_ >= index.training_minimum(), o_.index, "vectors",
              "at least " + std::to_string(index.training_minimum()) + " to train " + index.kind().name() +
                  " (256 per code byte's centroids, one per list)",
              std::to_string(added_));
        if (n < index.training_advised())
            log_info(o_.common.quiet, "alexnet-search: note: " + index.kind().name() + " trained on " + std::to_string(n) +
                                          " vectors; " + std::to_string(index.training_advised()) +
                                          " or more fit its centroids better (FAISS's advice: 39 per centroid)");
        index.train(sample_->take(), o_.seed);
        spill_->read_back(index.dim(), kChunk, [&](const float* rows, int64_t count) { index.add(rows, count); });
        return added_;
    }

private:
    void start(const VectorSet& first) {
        started_ = true;
        if (!f_) {
            f_.emplace(IndexFile{VectorIndex(first.dim, {o_.codes, o_.lists}), o_.metric, first.origin, {}, {},
                                 first.class_names});
        }
        if (!f_->index.trained()) {
            sample_.emplace(o_.train_vectors, o_.seed);
            spill_.emplace(o_.index);
        }
    }

    CLI::App& app_;
    const SearchCli& o_;
    std::optional<IndexFile>& f_;
    bool started_ = false;
    int64_t added_ = 0;
    std::optional<TrainingSample> sample_;
    std::optional<SpillFile> spill_;
};

}  // namespace

int run_index(CLI::App& app, const SearchCli& o, JsonLines& out) {
    std::optional<IndexFile> f;
    if (o.append && path_exists(o.index)) {
        f.emplace(load_index(o.index));
        check_append_options(app, o, *f);
    } else {
        // What training needs is known before any input is read.
        const IndexKind kind{o.codes, o.lists};
        check(o.train_vectors >= kind.training_minimum(), "--train-vectors", "",
              "at least " + std::to_string(kind.training_minimum()) + " for " + kind.name(), std::to_string(o.train_vectors));
    }
    int failed = 0;
    IndexBuilder builder(app, o, f);
    stream_vectors(o, o.common.inputs, true, f ? f->origin.weights : "", out, failed, kChunk,
                   [&](VectorSet& chunk) { builder.add(chunk); });
    const int64_t added = builder.finish();
    save_index(o.index, *f);
    nlohmann::ordered_json line{{"index", o.index}, {"added", added}, {"vectors", f->index.size()}, {"dim", f->index.dim()},
                                {"kind", f->index.kind().name()}, {"metric", f->metric},
                                {"bytes_per_vector", json_float(float(f->index.bytes_per_vector()))}};
    if (const std::vector<int64_t> sizes = f->index.list_sizes(); !sizes.empty()) {
        const int64_t largest = *std::max_element(sizes.begin(), sizes.end());
        const double mean = double(f->index.size()) / double(sizes.size());
        line["largest_list"] = largest;
        // (k-means with about as many lists as the data has clusters leaves some without one)
        if (largest > 8 * mean && f->index.size() >= 10 * int64_t(sizes.size()))
            log_info(o.common.quiet, "alexnet-search: note: the lists are uneven (the largest holds " +
                                         std::to_string(largest) + " vectors, " + fixed(largest / mean, 0) +
                                         " times the mean): queries near it scan all of it; more lists balance "
                                         "them (FAISS's guideline: 4 to 16 x the square root of the vectors, " +
                                         std::to_string(int64_t(4 * std::sqrt(double(f->index.size())))) + " here)");
    }
    line["layer"] = f->origin.layer, line["model"] = f->origin.model, line["failed"] = failed;
    out.write(line);
    log_info(o.common.quiet, "alexnet-search: " + o.index + ": " + count_of(f->index.size(), "vector") + " (" +
                                 std::to_string(added) + " added), " + f->index.kind().name() + ", " + f->metric);
    return failed ? 1 : 0;
}

}  // namespace alexnet
