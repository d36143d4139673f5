// alexnet-search as users run it: a data set and images indexed, queried (lines, labels, the
// sheet), --append, --exclude-self, alexnet-embed's files as input, near-duplicates, and the
// refusals: another layer or model, a damaged index, -k beyond the index.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "cli_util.hpp"
#include "synthetic_idx.hpp"
#include "test_util.hpp"

using namespace alexnet::test;
namespace fs = std::filesystem;

namespace {

const std::string kSearch = kBin + "/alexnet-search";
const std::string kWeights = std::string(ALEXNET_DATA_DIR) + "/alexnet-28-fmnist.safetensors";
const std::string kDemo = std::string(ALEXNET_DATA_DIR) + "/demo";

}  // namespace

TEST_CASE("alexnet-search: a data set indexed and queried, with labels, the summary and the sheet") {
    TempDir dir;
    write_quadrants(dir.path, "train", 120, 1);
    write_quadrants(dir.path, "t10k", 12, 2);
    const std::string index = dir / "q.index";
    const Run made = run(kSearch + " index -q -w " + kWeights + " -o " + index + " " + dir.path.string());
    REQUIRE(made.status == 0);
    CHECK(made.err == "");
    const auto summary = made.lines();
    REQUIRE(summary.size() == 1);
    CHECK(summary[0]["vectors"] == 120);
    CHECK(summary[0]["kind"] == "flat");
    CHECK(summary[0]["layer"] == "fc7");

    const std::string sheet = dir / "fig4.png";
    const Run q = run(kSearch + " query " + index + " " + dir.path.string() + " -k 5 --sheet " + sheet);
    REQUIRE(q.status == 0);
    const auto lines = q.lines();
    REQUIRE(lines.size() == 13);  // 12 queries in input order, then the summary
    for (int i = 0; i < 12; ++i) {
        CHECK(lines[size_t(i)]["path"] == dir / "t10k-images-idx3-ubyte#" + std::to_string(i));
        REQUIRE(lines[size_t(i)]["neighbours"].size() == 5);
        double last = 0;
        for (const auto& n : lines[size_t(i)]["neighbours"]) {
            CHECK(n["distance"].get<double>() >= last);
            last = n["distance"].get<double>();
            CHECK(n["path"].get<std::string>().rfind(dir / "train-images-idx3-ubyte#", 0) == 0);
            CHECK(n.contains("class"));
        }
    }
    const auto& s = lines.back();
    CHECK(s["summary"] == true);
    CHECK(s["queries"] == 12);
    // The summary's precision at 1 is the share of queries whose first neighbour has their class.
    int same = 0;
    for (int i = 0; i < 12; ++i) same += lines[size_t(i)]["neighbours"][0]["class"] == lines[size_t(i)]["class"];
    CHECK(s["label_precision_at"]["1"].get<double>() == doctest::Approx(same / 12.0));
    CHECK(fs::file_size(sheet) > 1000);
    CHECK(fs::exists(dir / "fig4.svg"));
}

TEST_CASE("alexnet-search: --append, --exclude-self, alexnet-embed's .npy and .jsonl, near-duplicates") {
    TempDir dir;
    fs::create_directories(dir / "a");
    fs::copy_file(kDemo + "/0002-trouser.png", dir / "a/trouser.png");
    fs::copy_file(kDemo + "/0002-trouser.png", dir / "a/trouser-copy.png");
    fs::copy_file(kDemo + "/0008-sandal.png", dir / "a/sandal.png");
    const std::string index = dir / "a.index";
    REQUIRE(run(kSearch + " index -q -w " + kWeights + " -o " + index + " " + (dir / "a")).status == 0);
    const Run appended = run(kSearch + " index -q --append -w " + kWeights + " -o " + index + " " + kDemo + "/0009-sneaker.png");
    REQUIRE(appended.status == 0);
    CHECK(appended.lines()[0]["vectors"] == 4);
    CHECK(appended.lines()[0]["added"] == 1);

    const Run self = run(kSearch + " query " + index + " " + (dir / "a/sandal.png") + " -k 1 --exclude-self");
    REQUIRE(self.status == 0);
    CHECK(self.lines()[0]["neighbours"][0]["path"] != dir / "a/sandal.png");
    const Run with_self = run(kSearch + " query " + index + " " + (dir / "a/sandal.png") + " -k 1");
    CHECK(with_self.lines()[0]["neighbours"][0]["path"] == dir / "a/sandal.png");
    // (a batch of one and a batch of three may round differently in the network: not exactly 0)
    CHECK(with_self.lines()[0]["neighbours"][0]["distance"].get<double>() < 1e-4);

    // Vectors alexnet-embed wrote query the same index (their model unknown, their layer fc7).
    const std::string npy = dir / "v.npy", jsonl = dir / "v.jsonl";
    REQUIRE(run(kBin + "/alexnet-embed -q -w " + kWeights + " -o " + npy + " " + (dir / "a/sandal.png")).status == 0);
    REQUIRE(run(kBin + "/alexnet-embed -q -w " + kWeights + " -o " + jsonl + " " + (dir / "a/sandal.png")).status == 0);
    for (const std::string& v : {npy, jsonl}) {
        const Run r = run(kSearch + " query " + index + " " + v + " -k 1");
        REQUIRE(r.status == 0);
        CHECK(r.lines()[0]["neighbours"][0]["path"] == dir / "a/sandal.png");
        CHECK(r.lines()[0]["neighbours"][0]["distance"].get<double>() < 1e-3);
    }

    const Run dups = run(kSearch + " duplicates " + index + " --max-distance 0.001");
    REQUIRE(dups.status == 0);
    const auto groups = dups.lines();
    REQUIRE(groups.size() == 2);
    CHECK(groups[0]["paths"] == nlohmann::json{dir / "a/trouser-copy.png", dir / "a/trouser.png"});
    CHECK(groups[1]["summary"] == true);
    CHECK(groups[1]["groups"] == 1);
}

