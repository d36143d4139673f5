#include "search/vector_sets.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/regular_file.hpp"
#include "data/train_loader.hpp"
#include "engine/inference_net.hpp"
#include "formats/npy.hpp"
#include "io/bounded_json.hpp"
#include "io/mapped_file.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

bool has_extension(const std::string& path, const std::string& ext) {
    return fs::path(path).extension().string() == ext;
}

// A part at a time from a mapping of the file: alexnet-embed's .npy may be larger than memory.
void read_npy_vectors(const std::string& path, int64_t chunk, const std::function<void(VectorSet&)>& sink) {
    const MappedFile file(path);
    const NpyLayout m = parse_npy_layout(file.data(), file.size(), path);
    const std::string paths_file = path + ".paths.txt";
    check(path_exists(paths_file), path, "paths", "its paths file beside it (" + paths_file + ", written by alexnet-embed -o)",
          "none");
    const std::vector<std::string> paths = read_paths_txt(paths_file);
    check(int64_t(paths.size()) == m.rows, paths_file, "lines", std::to_string(m.rows) + " (the rows of " + path + ")",
          std::to_string(paths.size()));
    VectorSet v;
    v.dim = m.dim;
    std::vector<float> row(static_cast<size_t>(m.dim));
    for (int64_t r = 0; r < m.rows; ++r) {
        std::memcpy(row.data(), file.data() + m.offset + size_t(r) * m.dim * sizeof(float), row.size() * sizeof(float));
        v.append(paths[size_t(r)], -1, row.data(), m.dim, path + " row " + std::to_string(r));
        if (v.size() >= chunk) sink(v), v.clear_rows();
    }
    if (v.size() > 0) sink(v);
}

// alexnet-embed's JSON Lines: {"path", "layer", "dim", "embedding"} per image; its error lines
// ({"path", "error"}) and summary lines are passed over.
VectorSet read_jsonl_vectors(const std::string& path) {
    const std::string text = read_text_file(path, uint64_t(1) << 36, "JSON Lines");
    std::istringstream in(text);
    VectorSet v;
    std::string line;
    std::vector<float> row;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        const std::string where = "line " + std::to_string(n);
        const nlohmann::json j = parse_bounded_json(line, path, where);
        if (!j.is_object() || !j.contains("embedding")) continue;  // an error or summary line
        const nlohmann::json& e = j["embedding"];
        check(e.is_array() && !e.empty() && j.contains("path") && j["path"].is_string(), path, where,
              "{\"path\": string, \"embedding\": [numbers]}", json_excerpt(j));
        row.clear();
        for (const auto& x : e) {
            check(x.is_number() && std::isfinite(x.get<double>()) && std::fabs(x.get<double>()) < 3.4e38, path,
                  where + " embedding", "finite numbers", json_excerpt(x));
            row.push_back(x.get<float>());
        }
        const std::string layer = j.contains("layer") && j["layer"].is_string() ? j["layer"].get<std::string>() : "";
        check(v.size() == 0 || layer == v.origin.layer, path, where + " layer", v.origin.layer, layer);
        v.origin.layer = layer;
        v.append(j["path"].get<std::string>(), -1, row.data(), int(row.size()), path + " " + where);
    }
    check(v.size() > 0, path, "embeddings", "at least one line with an \"embedding\" (alexnet-embed's output)", "none");
    return v;
}

}  // namespace

void VectorSet::append(const std::string& path, int label, const float* v, int d, const std::string& source) {
    if (paths.empty()) dim = d;
    check(d == dim, source, "dimension", std::to_string(dim) + " (as the vectors before)", std::to_string(d));
    // (an index file ends each path with a NUL byte)
    check(path.find('\0') == std::string::npos, source, "path", "no NUL byte",
          "one at byte " + std::to_string(path.find('\0')));
    check_vector(v, d, source + " (" + path + ")");
    rows.insert(rows.end(), v, v + d);
    paths.push_back(path);
    labels.push_back(label);
}

void check_vector(const float* v, int dim, const std::string& where) {
    double norm2 = 0;
    for (int i = 0; i < dim; ++i) {
        check(std::isfinite(v[i]), where, "vector", "finite numbers", "a non-finite value at element " + std::to_string(i));
        norm2 += double(v[i]) * v[i];
    }
    check(norm2 <= kMaxSquaredNorm, where, "vector", "a squared length of at most 1e36 (distances are computed in float)",
          (std::ostringstream() << norm2).str());
}

bool is_vector_file(const std::string& path) { return has_extension(path, ".npy") || has_extension(path, ".jsonl"); }

void read_vector_file(const std::string& path, int64_t chunk, const std::function<void(VectorSet&)>& sink) {
    if (has_extension(path, ".npy")) return read_npy_vectors(path, chunk, sink);
    VectorSet all = read_jsonl_vectors(path);  // (JSON Lines are read whole: text is 4x the floats)
    VectorSet part;
    part.dim = all.dim, part.origin = all.origin;
    for (int64_t first = 0; first < all.size(); first += chunk) {
        const int64_t count = std::min(chunk, all.size() - first);
        part.clear_rows();
        part.rows.assign(all.rows.begin() + first * all.dim, all.rows.begin() + (first + count) * all.dim);
        part.paths.assign(all.paths.begin() + first, all.paths.begin() + first + count);
        part.labels.assign(all.labels.begin() + first, all.labels.begin() + first + count);
        sink(part);
    }
}

