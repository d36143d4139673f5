#include "search/vector_index.hpp"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <sstream>

#include "core/error.hpp"
#include "search/ivfpq_scan.hpp"
#include "oneapi/dnnl/dnnl.h"

// FAISS's distances and k-means run on BLAS's sgemm_, which Debian resolves to the reference
// BLAS (one thread, no SIMD: 30x slower here) or to an OpenBLAS that may not know the CPU (0.3.21
// falls back to its SSE3 kernels on Intel's Emerald Rapids). Defined here, in the program that
// links FAISS, sgemm_ is oneDNN's, whose kernels are picked for the CPU at hand like the network's.
// Fortran's column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T.
extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                       const float* beta, float* c, const int* ldc) {
    const dnnl_status_t status = dnnl_sgemm(*transb, *transa, *n, *m, *k, *alpha, b, *ldb, a, *lda, *beta, c, *ldc);
    if (status != dnnl_success) throw alexnet::Error("sgemm", "oneDNN status " + std::to_string(int(status)));
}

namespace alexnet {

namespace {

constexpr int kMaxDim = 1 << 20;
constexpr int kMaxLists = 1 << 20;
constexpr int kPqBits = 8;  // 256 centroids per sub-vector: one byte per code
constexpr int kPqCentroids = 1 << kPqBits;
// Results (rows, or probed lists) or dimensions per query, times queries per FAISS call: about
// 100 MB of results, 32 MB of queries.
constexpr int64_t kMaxResultsPerCall = int64_t(1) << 23;
// FAISS's per-list table for IVF-PQ (lists x codes x 256 floats) is built only up to this size;
// above it, FAISS computes each probed list's table at query time.
constexpr size_t kMaxPrecomputedTableBytes = size_t(1) << 30;

faiss::IndexIVF* ivf_of(faiss::Index* index) { return dynamic_cast<faiss::IndexIVF*>(index); }

bool nearer(const Neighbour& a, const Neighbour& b) {
    return a.distance2 != b.distance2 ? a.distance2 < b.distance2 : a.row < b.row;
}

// A tensor of `in` with exactly `shape`, or an Error naming the file and the tensor.
const Tensor& tensor_of(const Weights& in, const std::string& name, const std::vector<int64_t>& shape, bool s8,
                        const std::string& file) {
    check(in.contains(name), file, name, "a tensor " + shape_string(shape), "none");
    const Tensor& t = in.at(name);
    check(t.shape == shape && t.is_s8() == s8, file, name, std::string(s8 ? "I8 " : "F32 ") + shape_string(shape),
          std::string(t.is_s8() ? "I8 " : "F32 ") + shape_string(t.shape));
    return t;
}

// Finite values, and rows of `row` values whose squared length FAISS's float distances can hold.
void check_finite(const Tensor& t, const std::string& file, int64_t row = 0) {
    const float* v = t.floats();
    const int64_t n = t.numel();
    double norm2 = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(v[i])) throw Error(file, t.name(), "finite numbers", "a non-finite value at element " + std::to_string(i));
        norm2 += double(v[i]) * v[i];
        if (row > 0 && (i + 1) % row == 0) {
            check(norm2 <= kMaxSquaredNorm, file, t.name(), "rows of squared length at most 1e36",
                  (std::ostringstream() << norm2).str() + " at row " + std::to_string(i / row));
            norm2 = 0;
        }
    }
}

}  // namespace

double squared_distance(const float* a, const float* b, int dim) {
    double s = 0;
    for (int i = 0; i < dim; ++i) {
        const double d = double(a[i]) - double(b[i]);
        s += d * d;
    }
    return s;
}

double squared_length(const float* a, int dim) {
    double s = 0;
    for (int i = 0; i < dim; ++i) s += double(a[i]) * a[i];
    return s;
}

std::string IndexKind::name() const {
    const std::string codes_part = codes ? "pq" + std::to_string(codes) : "flat";
    return lists ? "ivf" + std::to_string(lists) + "," + codes_part : codes_part;
}