TEST_CASE("alexnet-search refuses queries made another way, damaged indexes and -k beyond the index") {
    TempDir dir;
    const std::string index = dir / "d.index", image = kDemo + "/0002-trouser.png";
    REQUIRE(run(kSearch + " index -q -w " + kWeights + " -o " + index + " " + kDemo).status == 0);
    const Run layer = run(kSearch + " query -q " + index + " " + image + " --layer fc6");
    CHECK(layer.status == 1);
    CHECK(layer.err == "alexnet-search: " + image + ": queries: expected vectors made as " + index +
                           "'s were, found layer: fc7 in the index, fc6 here\n");
    // Without --layer a query takes the index's.
    const std::string fc6 = dir / "fc6.index";
    REQUIRE(run(kSearch + " index -q -w " + kWeights + " --layer fc6 -o " + fc6 + " " + kDemo).status == 0);
    const Run same_layer = run(kSearch + " query -q " + fc6 + " " + image + " -k 1");
    REQUIRE(same_layer.status == 0);
    CHECK(same_layer.lines()[0]["neighbours"][0]["path"] == image);
    const std::string random = dir / "random.safetensors";
    REQUIRE(run(kBin + "/alexnet-bench random-weights " + random + " --arch alexnet-28").status == 0);
    const Run model = run(kSearch + " query -q -w " + random + " " + index + " " + image);
    CHECK(model.status == 1);
    CHECK(model.err.find("queries: expected vectors made as " + index + "'s were, found model: alexnet-28 ") != std::string::npos);
    const Run k = run(kSearch + " query -q " + index + " " + image + " -k 11");
    CHECK(k.status == 1);
    CHECK(k.err == "alexnet-search: -k: expected 1..10 (the vectors in " + index + "), found 11\n");
    const std::string broken = dir / "broken.index";
    std::ofstream(broken) << "not an index at all";
    const Run bad = run(kSearch + " query -q " + broken + " " + image);
    CHECK(bad.status == 1);
    CHECK(bad.err == "alexnet-search: " + broken + ": format: expected alexnet-search index 1 (made by alexnet-search "
                     "index), found another kind of file\n");
    CHECK(run(kSearch + " index -q -w " + kWeights + " -o " + (dir / "c.index") + " " + kDemo + " --codes 7").err ==
          "alexnet-search: --codes: expected a number of bytes that divides the vectors' dimension 512, found 7\n");
    CHECK(run(kSearch).status == 2);  // a subcommand is required
}

namespace {

// A float32 .npy matrix (NumPy's format 1.0) and its paths file, as alexnet-embed -o writes them.
void write_npy(const std::string& path, const std::vector<float>& values, int rows, int dim) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(dim) + "), }";
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const uint16_t length = uint16_t(header.size());
    out.write(reinterpret_cast<const char*>(&length), 2);
    out << header;
    out.write(reinterpret_cast<const char*>(values.data()), std::streamsize(values.size() * sizeof(float)));
    std::ofstream paths(path + ".paths.txt");
    for (int r = 0; r < rows; ++r) paths << "v" << r << ".jpg\n";
}

}  // namespace

