// alexnet-search's library: exact search against a brute-force loop (ties included), the
// compressed kinds' recall on clustered vectors, the index file's round trip and its refusal of
// damaged files, the .npy reader, and the origin check.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "formats/npy.hpp"
#include "formats/safetensors.hpp"
#include "search/index_file.hpp"
#include "search/vector_index.hpp"
#include "search/vector_sets.hpp"
#include "test_util.hpp"

using namespace alexnet;

namespace {

// `n` vectors around `clusters` centres (spread 0.1 around centres of spread 1), seeded.
std::vector<float> clustered(int64_t n, int dim, int clusters, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> unit(0.f, 1.f), small(0.f, 0.1f);
    std::vector<float> centres(size_t(clusters) * dim), v(size_t(n) * dim);
    for (auto& c : centres) c = unit(rng);
    for (int64_t i = 0; i < n; ++i) {
        const size_t c = rng() % unsigned(clusters);
        for (int d = 0; d < dim; ++d) v[size_t(i) * dim + d] = centres[c * dim + d] + small(rng);
    }
    return v;
}

// The k nearest rows by a plain loop: distances summed in double, ties by row.
std::vector<Neighbour> brute_force(const std::vector<float>& base, int dim, const float* q, int k) {
    std::vector<Neighbour> all;
    for (int64_t r = 0; r < int64_t(base.size()) / dim; ++r) {
        double s = 0;
        for (int d = 0; d < dim; ++d) {
            const double x = double(q[d]) - base[size_t(r) * dim + d];
            s += x * x;
        }
        all.push_back({r, s});
    }
    std::sort(all.begin(), all.end(), [](const Neighbour& a, const Neighbour& b) {
        return a.distance2 != b.distance2 ? a.distance2 < b.distance2 : a.row < b.row;
    });
    all.resize(size_t(k));
    return all;
}

IndexFile file_with(VectorIndex index, int64_t n) {
    IndexFile f{std::move(index)};
    for (int64_t i = 0; i < n; ++i) f.paths.push_back("img" + std::to_string(i) + ".jpg"), f.labels.push_back(int(i % 3));
    f.class_names = {"a", "b", "c"};
    f.origin = {"alexnet-28 0123456789abcdef", "w.safetensors", "fc7", "resize 32"};
    return f;
}

std::string load_error(const std::string& path) {
    try {
        load_index(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

// An ivf4,pq4 index of `n` clustered 8-d vectors: the damaged-file cases start from its file.
VectorIndex small_ivfpq(int n) {
    const std::vector<float> base = clustered(n, 8, 5, 7);
    VectorIndex ivf(8, {4, 4});
    ivf.train(base, 1);
    ivf.add(base.data(), n);
    return ivf;
}

// `w` changed by `change`, written to `path`, and what loading it says.
std::string rewritten_error(const Weights& w, const std::string& path, const std::function<void(Weights&)>& change) {
    Weights copy;
    for (const auto& t : w.names()) {
        const Tensor& src = w.at(t);
        if (src.is_s8()) copy.add_s8(t, src.shape, std::vector<int8_t>(src.s8(), src.s8() + src.numel()));
        else copy.add(t, src.shape, std::vector<float>(src.floats(), src.floats() + src.numel()));
    }
    copy.metadata = w.metadata;
    change(copy);
    write_safetensors(path, copy);
    return load_error(path);
}

}  // namespace

TEST_CASE("exact search returns the brute-force neighbours, equal distances in row order") {
    const int dim = 24, n = 400, k = 10;
    std::vector<float> base = test::random_vector(size_t(n) * dim, 5);
    // Exact ties: rows 100..109 are copies of row 7, and rows 200..204 of row 8.
    for (int r = 100; r < 110; ++r) std::copy_n(&base[7 * dim], dim, &base[size_t(r) * dim]);
    for (int r = 200; r < 205; ++r) std::copy_n(&base[8 * dim], dim, &base[size_t(r) * dim]);
    VectorIndex index(dim, {});
    index.add(base.data(), n);
    std::vector<float> queries = test::random_vector(size_t(50) * dim, 6);
    std::copy_n(&base[7 * dim], dim, &queries[0]);  // a query on the tied rows
    std::copy_n(&base[8 * dim], dim, &queries[dim]);
    const auto found = index.search(queries.data(), 50, k, 1);
    for (int i = 0; i < 50; ++i) {
        const auto expected = brute_force(base, dim, &queries[size_t(i) * dim], k);
        REQUIRE(found[size_t(i)].size() == size_t(k));
        for (int j = 0; j < k; ++j) {
            CHECK(found[size_t(i)][size_t(j)].row == expected[size_t(j)].row);
            CHECK(found[size_t(i)][size_t(j)].distance2 == expected[size_t(j)].distance2);
        }
    }
    CHECK(found[0][0].row == 7);
    CHECK(found[0][1].row == 100);
    CHECK(found[0][10 - 1].row == 108);  // 7, then 100..108 by row
    CHECK(found[1][0].row == 8);
    CHECK(found[1][5].row == 204);
    CHECK(found[0][0].distance2 == 0);
}

TEST_CASE("compressed indexes: bytes per vector as asked, recall at 10 on clustered vectors, and their limits") {
    const int dim = 64, n = 4000;
    const std::vector<float> base = clustered(n, dim, 400, 1), queries = clustered(200, dim, 400, 1);
    VectorIndex exact(dim, {});
    exact.add(base.data(), n);
    const auto truth = exact.search(queries.data(), 200, 10, 1);
    for (const IndexKind kind : {IndexKind{16, 0}, IndexKind{0, 32}, IndexKind{16, 32}}) {
        CAPTURE(kind.name());
        VectorIndex index(dim, kind);
        CHECK_FALSE(index.trained());
        index.train(base, 1);
        index.add(base.data(), n);
        CHECK(index.bytes_per_vector() == (kind.codes ? 16 : 256) + (kind.lists ? 8 : 0));
        const auto got = index.search(queries.data(), 200, 10, 32);
        double recall = 0;
        for (size_t q = 0; q < 200; ++q)
            for (const Neighbour& t : truth[q])
                recall += std::count_if(got[q].begin(), got[q].end(), [&](const Neighbour& g) { return g.row == t.row; }) / 2000.0;
        CHECK(recall >= 0.8);
    }
    CHECK_THROWS_WITH(VectorIndex(dim, {48, 0}), "--codes: expected a number of bytes that divides the vectors' dimension 64, found 48");
    VectorIndex pq(dim, {16, 0});
    CHECK_THROWS_WITH(pq.train(std::vector<float>(base.begin(), base.begin() + 100 * dim), 1), "index: training vectors: expected at least 256 for pq16, found 100");
    CHECK_THROWS_WITH(exact.search(queries.data(), 1, n + 1, 1), ("-k: expected 1..4000 (the vectors in the index), found 4001"));
}

TEST_CASE("an index file round trip gives the same neighbours, paths, labels and origin for every kind") {
    const int dim = 32, n = 600;
    const std::vector<float> base = clustered(n, dim, 10, 3), queries = clustered(20, dim, 10, 4);
    test::TempDir dir;
    for (const IndexKind kind : {IndexKind{}, IndexKind{8, 0}, IndexKind{0, 8}, IndexKind{8, 8}}) {
        CAPTURE(kind.name());
        VectorIndex index(dim, kind);
        if (!index.trained()) index.train(base, 1);
        index.add(base.data(), n);
        const auto before = index.search(queries.data(), 20, 5, 4);
        const std::string path = dir / (kind.name() + ".index");
        save_index(path, file_with(std::move(index), n));
        const IndexFile back = load_index(path);
        CHECK(back.index.kind().name() == kind.name());
        CHECK(back.paths[599] == "img599.jpg");
        CHECK(back.labels[5] == 2);
        CHECK(back.class_names == std::vector<std::string>{"a", "b", "c"});
        CHECK(back.origin == VectorOrigin{"alexnet-28 0123456789abcdef", "w.safetensors", "fc7", "resize 32"});
        const auto after = back.index.search(queries.data(), 20, 5, 4);
        for (size_t q = 0; q < 20; ++q)
            for (size_t j = 0; j < 5; ++j) {
                CHECK(after[q][j].row == before[q][j].row);
                CHECK(after[q][j].distance2 == doctest::Approx(before[q][j].distance2).epsilon(1e-5));
            }
    }
}

TEST_CASE("a damaged, truncated, foreign or hostile index file gets one line naming the file and field") {
    test::TempDir dir;
    const int n = 300;
    VectorIndex ivf = small_ivfpq(n);
    const std::string good = dir / "good.index";
    save_index(good, file_with(std::move(ivf), n));
    REQUIRE(load_error(good) == "no error");

    std::ifstream in(good, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    const std::string truncated = dir / "truncated.index";
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() - 100));
    CHECK(load_error(truncated).rfind(truncated + ": ", 0) == 0);

    const std::string model = std::string(ALEXNET_DATA_DIR) + "/alexnet-28-fmnist.safetensors";
    CHECK(load_error(model) == model + ": __metadata__.format: expected alexnet-search index 1, found 'alexnet-suite'");
    const std::string text = dir / "notes.txt";
    std::ofstream(text) << "hello";
    CHECK(load_error(text) == text + ": format: expected alexnet-search index 1 (made by alexnet-search index), found another kind of file");

    // Hand-made files: a list number out of range, codes of the wrong shape, a non-finite vector,
    // another version, a row count the tensors do not have.
    const Weights w = read_safetensors(good);
    auto rewrite = [&](const std::string& name, const std::function<void(Weights&)>& change) {
        return rewritten_error(w, dir / name, change);
    };
    CHECK(rewrite("list.index", [](Weights& c) {
        std::vector<float> list(300, 0.f);
        list[17] = 4;
        c.add("ivf.list", {300}, list);
    }) == dir / "list.index" + ": ivf.list: expected list numbers 0..3, found element 17 = 4.000000");
    CHECK(rewrite("codes.index", [](Weights& c) { c.add_s8("codes", {300, 2}, std::vector<int8_t>(600)); }) ==
          dir / "codes.index" + ": codes: expected I8 [300, 4], found I8 [300, 2]");
    CHECK(rewrite("nan.index", [](Weights& c) {
        std::vector<float> cent(32, 0.f);
        cent[3] = NAN;
        c.add("ivf.centroids", {4, 8}, cent);
    }) == dir / "nan.index" + ": ivf.centroids: expected finite numbers, found a non-finite value at element 3");
    CHECK(rewrite("version.index", [](Weights& c) { c.metadata["format"] = "alexnet-search index 7"; }) ==
          dir / "version.index" + ": __metadata__.format: expected alexnet-search index 1, found 'alexnet-search index 7'");
    CHECK(rewrite("rows.index", [](Weights& c) { c.metadata["rows"] = "301"; }) ==
          dir / "rows.index" + ": paths: expected 301 NUL-terminated paths, found 300");
    CHECK(rewrite("rows2.index", [](Weights& c) { c.metadata["rows"] = "-5"; }) ==
          dir / "rows2.index" + ": __metadata__.rows: expected a whole number 0..2147483648, found '-5'");
    CHECK(rewrite("label.index", [](Weights& c) {
        std::vector<float> labels(300, 0.f);
        labels[2] = 3;
        c.add("labels", {300}, labels);
    }) == dir / "label.index" + ": labels: expected class numbers below 3, found 3.000000");
}

TEST_CASE("origins: the first field that differs is named; unknown fields agree") {
    const VectorOrigin index{"alexnet-28 aaaa", "a.safetensors", "fc7", "resize 32"};
    CHECK(origin_difference(index, index) == "");
    CHECK(origin_difference(index, {"alexnet-28 aaaa", "b.safetensors", "fc6", "resize 32"}) ==
          "layer: fc7 in the index, fc6 here");
    CHECK(origin_difference(index, {"alexnet-28 bbbb", "a.safetensors", "fc7", "resize 32"}) ==
          "model: alexnet-28 aaaa in the index, alexnet-28 bbbb here");
    CHECK(origin_difference(index, {"", "", "fc7", ""}) == "");  // vectors from an alexnet-embed file
}

TEST_CASE(".npy matrices read back as NpyWriter wrote them; a bad header names its field") {
    test::TempDir dir;
    const std::string path = dir / "x.npy";
    NpyWriter w(path, 3);
    const float rows[2][3] = {{1, 2, 3}, {4, 5, -6.5f}};
    w.append(rows[0]), w.append(rows[1]);
    w.finish();
    const NpyMatrix m = read_npy_matrix(path);
    CHECK(m.rows == 2);
    CHECK(m.dim == 3);
    CHECK(m.values == std::vector<float>{1, 2, 3, 4, 5, -6.5f});
    std::string header = npy_header(2, 3);
    const std::string f8 = std::string(header).replace(header.find("<f4"), 3, "<f8");
    CHECK_THROWS_WITH(parse_npy_matrix(reinterpret_cast<const uint8_t*>(f8.data()), f8.size(), "y.npy"),
                      "y.npy: npy descr: expected '<f4' (little-endian float32), found '<f8'");
    CHECK_THROWS_WITH(parse_npy_matrix(reinterpret_cast<const uint8_t*>(header.data()), header.size(), "z.npy"),
                      "z.npy: npy data: expected 24 bytes for shape (                   2, 3), found 0");
    const std::string paths = dir / "x.npy.paths.txt";
    std::ofstream(paths) << "a.jpg\nb\\nc.jpg\nd\\\\e.jpg\n";
    CHECK(read_paths_txt(paths) == std::vector<std::string>{"a.jpg", "b\nc.jpg", "d\\e.jpg"});
}

TEST_CASE("vectors that FAISS's float distances cannot hold are refused in one line, not searched (a NaN crashed query)") {
    test::TempDir dir;
    const float nan_row[2] = {NAN, 1.f}, big_row[2] = {1e20f, 0.f}, fine[2] = {1.f, 2.f};
    for (const auto& [name, row] : {std::pair{"nan", nan_row}, std::pair{"big", big_row}}) {
        const std::string path = dir / (std::string(name) + ".npy");
        NpyWriter w(path, 2);
        w.append(fine), w.append(row);
        w.finish();
        std::ofstream(path + ".paths.txt") << "a.jpg\nb.jpg\n";
        CHECK_THROWS_WITH(read_vector_file(path), std::string(name) == "nan"
                              ? (path + " row 1 (b.jpg): vector: expected finite numbers, found a non-finite value at element 0").c_str()
                              : (path + " row 1 (b.jpg): vector: expected a squared length of at most 1e36 (distances are "
                                        "computed in float), found 1e+40").c_str());
    }
}

TEST_CASE("IVF-PQ's list scan (ours, eight sums in flight) gives FAISS's own neighbours and distances") {
    // dim 48 in 12 codes: one word of eight codes and four codes after it per vector.
    for (const IndexKind kind : {IndexKind{12, 16}, IndexKind{16, 16}}) {
        const int dim = kind.codes == 12 ? 48 : 64, n = 3000;
        CAPTURE(kind.name());
        const std::vector<float> base = clustered(n, dim, 50, 11), queries = clustered(100, dim, 50, 12);
        VectorIndex index(dim, kind);
        index.train(base, 1);
        index.add(base.data(), n);
        REQUIRE(index.use_faiss_scan(false));
        const auto ours = index.search(queries.data(), 100, 10, 4);
        index.use_faiss_scan(true);
        const auto faiss = index.search(queries.data(), 100, 10, 4);
        for (size_t q = 0; q < 100; ++q) {
            REQUIRE(ours[q].size() == 10);
            for (size_t j = 0; j < 10; ++j) {
                CHECK(ours[q][j].distance2 == doctest::Approx(faiss[q][j].distance2).epsilon(1e-5));
                // the same rows, but for rows whose distances are equal to float rounding
                if (ours[q][j].row != faiss[q][j].row)
                    CHECK(std::fabs(ours[q][j].distance2 - faiss[q][j].distance2) <= 1e-5 * faiss[q][j].distance2);
            }
        }
    }
    CHECK_FALSE(VectorIndex(16, {4, 0}).use_faiss_scan(true));  // no lists: nothing to switch
}

TEST_CASE("an inverted file gives k neighbours even where the probed lists hold fewer (it probes more)") {
    const int dim = 16, n = 600, k = 50;
    const std::vector<float> base = clustered(n, dim, 40, 5), queries = clustered(30, dim, 40, 6);
    for (const IndexKind kind : {IndexKind{0, 32}, IndexKind{4, 32}}) {
        CAPTURE(kind.name());
        VectorIndex index(dim, kind);
        index.train(base, 1);
        index.add(base.data(), n);
        const auto found = index.search(queries.data(), 30, k, 1);  // one list: about 19 vectors
        for (const auto& f : found) {
            REQUIRE(f.size() == size_t(k));
            for (size_t j = 1; j < f.size(); ++j) CHECK(f[j - 1].distance2 <= f[j].distance2);
        }
    }
}

TEST_CASE("exact search over more queries than one FAISS call holds: the calls' seams change nothing") {
    // k = n: every query's answer is all 4000 rows, so FAISS is given 2097 queries a call.
    const int dim = 4, n = 4000, nq = 2200;
    const std::vector<float> base = clustered(n, dim, 20, 8), queries = clustered(nq, dim, 20, 9);
    VectorIndex index(dim, {});
    index.add(base.data(), n);
    const auto found = index.search(queries.data(), nq, n, 1);
    for (int q : {0, 2096, 2097, 2199}) {
        CAPTURE(q);
        const auto truth = brute_force(base, dim, &queries[size_t(q) * dim], n);
        REQUIRE(found[size_t(q)].size() == size_t(n));
        for (size_t j = 0; j < size_t(n); j += 97) CHECK(found[size_t(q)][j].row == truth[j].row);
    }
}

TEST_CASE("hostile index files are refused before memory is spent on them; paths that cannot be stored are refused") {
    test::TempDir dir;
    const int n = 300;
    VectorIndex ivf = small_ivfpq(n);
    const std::string good = dir / "good.index";
    IndexFile f = file_with(std::move(ivf), n);
    f.origin.weights = "w\xff.safetensors";  // not UTF-8: kept with U+FFFD in its place
    save_index(good, f);
    CHECK(load_index(good).origin.weights == "w\xef\xbf\xbd.safetensors");
    const Weights w = read_safetensors(good);
    auto with_metadata = [&](const std::string& name, const std::string& key, const std::string& value) {
        return rewritten_error(w, dir / name, [&](Weights& c) { c.metadata[key] = value; });
    };
    // 2^20 lists would have FAISS build a table of lists x codes x 256 floats (4 GB).
    CHECK(with_metadata("lists.index", "lists", "1048576") == dir / "lists.index" + ": lists: expected at most the rows (300), found 1048576");
    // 2^31 rows: the paths are counted before anything is sized by the row count.
    CHECK(with_metadata("rows.index", "rows", "2147483648") ==
          dir / "rows.index" + ": paths: expected 2147483648 NUL-terminated paths, found 300");
    VectorSet v;
    const float x[2] = {1, 2};
    CHECK_THROWS_WITH(v.append(std::string("a\0b.jpg", 7), -1, x, 2, "list.npy.paths.txt line 3"),
                      "list.npy.paths.txt line 3: path: expected no NUL byte, found one at byte 1");
}
