#pragma once
// Nearest neighbours among embedding vectors, on FAISS (squared Euclidean distances throughout;
// the cosine metric is the Euclidean one on unit vectors). Exact search by default, as the paper
// measures fc7 neighbours; for collections that do not fit in memory as floats, product-quantised
// codes of `codes` bytes per vector, optionally in an inverted file of `lists` lists, probed
// `nprobe` lists at a time. Saved and rebuilt through plain tensors (search/index_file.hpp), never
// through FAISS's own reader, so a damaged file meets our checks, not FAISS's.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/weights.hpp"

namespace faiss {
struct Index;
}

namespace alexnet {

// Vectors longer than this (squared) would overflow FAISS's float distances.
constexpr double kMaxSquaredNorm = 1e36;

// Squared Euclidean distance and length, summed in double.
double squared_distance(const float* a, const float* b, int dim);
double squared_length(const float* a, int dim);

struct IndexKind {
    int codes = 0;  // bytes per vector (product quantisation, 8 bits per sub-vector); 0: floats
    int lists = 0;  // inverted-file lists; 0: none
    bool exact() const { return codes == 0 && lists == 0; }
    int64_t training_minimum() const;  // vectors its training needs: 256 with codes, one per list
    std::string name() const;  // "flat", "pq64", "ivf1024,flat", "ivf1024,pq64"
};

struct Neighbour {
    int64_t row = 0;       // the vector's row in the index
    double distance2 = 0;  // squared Euclidean distance
};

class VectorIndex {
public:
    // Throws Error when `codes` does not divide `dim`, or a size is out of range.
    VectorIndex(int dim, IndexKind kind);
    ~VectorIndex();
    VectorIndex(VectorIndex&&) noexcept;
    VectorIndex& operator=(VectorIndex&&) noexcept;

    int dim() const { return dim_; }
    const IndexKind& kind() const { return kind_; }
    int64_t size() const;
    bool trained() const;
    // Fits the coarse centroids and the codebooks to `sample` (rows of dim() values: a sample of
    // the collection, taken by value so that it can be shifted in place). Needs at least
    // training_minimum() vectors.
    void train(std::vector<float> sample, uint64_t seed);
    int64_t training_minimum() const;
    int64_t training_advised() const;  // FAISS's advice: 39 vectors per centroid
    void add(const float* x, int64_t n);
    // The `k` nearest rows of each of `nq` queries (k at most size()), nearest first, equal
    // distances by row. Exact indexes rerank FAISS's candidates by distances summed in double, so
    // the answer is the brute-force one; compressed indexes give FAISS's approximate distances.
    // An inverted file probes more lists where `nprobe` of them hold fewer than k rows. With
    // `own_rows` (query i is the stored row own_rows[i]), each query's own list is always probed.
    std::vector<std::vector<Neighbour>> search(const float* q, int64_t nq, int k, int nprobe,
                                               const int64_t* own_rows = nullptr) const;
    // IVF-PQ lists scanned by FAISS's own code instead of ours (search/ivfpq_scan.hpp), to compare;
    // false when the index has no such lists.
    bool use_faiss_scan(bool on);
    // The inverted file's list sizes (empty without lists), and the vectors inverted-file searches
    // have compared with queries so far in this process (FAISS's count).
    std::vector<int64_t> list_sizes() const;
    static int64_t list_vectors_scanned();
    // Memory the index holds per vector (codes, or floats, and the inverted file's ids).
    double bytes_per_vector() const;
    // Every row's vector as stored (exact indexes only).
    const float* vectors() const;
    // Row `row`'s vector as stored, or as its codes decode (compressed indexes).
    void reconstruct(int64_t row, float* out) const;

    // Plain tensors that rebuild the index (from_tensors checks every size and value).
    void to_tensors(Weights& out) const;
    static VectorIndex from_tensors(const Weights& in, int dim, IndexKind kind, int64_t rows, const std::string& file);

private:
    struct Pass {
        int wanted;  // rows asked of FAISS per query
        int probes;  // lists probed (inverted files)
    };
    void search_pass(const float* q, const std::vector<int64_t>& which, const int64_t* own_rows, int k, const Pass& pass,
                     std::vector<std::vector<Neighbour>>& result, std::vector<int64_t>& again) const;
    void probe_own_lists(const float* queries, const std::vector<int64_t>& which, const int64_t* own_rows, int probes,
                         int wanted, float* distances, int64_t* rows) const;
    std::vector<int64_t> assign_lists(const float* x, int64_t n) const;
    // `x` less shift_ (in `buffer`), or `x` itself when there is no shift.
    const float* shifted(const float* x, int64_t n, std::vector<float>& buffer) const;
    void exact_rerank(const float* q, int k, const std::vector<int64_t>& candidates,
                      std::vector<Neighbour>& out) const;
    int dim_;
    IndexKind kind_;
    std::unique_ptr<faiss::Index> quantizer_;  // the inverted file's coarse centroids
    std::unique_ptr<faiss::Index> index_;
    double max_norm2_ = 0;      // the longest stored vector's squared length (exact indexes)
    std::vector<float> shift_;  // inverted files: subtracted from every vector (the training mean)
};

}  // namespace alexnet