TEST_CASE("alexnet-search duplicates on codes finds exact copies at distance 0 (their estimated distance is not 0)") {
    TempDir dir;
    const int rows = 600, dim = 16;
    std::vector<float> v(size_t(rows) * dim);
    uint32_t state = 12345;
    // Far from the origin, as fc7 vectors are: the codes' distance estimates then cancel large
    // terms, and a copy's estimate comes out a little above or below 0.
    for (float& x : v) x = 100.f + float((state = state * 1664525u + 1013904223u) >> 8) / float(1 << 24);
    const std::vector<std::pair<int, int>> copies = {{5, 7}, {100, 400}, {150, 151}, {200, 599}};
    for (const auto& [from, to] : copies) std::copy_n(&v[size_t(from) * dim], dim, &v[size_t(to) * dim]);
    const std::string npy = dir / "v.npy";
    write_npy(npy, v, rows, dim);
    for (const std::string kind : {"--codes 4", "--codes 4 --lists 8", "--lists 8"}) {
        CAPTURE(kind);
        const std::string index = dir / "v.index";
        REQUIRE(run(kSearch + " index -q " + kind + " -o " + index + " " + npy).status == 0);
        const Run dups = run(kSearch + " duplicates " + index + " --max-distance 0 --nprobe 1");
        REQUIRE(dups.status == 0);
        const auto lines = dups.lines();
        REQUIRE(lines.size() == copies.size() + 1);
        for (size_t i = 0; i < copies.size(); ++i) {
            CHECK(lines[i]["paths"] == nlohmann::json{"v" + std::to_string(copies[i].first) + ".jpg",
                                                      "v" + std::to_string(copies[i].second) + ".jpg"});
            CHECK(lines[i]["max_distance"] == 0);
        }
        CHECK(lines.back()["groups"] == copies.size());
    }
}

TEST_CASE("alexnet-search query: --exclude-self leaves out every copy of the file however it is named; error lines in input order") {
    TempDir dir;
    fs::create_directories(dir / "a");
    fs::copy_file(kDemo + "/0008-sandal.png", dir / "a/sandal.png");
    fs::copy_file(kDemo + "/0002-trouser.png", dir / "a/trouser.png");
    fs::copy_file(kDemo + "/0009-sneaker.png", dir / "a/sneaker.png");
    const std::string index = dir / "a.index";
    REQUIRE(run(kSearch + " index -q -w " + kWeights + " -o " + index + " " + (dir / "a")).status == 0);
    // The same file again: two rows with its path.
    REQUIRE(run(kSearch + " index -q --append -o " + index + " " + (dir / "a/sandal.png")).status == 0);
    const Run self = run(kSearch + " query " + index + " " + (dir / "a/./sandal.png") + " -k 2 --exclude-self");
    REQUIRE(self.status == 0);
    const auto neighbours = self.lines()[0]["neighbours"];
    REQUIRE(neighbours.size() == 2);
    for (const auto& n : neighbours) CHECK(n["path"] != dir / "a/sandal.png");
    CHECK(run(kSearch + " query -q " + index + " " + (dir / "a/sandal.png") + " -k 3 --exclude-self").lines()[0]
              ["neighbours"].size() == 2);  // (only two other files)

    // An unreadable image between two readable ones: its error line between theirs, from files
    // and from stdin alike.
    std::ofstream(dir / "broken.png") << "not a png";
    for (const std::string& how : {std::string(" ") + (dir / "a/trouser.png") + " " + (dir / "broken.png") + " " +
                                       (dir / "a/sneaker.png"),
                                   std::string(" - < ") + (dir / "list.txt")}) {
        std::ofstream(dir / "list.txt") << (dir / "a/trouser.png") << "\n" << (dir / "broken.png") << "\n"
                                        << (dir / "a/sneaker.png") << "\n";
        const Run q = run(kSearch + " query -q " + index + how + " -k 1");
        CHECK(q.status == 1);
        const auto lines = q.lines();
        REQUIRE(lines.size() == 4);
        CHECK(lines[0]["path"] == dir / "a/trouser.png");
        CHECK(lines[1]["path"] == dir / "broken.png");
        CHECK(lines[1].contains("error"));
        CHECK(lines[2]["path"] == dir / "a/sneaker.png");
        CHECK(lines[2]["neighbours"][0]["path"] == dir / "a/sneaker.png");
        CHECK(lines[3]["failed"] == 1);
    }
}

