// alexnet-search at the size ImageNet users live at: a million 4096-d vectors (fc7's size) with
// structure (Gaussian clusters: random vectors have no near neighbours to find), in compressed
// codes, measured for memory, speed and recall at 10 against the exact answer.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>

#include "bench/bench.hpp"
#include "search/vector_index.hpp"

namespace alexnet::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// splitmix64: fast, seedable, good enough for synthetic data.
uint64_t next_random(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// About N(0, 1): the sum of four uniforms (Irwin-Hall), centred and scaled.
float roughly_normal(uint64_t& state) {
    const uint64_t r = next_random(state);
    const float sum = float(r & 0xffff) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) + float(r >> 48);
    return (sum / 65535.f - 2.f) * 1.7320508f;  // the sum of 4 uniforms has variance 1/3
}

// Vectors with structure at two scales, as photos have: clusters (a class), and in each cluster
// groups of ten (near-alike images) around a point of the cluster; each vector is its group's
// point plus noise (0.3 a dimension, against the groups' 0.5). Vector i (in any order) is the same every time; queries are further
// members of existing groups.
class ClusteredVectors {
public:
    static constexpr int kGroup = 10;
    ClusteredVectors(int dim, int clusters, uint64_t seed) : dim_(dim), centres_(size_t(clusters) * dim), seed_(seed) {
        uint64_t state = seed;
        for (auto& c : centres_) c = roughly_normal(state);
    }
    // Rows first..first+count-1; `stream` 1 for the collection, 2 and up for queries (whose group
    // is drawn among the first `groups`).
    void fill(int64_t first, int64_t count, std::vector<float>& out, uint64_t stream, int64_t groups = 0) const {
        out.resize(size_t(count) * dim_);
        for (int64_t i = 0; i < count; ++i) {
            uint64_t state = (uint64_t(first + i) << 8) ^ stream ^ seed_ << 40;
            const int64_t group = stream == 1 ? (first + i) / kGroup : int64_t(next_random(state) % uint64_t(groups));
            group_point(group, &out[size_t(i) * dim_]);
            for (int d = 0; d < dim_; ++d) out[size_t(i) * dim_ + d] += 0.3f * roughly_normal(state);
        }
    }

private:
    void group_point(int64_t group, float* out) const {
        uint64_t state = uint64_t(group) * 0x9E3779B97F4A7C15ull ^ seed_;
        const size_t c = size_t(next_random(state) % uint64_t(centres_.size() / dim_));
        for (int d = 0; d < dim_; ++d) out[d] = centres_[c * dim_ + d] + 0.5f * roughly_normal(state);
    }
    int dim_;
    std::vector<float> centres_;
    uint64_t seed_;
};

// The exact 10 nearest of each query over all vectors, chunk by chunk (an exact index per chunk).
std::vector<std::vector<Neighbour>> exact_top10(const ClusteredVectors& data, int64_t n, int dim, const std::vector<float>& q,
                                                int64_t nq) {
    std::vector<std::vector<Neighbour>> best(static_cast<size_t>(nq));
    std::vector<float> chunk;
    constexpr int64_t kChunk = 50000;
    for (int64_t first = 0; first < n; first += kChunk) {
        const int64_t count = std::min(kChunk, n - first);
        data.fill(first, count, chunk, 1);
        VectorIndex flat(dim, {});
        flat.add(chunk.data(), count);
        const auto found = flat.search(q.data(), nq, int(std::min<int64_t>(10, count)), 1);
        for (int64_t i = 0; i < nq; ++i) {
            for (Neighbour nb : found[size_t(i)]) best[size_t(i)].push_back({nb.row + first, nb.distance2});
            std::sort(best[size_t(i)].begin(), best[size_t(i)].end(),
                      [](const Neighbour& a, const Neighbour& b) { return a.distance2 < b.distance2; });
            if (best[size_t(i)].size() > 10) best[size_t(i)].resize(10);
        }
    }
    return best;
}

double peak_rss_mb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
    return 0;
}

}  // namespace

void search(const Settings& s, Lines& out) {
    const int dim = s.search_dim, nq = s.search_queries;
    const int64_t n = s.search_vectors;
    const int centres = std::max(1, int(n / 1000));  // about 1000 vectors (100 groups) a cluster
    const ClusteredVectors data(dim, centres, s.search_seed);
    VectorIndex index(dim, {s.search_codes, s.search_lists});
    std::vector<float> chunk;
    const auto t_train = clock_type::now();
    data.fill(0, std::min<int64_t>(n, std::max<int64_t>(index.training_advised(), 10000)), chunk, 1);
    index.train(std::move(chunk), s.search_seed);
    chunk = {};
    const double train_s = seconds_since(t_train);
    const auto t_add = clock_type::now();
    for (int64_t first = 0; first < n; first += 50000) {
        const int64_t count = std::min<int64_t>(50000, n - first);
        data.fill(first, count, chunk, 1);
        index.add(chunk.data(), count);
    }
    const double add_s = seconds_since(t_add);
    std::vector<float> queries;
    data.fill(0, nq, queries, 2, (n + ClusteredVectors::kGroup - 1) / ClusteredVectors::kGroup);
    const auto truth = exact_top10(data, n, dim, queries, nq);
    const std::vector<int64_t> sizes = index.list_sizes();
    for (int nprobe : s.search_nprobes) {
        // Our list scan, and FAISS's own beside it where the index has one (IVF-PQ).
        for (const bool faiss_scan : {false, true}) {
            if (!index.use_faiss_scan(faiss_scan) && faiss_scan) break;
            std::vector<std::vector<Neighbour>> found;
            const int64_t scanned_before = VectorIndex::list_vectors_scanned();
            const Stats st = stats(time_ms(1, 3, [&] { found = index.search(queries.data(), nq, 10, nprobe); }));
            const double scanned = double(VectorIndex::list_vectors_scanned() - scanned_before) / (4.0 * nq);
            double recall = 0;
            for (int64_t i = 0; i < nq; ++i)
                for (const Neighbour& t : truth[size_t(i)])
                    recall += double(std::count_if(found[size_t(i)].begin(), found[size_t(i)].end(),
                                                   [&](const Neighbour& g) { return g.row == t.row; })) / (10.0 * nq);
            out.write({{"bench", "search"}, {"vectors", n}, {"dim", dim}, {"clusters", centres},
                       {"kind", index.kind().name()}, {"scan", faiss_scan ? "faiss" : "alexnet"}, {"nprobe", nprobe},
                       {"bytes_per_vector", json_float(float(index.bytes_per_vector()))}, {"target_bytes_per_vector", 128},
                       {"queries", nq}, {"threads", s.threads}, {"vectors_scanned_per_query", json_float(float(scanned))},
                       {"largest_list", sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end())},
                       {"queries_per_sec", json_float(float(nq * 1000.0 / st.median))}, {"target_queries_per_sec", 500},
                       {"recall_at_10", json_float(float(recall))}, {"train_seconds", json_float(float(train_s))},
                       {"add_seconds", json_float(float(add_s))}, {"peak_rss_mb", json_float(float(peak_rss_mb()))}});
        }
    }
}

}  // namespace alexnet::bench
