#include "search/ivfpq_scan.hpp"

#include <faiss/invlists/DirectMap.h>
#include <faiss/utils/Heap.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace alexnet {

namespace {

constexpr size_t kCentroids = 256;  // 8-bit codes

// Distances from one query to the codes of one list: ||x - c - y||^2 = ||x - c||^2 (the coarse
// distance) + (||y||^2 + 2 <c, y>) (FAISS's precomputed table for list c) - 2 <x, y>, summed
// over the M sub-vectors from one table of M x 256 entries.
class EightSumScanner : public faiss::InvertedListScanner {
public:
    EightSumScanner(const ScannedIVFPQ& ivf, bool store_pairs)
        : faiss::InvertedListScanner(store_pairs), ivf_(ivf), m_(ivf.pq.M), inner_(m_ * kCentroids),
          table_(m_ * kCentroids) {
        keep_max = false;
        code_size = ivf.pq.code_size;
    }

    void set_query(const float* x) override {
        const size_t dsub = ivf_.pq.dsub;
        std::fill(inner_.begin(), inner_.end(), 0.f);
        for (size_t m = 0; m < m_; ++m) {
            float* row = &inner_[m * kCentroids];
            const float* by_dim = &ivf_.centroids_by_dim[m * dsub * kCentroids];
            for (size_t d = 0; d < dsub; ++d) {
                const float xd = x[m * dsub + d];
                const float* c = by_dim + d * kCentroids;
                for (size_t j = 0; j < kCentroids; ++j) row[j] += xd * c[j];
            }
        }
    }

    void set_list(idx_t list, float coarse_dis) override {
        list_no = list;
        dis0_ = coarse_dis;
        const float* pre = ivf_.precomputed_table.data() + size_t(list) * m_ * kCentroids;
        for (size_t i = 0; i < table_.size(); ++i) table_[i] = pre[i] - 2.f * inner_[i];
    }

    float distance_to_code(const uint8_t* code) const override { return dis0_ + table_sum(code); }

    size_t scan_codes(size_t n, const uint8_t* codes, const idx_t* ids, float* distances, idx_t* labels,
                      size_t k) const override {
        size_t updates = 0;
        for (size_t i = 0; i < n; ++i) {
            const float d = dis0_ + table_sum(codes + i * m_);
            if (d < distances[0]) {
                const idx_t id = store_pairs ? idx_t(faiss::lo_build(uint64_t(list_no), i)) : ids[i];
                faiss::maxheap_replace_top(k, distances, labels, d, id);
                ++updates;
            }
        }
        return updates;
    }

private:
    // Eight partial sums, so eight adds are in flight rather than one chain of M, and one load
    // for eight code bytes (little-endian: byte j of the word is code[m + j]).
    float table_sum(const uint8_t* code) const {
        static_assert(std::endian::native == std::endian::little);
        const float* t = table_.data();
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t m = 0;
        for (; m + 8 <= m_; m += 8, t += 8 * kCentroids) {
            uint64_t w;
            std::memcpy(&w, code + m, 8);
            for (size_t j = 0; j < 8; ++j) s[j] += t[j * kCentroids + ((w >> (8 * j)) & 255)];
        }
        for (; m < m_; ++m, t += kCentroids) s[0] += t[code[m]];
        return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    }

    const ScannedIVFPQ& ivf_;
    size_t m_;
    std::vector<float> inner_;  // <x_m, y_mj>
    std::vector<float> table_;  // the list's table
    float dis0_ = 0;
};

}  // namespace

ScannedIVFPQ::ScannedIVFPQ(faiss::Index* quantizer, size_t dim, size_t lists, size_t codes)
    : faiss::IndexIVFPQ(quantizer, dim, lists, codes, 8) {}

void ScannedIVFPQ::prepare_scan() {
    const size_t dsub = pq.dsub;
    centroids_by_dim.assign(pq.centroids.size(), 0.f);
    for (size_t m = 0; m < pq.M; ++m)
        for (size_t j = 0; j < kCentroids; ++j)
            for (size_t d = 0; d < dsub; ++d)
                centroids_by_dim[(m * dsub + d) * kCentroids + j] = pq.centroids[(m * kCentroids + j) * dsub + d];
}

bool ScannedIVFPQ::scan_applies() const {
    return !faiss_scan && metric_type == faiss::METRIC_L2 && by_residual && use_precomputed_table == 1 && pq.nbits == 8 &&
           pq.ksub == kCentroids && centroids_by_dim.size() == pq.M * pq.dsub * kCentroids &&
           precomputed_table.size() == nlist * pq.M * kCentroids;
}

faiss::InvertedListScanner* ScannedIVFPQ::get_InvertedListScanner(bool store_pairs,
                                                                   const faiss::IDSelector* sel) const {
    if (sel != nullptr || !scan_applies()) return faiss::IndexIVFPQ::get_InvertedListScanner(store_pairs, sel);
    return new EightSumScanner(*this, store_pairs);
}

}  // namespace alexnet