VectorIndex::VectorIndex(int dim, IndexKind kind) : dim_(dim), kind_(kind) {
    check(dim > 0 && dim <= kMaxDim, "index", "dimension", "1.." + std::to_string(kMaxDim), std::to_string(dim));
    check(kind.codes >= 0 && (kind.codes == 0 || dim % kind.codes == 0), "--codes", "",
          "a number of bytes that divides the vectors' dimension " + std::to_string(dim), std::to_string(kind.codes));
    check(kind.lists >= 0 && kind.lists <= kMaxLists, "--lists", "", "0.." + std::to_string(kMaxLists),
          std::to_string(kind.lists));
    if (kind.lists > 0) {
        quantizer_ = std::make_unique<faiss::IndexFlatL2>(dim);
        if (kind.codes > 0)
            index_ = std::make_unique<ScannedIVFPQ>(quantizer_.get(), dim, size_t(kind.lists), size_t(kind.codes));
        else
            index_ = std::make_unique<faiss::IndexIVFFlat>(quantizer_.get(), dim, size_t(kind.lists));
    } else if (kind.codes > 0) {
        index_ = std::make_unique<faiss::IndexPQ>(dim, size_t(kind.codes), kPqBits);
    } else {
        index_ = std::make_unique<faiss::IndexFlatL2>(dim);
    }
}

VectorIndex::~VectorIndex() = default;
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;

int64_t VectorIndex::size() const { return index_->ntotal; }
bool VectorIndex::trained() const { return index_->is_trained; }

int64_t VectorIndex::training_advised() const { return 39 * training_minimum(); }

int64_t IndexKind::training_minimum() const { return std::max<int64_t>(lists, codes > 0 ? kPqCentroids : 0); }

int64_t VectorIndex::training_minimum() const { return kind_.training_minimum(); }

void VectorIndex::train(std::vector<float> sample, uint64_t seed) {
    const int64_t n = int64_t(sample.size() / size_t(dim_));
    float* x = sample.data();
    check(n >= training_minimum(), "index", "training vectors",
          "at least " + std::to_string(training_minimum()) + " for " + kind_.name(), std::to_string(n));
    try {
        // FAISS warns on stderr below 39 points per centroid; the caller says so in its own words.
        if (auto* ivf = ivf_of(index_.get())) ivf->cp.seed = int(seed % 1000003), ivf->cp.min_points_per_centroid = 1;
        if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(index_.get()))
            ivfpq->pq.cp.seed = int(seed % 1000003), ivfpq->pq.cp.min_points_per_centroid = 1;
        if (auto* pq = dynamic_cast<faiss::IndexPQ*>(index_.get()))
            pq->pq.cp.seed = int(seed % 1000003), pq->pq.cp.min_points_per_centroid = 1;
        index_->verbose = false;
        faiss::precomputed_table_max_bytes = kMaxPrecomputedTableBytes;
        if (kind_.lists > 0) {
            // An inverted file works on the vectors less the training sample's mean: FAISS's
            // centroid distances are |x|^2 + |c|^2 - 2 x.c in float, whose rounding grows with |x|^2,
            // and vectors far from 0 (with a spread small beside their length) would get lists
            // by rounding. (The sample is shifted in place: it is ours.)
            std::vector<double> mean(static_cast<size_t>(dim_), 0.0);
            for (int64_t r = 0; r < n; ++r)
                for (int d = 0; d < dim_; ++d) mean[size_t(d)] += x[size_t(r) * dim_ + d];
            shift_.assign(size_t(dim_), 0.f);
            for (int d = 0; d < dim_; ++d) shift_[size_t(d)] = float(mean[size_t(d)] / double(n));
            for (size_t i = 0; i < sample.size(); ++i) sample[i] -= shift_[i % size_t(dim_)];
        }
        index_->train(n, x);
        if (auto* scanned = dynamic_cast<ScannedIVFPQ*>(index_.get())) scanned->prepare_scan();
    } catch (const faiss::FaissException& e) {
        throw Error("index", "training", "a trained index", e.what());
    }
}

void VectorIndex::add(const float* x, int64_t n) {
    check(trained(), "index", "training", "a trained index before vectors are added", "an untrained one");
    try {
        if (auto* ivf = ivf_of(index_.get())) {
            std::vector<float> buffer;
            const float* y = shifted(x, n, buffer);
            const std::vector<faiss::Index::idx_t> lists = assign_lists(y, n);
            ivf->add_core(n, y, nullptr, lists.data());
        } else {
            index_->add(n, x);
        }
        if (kind_.exact())
            for (int64_t r = 0; r < n; ++r) max_norm2_ = std::max(max_norm2_, squared_length(x + size_t(r) * dim_, dim_));
    } catch (const faiss::FaissException& e) {
        throw Error("index", "adding vectors", "vectors added", e.what());
    }
}

