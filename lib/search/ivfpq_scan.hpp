#pragma once
// FAISS's IVF-PQ index with its list scan replaced, nothing else. Debian builds FAISS for any
// x86-64 CPU, and there its scan of 8-bit PQ codes adds a code's table entries one after another:
// one float add chain per code, so a 64-byte code costs 64 add latencies (92% of a query's time
// on a million 4096-d vectors). This scanner keeps eight partial sums per code, so the CPU has
// eight adds in flight, and builds a query's inner-product table with a loop the compiler
// vectorises. Training, encoding, the coarse quantizer, the lists, the heaps and the threads
// over queries stay FAISS's. Distances equal FAISS's up to float rounding of the sums' order.
#include <faiss/IndexIVFPQ.h>

#include <vector>

namespace alexnet {

class ScannedIVFPQ : public faiss::IndexIVFPQ {
public:
    ScannedIVFPQ(faiss::Index* quantizer, size_t dim, size_t lists, size_t codes);

    // Our scanner where it applies (L2, by residual, the precomputed table, 8-bit codes, no id
    // filter); FAISS's otherwise.
    faiss::InvertedListScanner* get_InvertedListScanner(bool store_pairs, const faiss::IDSelector* sel) const override;

    // Call after the codebooks change (training, loading) and before searching.
    void prepare_scan();
    bool scan_applies() const;

    bool faiss_scan = false;  // FAISS's own scan (to compare with)
    // The codebooks as (M, dsub, ksub): a query's inner products with them are rows of axpys.
    std::vector<float> centroids_by_dim;
};

}  // namespace alexnet