TEST_CASE("alexnet-search: cosine distances, compressed kinds through the tool, and --append's refusals") {
    TempDir dir;
    const std::string cosine = dir / "cos.index";
    REQUIRE(run(kSearch + " index -q -w " + kWeights + " --metric cosine -o " + cosine + " " + kDemo).status == 0);
    const Run q = run(kSearch + " query -q " + cosine + " " + kDemo + "/0002-trouser.png -k 10");
    REQUIRE(q.status == 0);
    const auto n = q.lines()[0]["neighbours"];
    CHECK(n[0]["path"] == kDemo + "/0002-trouser.png");
    CHECK(n[0]["distance"].get<double>() < 1e-5);  // 1 - cosine of a vector with itself
    for (const auto& nb : n) {
        CHECK(nb["distance"].get<double>() >= 0);
        CHECK(nb["distance"].get<double>() <= 2);
    }
    CHECK(q.lines()[1]["metric"] == "cosine");

    // A data set into IVF-PQ: 300 vectors of 512 (fc7 of alexnet-28) in 8-byte codes.
    write_quadrants(dir.path, "train", 300, 1);
    const std::string ivfpq = dir / "ivfpq.index";
    const Run made = run(kSearch + " index -q -w " + kWeights + " --codes 8 --lists 4 -o " + ivfpq + " " + dir.path.string());
    REQUIRE(made.status == 0);
    CHECK(made.lines()[0]["kind"] == "ivf4,pq8");
    CHECK(made.lines()[0]["bytes_per_vector"] == 16);
    const Run found = run(kSearch + " query -q " + ivfpq + " " + dir.path.string() + " --split train --limit 5 -k 4 --nprobe 1");
    REQUIRE(found.status == 0);
    CHECK(found.lines().size() == 6);
    CHECK(found.lines()[0]["neighbours"].size() == 4);

    CHECK(run(kSearch + " index -q --append --codes 16 -o " + ivfpq + " " + kDemo).err ==
          "alexnet-search: --codes: expected 8 (the index's), found 16\n");
    CHECK(run(kSearch + " index -q --append --metric cosine -o " + ivfpq + " " + kDemo).err ==
          "alexnet-search: --metric: expected l2 (the index's), found cosine\n");
    CHECK(run(kSearch + " index -q --append --layer fc6 -o " + ivfpq + " " + kDemo).err ==
          "alexnet-search: " + ivfpq + ": vectors: expected new vectors made as the index's were, found layer: fc7 in the "
          "index, fc6 here\n");
}

TEST_CASE("alexnet-search index streams: more vectors than one chunk, trained on a sample, nothing left beside the index") {
    TempDir dir;
    const int rows = 20000, dim = 16;  // 8192 vectors a chunk: three chunks
    std::vector<float> v(size_t(rows) * dim);
    uint32_t state = 99;
    for (float& x : v) x = float((state = state * 1664525u + 1013904223u) >> 8) / float(1 << 24) - 0.5f;
    const std::string npy = dir / "v.npy";
    write_npy(npy, v, rows, dim);
    // The last row as a query file of its own.
    write_npy(dir / "q.npy", std::vector<float>(v.end() - dim, v.end()), 1, dim);
    for (const std::string kind : {"", "--codes 8 --lists 16 --train-vectors 5000"}) {
        CAPTURE(kind);
        const std::string index = dir / "v.index";
        const Run made = run(kSearch + " index -q " + kind + " -o " + index + " " + npy);
        REQUIRE(made.status == 0);
        CHECK(made.lines()[0]["vectors"] == rows);
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(dir.path)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        CHECK(names == std::vector<std::string>{"q.npy", "q.npy.paths.txt", "v.index", "v.npy", "v.npy.paths.txt"});
        const Run q = run(kSearch + " query -q " + index + " " + (dir / "q.npy") + " -k 1 --nprobe 16");
        REQUIRE(q.status == 0);
        CHECK(q.lines()[0]["neighbours"][0]["path"] == "v19999.jpg");
        // 20,000 queries from a file: 4,096 at a time, every line in input order.
        const Run all = run(kSearch + " query -q " + index + " " + npy + " -k 1 --nprobe 16");
        REQUIRE(all.status == 0);
        const auto lines = all.lines();
        REQUIRE(lines.size() == size_t(rows) + 1);
        for (int r = 0; r < rows; r += 997) CHECK(lines[size_t(r)]["path"] == "v" + std::to_string(r) + ".jpg");
        if (kind.empty())
            for (int r = 0; r < rows; r += 997) CHECK(lines[size_t(r)]["neighbours"][0]["path"] == "v" + std::to_string(r) + ".jpg");
    }
}