// FAISS's nearest few centroids (float distances, whose rounding depends on how many vectors are
// assigned together: BLAS from 20 on, direct differences below), then the nearest of them by
// distances summed in double, ties by list number: a vector gets the same list whatever it is
// added with, so exact copies share a list (and, with codes, their codes).
std::vector<int64_t> VectorIndex::assign_lists(const float* x, int64_t n) const {
    const int m = std::min(kind_.lists, 4);
    std::vector<faiss::Index::idx_t> near(size_t(n) * size_t(m));
    std::vector<float> unused(near.size());
    quantizer_->search(n, x, m, unused.data(), near.data());
    const float* centroids = dynamic_cast<const faiss::IndexFlat&>(*quantizer_).get_xb();
    std::vector<int64_t> lists(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        double best = INFINITY;
        for (int j = 0; j < m; ++j) {
            const int64_t l = near[size_t(i) * m + j];
            if (l < 0) continue;
            const double d = squared_distance(x + size_t(i) * dim_, centroids + size_t(l) * dim_, dim_);
            if (d < best || (d == best && l < lists[size_t(i)])) best = d, lists[size_t(i)] = l;
        }
    }
    return lists;
}

const float* VectorIndex::shifted(const float* x, int64_t n, std::vector<float>& buffer) const {
    if (shift_.empty()) return x;
    buffer.resize(size_t(n) * size_t(dim_));
    for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = x[i] - shift_[i % size_t(dim_)];
    return buffer.data();
}

bool VectorIndex::use_faiss_scan(bool on) {
    auto* scanned = dynamic_cast<ScannedIVFPQ*>(index_.get());
    if (scanned) scanned->faiss_scan = on;
    return scanned != nullptr;
}

std::vector<int64_t> VectorIndex::list_sizes() const {
    std::vector<int64_t> sizes;
    if (const auto* ivf = ivf_of(index_.get()))
        for (size_t l = 0; l < ivf->nlist; ++l) sizes.push_back(int64_t(ivf->invlists->list_size(l)));
    return sizes;
}

int64_t VectorIndex::list_vectors_scanned() { return int64_t(faiss::indexIVF_stats.ndis); }

double VectorIndex::bytes_per_vector() const {
    const double payload = kind_.codes > 0 ? double(kind_.codes) : 4.0 * dim_;
    return payload + (kind_.lists > 0 ? double(sizeof(faiss::Index::idx_t)) : 0.0);
}

const float* VectorIndex::vectors() const {
    const auto* flat = dynamic_cast<const faiss::IndexFlat*>(index_.get());
    return flat ? flat->get_xb() : nullptr;
}

void VectorIndex::reconstruct(int64_t row, float* out) const {
    check(row >= 0 && row < size(), "index", "row", "0.." + std::to_string(size() - 1), std::to_string(row));
    if (auto* ivf = ivf_of(index_.get()); ivf && ivf->direct_map.type == faiss::DirectMap::NoMap)
        ivf->make_direct_map(true);
    index_->reconstruct(row, out);
    for (size_t d = 0; d < shift_.size(); ++d) out[d] += shift_[d];
}

// The k nearest among `candidates` by distances summed in double, nearest first, ties by row.
void VectorIndex::exact_rerank(const float* q, int k, const std::vector<int64_t>& candidates,
                               std::vector<Neighbour>& out) const {
    out.clear();
    for (int64_t row : candidates)
        if (row >= 0) out.push_back({row, squared_distance(q, vectors() + size_t(row) * dim_, dim_)});
    std::sort(out.begin(), out.end(), nearer);
    if (int(out.size()) > k) out.resize(size_t(k));
}