VectorSet read_vector_file(const std::string& path) {
    VectorSet all;
    read_vector_file(path, int64_t(1) << 16, [&](VectorSet& part) {
        if (all.size() == 0) all.dim = part.dim, all.origin = part.origin;
        all.rows.insert(all.rows.end(), part.rows.begin(), part.rows.end());
        all.paths.insert(all.paths.end(), part.paths.begin(), part.paths.end());
        all.labels.insert(all.labels.end(), part.labels.begin(), part.labels.end());
    });
    return all;
}

bool is_labelled_data_set(const std::string& path) {
    if (is_folder(path)) {
        std::error_code ec;  // (a folder that cannot be listed is left to the image reader to report)
        for (const auto& e : fs::directory_iterator(path, ec)) {
            const std::string f = e.path().filename().string();
            if (f.find("images-idx3") != std::string::npos || f == "test_batch.bin" || f.rfind("data_batch_", 0) == 0)
                return true;
        }
        return false;
    }
    const std::string f = fs::path(path).filename().string(), ext = fs::path(path).extension().string();
    return f.find("images-idx3") != std::string::npos || ext == ".bin" || ext == ".txt" || ext == ".lst" || ext == ".list";
}

VectorOrigin origin_of(const LoadedModel& model, const std::string& layer) {
    uint64_t h = hash_bytes(model.spec.arch.data(), model.spec.arch.size());
    for (const std::string& name : model.weights.names()) {
        const Tensor& t = model.weights.at(name);
        h = hash_bytes(name.data(), name.size(), h);
        h = hash_bytes(t.is_s8() ? static_cast<const void*>(t.s8()) : static_cast<const void*>(t.floats()), t.bytes(), h);
    }
    for (const std::string& label : model.labels) h = hash_bytes(label.data(), label.size(), h);
    char model_hash[17];
    std::snprintf(model_hash, sizeof model_hash, "%016llx", static_cast<unsigned long long>(h));
    const Preprocessing& p = model.spec.preprocessing;
    std::ostringstream pre;
    pre << "resize " << p.resize << (p.resize_shorter ? " shorter side" : " square") << ", crop " << p.crop << ", "
        << (p.channels == 1 ? "grey" : p.bgr ? "BGR" : "RGB") << ", scale " << p.pixel_scale << ", mean";
    for (int c = 0; c < p.channels; ++c) pre << " " << p.mean[c];
    pre << ", std";
    for (int c = 0; c < p.channels; ++c) pre << " " << p.std[c];
    return {model.spec.arch + " " + model_hash, model.path, layer, pre.str()};
}

void embed_labelled_set(const LoadedModel& model, Precision precision, const LabelledSet& set, const std::string& layer,
                        int batch, int loader_threads, int& failed, int64_t chunk,
                        const std::function<void(VectorSet&)>& sink) {
    VectorSet v;
    v.origin = origin_of(model, layer);
    v.class_names = set.class_names;
    failed = 0;
    if (set.size() == 0) return;
    const int per_batch = std::min(set.size(), std::max(1, batch));
    Loader loader(set, model.spec.preprocessing, Augmentation{}, per_batch, false, 0, loader_threads, CropMode::center);
    Weights weights = model.weights;  // the net may not release the caller's copy
    InferenceNet net(model.spec, weights, per_batch, layer, false, precision);
    const int dim = int(net.output_shape().size());
    std::vector<float> out(size_t(per_batch) * dim);
    loader.start(0);
    for (int b = 0; b < loader.batches_per_epoch(); ++b) {
        const LoaderBatch& lb = loader.next();
        if (lb.count > 0) net.forward(lb.data.data(), out.data());
        for (int j = 0; j < lb.count; ++j) {
            if (std::find(lb.failed.begin(), lb.failed.end(), j) != lb.failed.end()) {
                ++failed;
                continue;
            }
            const int item = lb.items[size_t(j)];
            v.append(set.name(item), lb.labels[size_t(j)], out.data() + size_t(j) * dim, dim, layer);
        }
        if (v.size() >= chunk) sink(v), v.clear_rows();
    }
    if (v.size() > 0) sink(v);
}

void normalize_rows(std::vector<float>& rows, int dim) {
    for (size_t r = 0; r + size_t(dim) <= rows.size(); r += size_t(dim)) {
        double norm = 0;
        for (int i = 0; i < dim; ++i) norm += double(rows[r + i]) * rows[r + i];
        norm = std::sqrt(norm);
        if (norm > 0)
            for (int i = 0; i < dim; ++i) rows[r + i] = float(rows[r + i] / norm);
    }
}

}  // namespace alexnet