TEST_CASE("alexnet-search: a vector's list does not depend on what it is added with (copies in a chunk of their own)") {
    // 8,192 vectors (one chunk), then 19 copies of the first 19 in a chunk of their own: FAISS
    // assigns batches under 20 by direct differences and larger ones by BLAS, whose roundings
    // differ for vectors far from 0 (helper-9's review: 18 of 19 copies went to other lists).
    TempDir dir;
    const int rows = 8192 + 19, dim = 32;
    std::vector<float> v(size_t(rows) * dim);
    uint32_t state = 7;
    for (float& x : v) x = 1000.f + float((state = state * 1664525u + 1013904223u) >> 8) / float(1 << 23);
    std::copy_n(v.begin(), 19 * dim, v.end() - 19 * dim);
    write_npy(dir / "c.npy", v, rows, dim);
    for (const std::string kind : {"--lists 64 --codes 8", "--lists 64"}) {
        CAPTURE(kind);
        REQUIRE(run(kSearch + " index -q " + kind + " -o " + (dir / "c.index") + " " + (dir / "c.npy")).status == 0);
        const Run dups = run(kSearch + " duplicates " + (dir / "c.index") + " --max-distance 0.0001 --nprobe 1");
        REQUIRE(dups.status == 0);
        CHECK(dups.lines().back()["groups"] == 19);
    }
}

TEST_CASE("alexnet-search index: every part of the inputs is checked against the index; training needs are checked first") {
    TempDir dir;
    const std::string index = dir / "d.index";
    REQUIRE(run(kSearch + " index -q -w " + kWeights + " -o " + index + " " + kDemo).status == 0);
    // A .npy (no origin: agrees with anything) first, then an image at another layer.
    write_npy(dir / "x.npy", std::vector<float>(2 * 512, 0.5f), 2, 512);
    const Run layer = run(kSearch + " index -q --append -o " + index + " " + (dir / "x.npy") + " " + kDemo +
                          "/0002-trouser.png --layer fc6");
    CHECK(layer.status == 1);
    CHECK(layer.err == "alexnet-search: " + index + ": vectors: expected new vectors made as the index's were, found "
                       "layer: fc7 in the index, fc6 here\n");
    const Run pre = run(kSearch + " index -q --append -o " + index + " " + (dir / "x.npy") + " " + kDemo +
                        "/0002-trouser.png --resize 32");
    CHECK(pre.status == 1);
    CHECK(pre.err.find(index + ": vectors: expected new vectors made as the index's were, found preprocessing: ") !=
          std::string::npos);

    // Queries of every kind, answered in input order.
    const Run mixed = run(kSearch + " query -q " + index + " " + kDemo + "/0002-trouser.png " + (dir / "x.npy") + " " +
                          kDemo + "/0009-sneaker.png -k 1");
    REQUIRE(mixed.status == 0);
    const auto m = mixed.lines();
    REQUIRE(m.size() == 5);
    CHECK(m[0]["path"] == kDemo + "/0002-trouser.png");
    CHECK(m[1]["path"] == "v0.jpg");
    CHECK(m[2]["path"] == "v1.jpg");
    CHECK(m[3]["path"] == kDemo + "/0009-sneaker.png");

    const Run few = run(kSearch + " index -q --codes 4 --train-vectors 100 -o " + (dir / "p.index") + " " + (dir / "x.npy"));
    CHECK(few.status == 2);
    CHECK(few.err == "alexnet-search: --train-vectors: expected at least 256 for pq4, found 100\n");
    const Run folder = run(kSearch + " index -q --codes 4 -o " + (dir / "nope/p.index") + " " + (dir / "x.npy"));
    CHECK(folder.status == 1);
    CHECK(folder.err == "alexnet-search: " + (dir / "nope") +
                            ": cannot create a file for the vectors that wait for training: No such file or directory\n");
}

TEST_CASE("alexnet-search index: uneven lists are reported (largest_list, and a note on stderr)") {
    TempDir dir;
    const int rows = 1000, dim = 8;
    std::vector<float> v(size_t(rows) * dim, 0.25f);  // 950 copies of one vector, 50 others
    uint32_t state = 3;
    for (size_t i = 950 * dim; i < v.size(); ++i) v[i] = float((state = state * 1664525u + 1013904223u) >> 8) / float(1 << 24);
    write_npy(dir / "u.npy", v, rows, dim);
    const Run made = run(kSearch + " index --lists 16 -o " + (dir / "u.index") + " " + (dir / "u.npy"));
    REQUIRE(made.status == 0);
    const int64_t largest = made.lines()[0]["largest_list"].get<int64_t>();
    CHECK(largest >= 950);
    CHECK(made.err.find("alexnet-search: note: the lists are uneven (the largest holds " + std::to_string(largest) +
                        " vectors, ") != std::string::npos);
    CHECK(made.err.find("4 to 16 x the square root of the vectors, 126 here") != std::string::npos);
}