std::vector<std::vector<Neighbour>> VectorIndex::search(const float* q, int64_t nq, int k, int nprobe,
                                                         const int64_t* own_rows) const {
    check(k >= 1 && k <= size(), "-k", "", "1.." + std::to_string(size()) + " (the vectors in the index)", std::to_string(k));
    std::vector<std::vector<Neighbour>> result(static_cast<size_t>(nq));
    // Exact: FAISS's candidates (its distances come from |q|^2 + |x|^2 - 2 q.x in float), widened
    // until no row outside them can be nearer than the k-th by the exact distance. Inverted files:
    // more lists probed until k rows are found.
    Pass pass{kind_.exact() ? int(std::min<int64_t>(size(), int64_t(k) * 2 + 8)) : k,
              kind_.lists ? std::clamp(nprobe, 1, kind_.lists) : 0};
    std::vector<int64_t> pending(static_cast<size_t>(nq));
    for (int64_t i = 0; i < nq; ++i) pending[size_t(i)] = i;
    while (!pending.empty()) {
        std::vector<int64_t> again;
        // FAISS holds every query's results (and probed lists) at once: a bounded number of queries a call.
        const size_t per_call = size_t(std::max<int64_t>(
            1, kMaxResultsPerCall / std::max({int64_t(pass.wanted), int64_t(pass.probes), int64_t(dim_)})));
        for (size_t first = 0; first < pending.size(); first += per_call) {
            const std::vector<int64_t> some(pending.begin() + first,
                                            pending.begin() + std::min(pending.size(), first + per_call));
            search_pass(q, some, own_rows, k, pass, result, again);
        }
        pending = std::move(again);
        if (kind_.exact())
            pass.wanted = int(std::min<int64_t>(size(), int64_t(pass.wanted) * 4));
        else
            pass.probes = std::min(kind_.lists, pass.probes * 2);
    }
    return result;
}

// One FAISS search of queries `which`; those whose answer is not yet sure go to `again`.
void VectorIndex::search_pass(const float* q, const std::vector<int64_t>& which, const int64_t* own_rows, int k,
                              const Pass& pass, std::vector<std::vector<Neighbour>>& result,
                              std::vector<int64_t>& again) const {
    const size_t n = which.size(), wanted = size_t(pass.wanted);
    std::vector<float> queries(n * size_t(dim_)), distances(n * wanted);
    std::vector<faiss::Index::idx_t> rows(distances.size());
    for (size_t p = 0; p < n; ++p)
        std::memcpy(&queries[p * dim_], q + size_t(which[p]) * dim_, sizeof(float) * size_t(dim_));
    if (!shift_.empty())
        for (size_t i = 0; i < queries.size(); ++i) queries[i] -= shift_[i % size_t(dim_)];
    try {
        if (auto* ivf = ivf_of(index_.get())) {
            ivf->nprobe = size_t(pass.probes);
            if (own_rows) {
                probe_own_lists(queries.data(), which, own_rows, pass.probes, pass.wanted, distances.data(), rows.data());
            } else {
                index_->search(int64_t(n), queries.data(), pass.wanted, distances.data(), rows.data());
            }
        } else {
            index_->search(int64_t(n), queries.data(), pass.wanted, distances.data(), rows.data());
        }
    } catch (const faiss::FaissException& e) {
        throw Error("index", "search", "a search", e.what());
    }
    for (size_t p = 0; p < n; ++p) {
        std::vector<Neighbour>& out = result[size_t(which[p])];
        const float* d = &distances[p * wanted];
        const faiss::Index::idx_t* r = &rows[p * wanted];
        if (!kind_.exact()) {
            out.clear();
            for (size_t j = 0; j < wanted; ++j)
                if (r[j] >= 0) out.push_back({r[j], std::max(0.0, double(d[j]))});
            std::sort(out.begin(), out.end(), nearer);
            if (int(out.size()) < k && pass.probes < kind_.lists) again.push_back(which[p]);
            continue;
        }
        exact_rerank(&queries[p * dim_], k, std::vector<int64_t>(r, r + wanted), out);
        const double tolerance = 1e-4 * (squared_length(&queries[p * dim_], dim_) + max_norm2_) + 1e-30;
        // (fewer than k: FAISS left out rows whose float distance overflowed; widen to all)
        if (int64_t(wanted) < size() && (int(out.size()) < k || out.back().distance2 >= double(d[wanted - 1]) - tolerance))
            again.push_back(which[p]);
    }
}

// An inverted file's search of stored rows (their reconstructions in `queries`) that always
// probes each row's own list, so a row's exact copies are found whatever its coarse neighbours.
void VectorIndex::probe_own_lists(const float* queries, const std::vector<int64_t>& which, const int64_t* own_rows,
                                  int probes, int wanted, float* distances, faiss::Index::idx_t* rows) const {
    auto* ivf = ivf_of(index_.get());
    if (ivf->direct_map.type == faiss::DirectMap::NoMap) ivf->make_direct_map(true);
    const size_t n = which.size();
    std::vector<faiss::Index::idx_t> lists(n * size_t(probes));
    std::vector<float> coarse(lists.size());
    quantizer_->search(int64_t(n), queries, probes, coarse.data(), lists.data());
    const float* centroids = dynamic_cast<const faiss::IndexFlat&>(*quantizer_).get_xb();
    for (size_t p = 0; p < n; ++p) {
        const auto own = faiss::Index::idx_t(faiss::lo_listno(uint64_t(ivf->direct_map.get(own_rows[which[p]]))));
        faiss::Index::idx_t* l = &lists[p * probes];
        if (std::find(l, l + probes, own) != l + probes) continue;
        l[probes - 1] = own;
        coarse[p * probes + probes - 1] = faiss::fvec_L2sqr(queries + p * dim_, centroids + size_t(own) * dim_, size_t(dim_));
    }
    // FAISS's search_preassigned runs on one thread: slices of the queries on each.
    const int threads = std::max(1, std::min(omp_get_max_threads(), int(n)));
    std::vector<std::exception_ptr> failed(static_cast<size_t>(threads));
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; ++t) {
        const size_t lo = n * size_t(t) / size_t(threads), hi = n * size_t(t + 1) / size_t(threads);
        try {
            ivf->search_preassigned(int64_t(hi - lo), queries + lo * dim_, wanted, &lists[lo * probes], &coarse[lo * probes],
                                    distances + lo * size_t(wanted), rows + lo * size_t(wanted), false);
        } catch (...) {
            failed[size_t(t)] = std::current_exception();
        }
    }
    for (const auto& e : failed)
        if (e) std::rethrow_exception(e);
}

void VectorIndex::to_tensors(Weights& out) const {
    const int64_t n = size();
    if (kind_.lists == 0) {
        if (kind_.codes == 0) {
            out.add("vectors", {n, dim_}, std::vector<float>(vectors(), vectors() + size_t(n) * dim_));
            return;
        }
        const auto& pq = dynamic_cast<const faiss::IndexPQ&>(*index_);
        out.add("pq.centroids", {int64_t(pq.pq.M), int64_t(pq.pq.ksub), int64_t(pq.pq.dsub)}, pq.pq.centroids);
        out.add_s8("codes", {n, int64_t(pq.pq.M)}, std::vector<int8_t>(pq.codes.begin(), pq.codes.end()));
        return;
    }
    const auto& ivf = dynamic_cast<const faiss::IndexIVF&>(*index_);
    const auto& centroids = dynamic_cast<const faiss::IndexFlat&>(*quantizer_);
    if (!shift_.empty()) out.add("ivf.shift", {dim_}, shift_);
    out.add("ivf.centroids", {int64_t(kind_.lists), dim_},
            std::vector<float>(centroids.get_xb(), centroids.get_xb() + size_t(kind_.lists) * dim_));
    const size_t code_size = ivf.code_size;
    std::vector<float> list_of(size_t(n), -1.f);
    std::vector<uint8_t> codes(size_t(n) * code_size);
    for (size_t l = 0; l < size_t(kind_.lists); ++l) {
        const size_t count = ivf.invlists->list_size(l);
        const faiss::Index::idx_t* ids = ivf.invlists->get_ids(l);
        const uint8_t* c = ivf.invlists->get_codes(l);
        for (size_t j = 0; j < count; ++j) {
            list_of[size_t(ids[j])] = float(l);
            std::memcpy(&codes[size_t(ids[j]) * code_size], c + j * code_size, code_size);
        }
        ivf.invlists->release_ids(l, ids);
        ivf.invlists->release_codes(l, c);
    }
    out.add("ivf.list", {n}, std::move(list_of));
    if (kind_.codes == 0) {
        std::vector<float> v(size_t(n) * dim_);
        std::memcpy(v.data(), codes.data(), codes.size());
        out.add("vectors", {n, dim_}, std::move(v));
        return;
    }
    const auto& pq = dynamic_cast<const faiss::IndexIVFPQ&>(*index_).pq;
    out.add("pq.centroids", {int64_t(pq.M), int64_t(pq.ksub), int64_t(pq.dsub)}, pq.centroids);
    out.add_s8("codes", {n, int64_t(code_size)}, std::vector<int8_t>(codes.begin(), codes.end()));
}

VectorIndex VectorIndex::from_tensors(const Weights& in, int dim, IndexKind kind, int64_t rows, const std::string& file) {
    // Every tensor is checked before FAISS allocates anything (its sizes follow from dim, codes and lists).
    check(dim > 0 && dim <= kMaxDim, file, "dimension", "1.." + std::to_string(kMaxDim), std::to_string(dim));
    const int m = kind.codes;
    check(m >= 0 && (m == 0 || dim % m == 0), file, "codes", "a number of bytes that divides " + std::to_string(dim),
          std::to_string(m));
    const Tensor* pq_centroids = m ? &tensor_of(in, "pq.centroids", {m, kPqCentroids, dim / m}, false, file) : nullptr;
    if (pq_centroids) check_finite(*pq_centroids, file);
    const Tensor* codes = m ? &tensor_of(in, "codes", {rows, m}, true, file) : nullptr;
    const Tensor* vectors = m ? nullptr : &tensor_of(in, "vectors", {rows, dim}, false, file);
    if (vectors) check_finite(*vectors, file, dim);
    // (training needs a vector per list, and the lists' tables grow with their number)
    check(kind.lists <= rows, file, "lists", "at most the rows (" + std::to_string(rows) + ")", std::to_string(kind.lists));
    const Tensor* centroids = kind.lists ? &tensor_of(in, "ivf.centroids", {kind.lists, dim}, false, file) : nullptr;
    const Tensor* list = kind.lists ? &tensor_of(in, "ivf.list", {rows}, false, file) : nullptr;
    if (centroids) check_finite(*centroids, file, dim);
    // (files of session 12 have no shift: their inverted files work on the vectors as they are)
    const Tensor* shift = kind.lists && in.contains("ivf.shift") ? &tensor_of(in, "ivf.shift", {dim}, false, file) : nullptr;
    if (shift) check_finite(*shift, file, dim);
    for (int64_t i = 0; list && i < rows; ++i) {
        const float l = list->floats()[i];
        check(l >= 0 && l < float(kind.lists) && l == std::floor(l), file, "ivf.list",
              "list numbers 0.." + std::to_string(kind.lists - 1), "element " + std::to_string(i) + " = " + std::to_string(l));
    }
    VectorIndex v(dim, kind);
    if (kind.lists == 0 && vectors) {
        v.add(vectors->floats(), rows);
        return v;
    }
    if (kind.lists == 0) {
        auto& pq = dynamic_cast<faiss::IndexPQ&>(*v.index_);
        pq.pq.centroids.assign(pq_centroids->floats(), pq_centroids->floats() + pq_centroids->numel());
        pq.is_trained = true;
        const auto* c = reinterpret_cast<const uint8_t*>(codes->s8());
        pq.codes.assign(c, c + codes->numel());
        pq.ntotal = rows;
        return v;
    }
    v.quantizer_->add(kind.lists, centroids->floats());
    if (shift) v.shift_.assign(shift->floats(), shift->floats() + dim);
    auto& ivf = dynamic_cast<faiss::IndexIVF&>(*v.index_);
    if (m) {
        auto& ivfpq = dynamic_cast<faiss::IndexIVFPQ&>(ivf);
        ivfpq.pq.centroids.assign(pq_centroids->floats(), pq_centroids->floats() + pq_centroids->numel());
        // (at most 16 x the codes' bytes, so a small file cannot ask for a large table)
        faiss::precomputed_table_max_bytes =
            std::min(kMaxPrecomputedTableBytes, std::max(size_t(64) << 20, size_t(16) * size_t(rows) * size_t(m)));
        ivfpq.precompute_table();
        dynamic_cast<ScannedIVFPQ&>(ivfpq).prepare_scan();
    }
    ivf.is_trained = true;
    const size_t code_size = ivf.code_size;
    const auto* bytes = m ? reinterpret_cast<const uint8_t*>(codes->s8()) : reinterpret_cast<const uint8_t*>(vectors->floats());
    for (int64_t i = 0; i < rows; ++i) ivf.invlists->add_entry(size_t(list->floats()[i]), i, bytes + size_t(i) * code_size);
    ivf.ntotal = rows;
    return v;
}

}  // namespace alexnet
