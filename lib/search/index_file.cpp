#include "search/index_file.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "formats/safetensors.hpp"
#include "io/bounded_json.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

namespace {

constexpr int64_t kMaxRows = int64_t(1) << 31;

// Paths as one byte tensor: each path followed by a NUL byte.
std::vector<int8_t> pack_paths(const std::vector<std::string>& paths) {
    std::vector<int8_t> bytes;
    for (const std::string& p : paths) {
        bytes.insert(bytes.end(), p.begin(), p.end());
        bytes.push_back(0);
    }
    return bytes;
}

std::vector<std::string> unpack_paths(const Tensor& t, int64_t rows, const std::string& file) {
    std::vector<std::string> paths;
    paths.reserve(size_t(std::min(rows, t.numel())));  // each path takes at least its NUL
    const int8_t* b = t.s8();
    std::string current;
    for (int64_t i = 0; i < t.numel(); ++i) {
        if (b[i] != 0) {
            current.push_back(char(b[i]));
            continue;
        }
        check(int64_t(paths.size()) < rows, file, "paths", std::to_string(rows) + " paths", "more");
        paths.push_back(std::move(current));
        current.clear();
    }
    check(current.empty() && int64_t(paths.size()) == rows, file, "paths",
          std::to_string(rows) + " NUL-terminated paths", std::to_string(paths.size()) + (current.empty() ? "" : " and an unterminated one"));
    return paths;
}

std::string meta(const std::map<std::string, std::string>& m, const char* key, const std::string& file) {
    const auto it = m.find(key);
    check(it != m.end(), file, std::string("__metadata__.") + key, "a value", "none");
    return it->second;
}

// A whole number in [lo, hi] from metadata text.
int64_t meta_int(const std::map<std::string, std::string>& m, const char* key, int64_t lo, int64_t hi,
                 const std::string& file) {
    const std::string text = meta(m, key, file);
    size_t used = 0;
    long long v = 0;
    try {
        v = std::stoll(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    check(used == text.size() && used > 0 && v >= lo && v <= hi, file, std::string("__metadata__.") + key,
          "a whole number " + std::to_string(lo) + ".." + std::to_string(hi), "'" + text.substr(0, 40) + "'");
    return v;
}

}  // namespace

void save_index(const std::string& path, const IndexFile& f) {
    Weights w;
    f.index.to_tensors(w);
    const int64_t n = f.index.size();
    w.add_s8("paths", {int64_t(pack_paths(f.paths).size())}, pack_paths(f.paths));
    std::vector<float> labels(f.labels.begin(), f.labels.end());
    w.add("labels", {n}, std::move(labels));
    w.metadata["format"] = kIndexFormat;
    w.metadata["dim"] = std::to_string(f.index.dim());
    w.metadata["rows"] = std::to_string(n);
    w.metadata["codes"] = std::to_string(f.index.kind().codes);
    w.metadata["lists"] = std::to_string(f.index.kind().lists);
    w.metadata["metric"] = f.metric;
    // (text that is not UTF-8, as a weights path may be, is kept with U+FFFD in its place)
    w.metadata["origin"] = dump_utf8(nlohmann::json{{"model", f.origin.model}, {"weights", f.origin.weights},
                                                    {"layer", f.origin.layer}, {"preprocessing", f.origin.preprocessing}});
    w.metadata["class_names"] = dump_utf8(nlohmann::json(f.class_names));
    write_safetensors(path, w);
}

IndexFile load_index(const std::string& path) {
    check(looks_like_safetensors(path), path, "format", std::string(kIndexFormat) + " (made by alexnet-search index)",
          "another kind of file");
    const Weights w = read_safetensors(path);
    const auto& m = w.metadata;
    check(meta(m, "format", path) == kIndexFormat, path, "__metadata__.format", kIndexFormat,
          "'" + meta(m, "format", path).substr(0, 60) + "'");
    const int dim = int(meta_int(m, "dim", 1, 1 << 20, path));
    const int64_t rows = meta_int(m, "rows", 0, kMaxRows, path);
    IndexKind kind{int(meta_int(m, "codes", 0, dim, path)), int(meta_int(m, "lists", 0, 1 << 20, path))};
    // Paths and labels first: they bound the rows by the file's size before the index is built.
    check(w.contains("paths") && w.at("paths").is_s8() && w.at("paths").shape.size() == 1, path, "paths",
          "an I8 tensor of NUL-terminated paths", "none");
    std::vector<std::string> paths = unpack_paths(w.at("paths"), rows, path);
    check(w.contains("labels") && !w.at("labels").is_s8() && w.at("labels").shape == std::vector<int64_t>{rows}, path,
          "labels", "F32 [" + std::to_string(rows) + "]", w.contains("labels") ? shape_string(w.at("labels").shape) : "none");
    IndexFile f{VectorIndex::from_tensors(w, dim, kind, rows, path), "l2", {}, std::move(paths), {}, {}};
    f.metric = meta(m, "metric", path);
    check(f.metric == "l2" || f.metric == "cosine", path, "__metadata__.metric", "l2 or cosine", "'" + f.metric.substr(0, 40) + "'");
    const nlohmann::json origin = parse_bounded_json(meta(m, "origin", path), path, "__metadata__.origin");
    const nlohmann::json names = parse_bounded_json(meta(m, "class_names", path), path, "__metadata__.class_names");
    try {
        f.origin = {origin.at("model").get<std::string>(), origin.at("weights").get<std::string>(),
                    origin.at("layer").get<std::string>(), origin.at("preprocessing").get<std::string>()};
        f.class_names = names.get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception&) {
        throw Error(path, "__metadata__.origin", "model, weights, layer and preprocessing strings, and class names",
                    json_excerpt(origin));
    }
    const float* labels = w.at("labels").floats();
    f.labels.reserve(size_t(rows));
    for (int64_t i = 0; i < rows; ++i) {
        check(labels[i] >= -1 && labels[i] < float(1 << 24) && labels[i] == std::floor(labels[i]), path, "labels",
              "class numbers (-1: unknown)", "element " + std::to_string(i) + " = " + std::to_string(labels[i]));
        check(labels[i] < 0 || f.class_names.empty() || labels[i] < float(f.class_names.size()), path, "labels",
              "class numbers below " + std::to_string(f.class_names.size()), std::to_string(labels[i]));
        f.labels.push_back(int(labels[i]));
    }
    return f;
}

std::string origin_difference(const VectorOrigin& index, const VectorOrigin& query) {
    const std::pair<const char*, std::pair<std::string, std::string>> fields[] = {
        {"layer", {index.layer, query.layer}},
        {"model", {index.model, query.model}},
        {"preprocessing", {index.preprocessing, query.preprocessing}}};
    for (const auto& [name, values] : fields)
        if (!values.first.empty() && !values.second.empty() && values.first != values.second)
            return std::string(name) + ": " + values.first + " in the index, " + values.second + " here";
    return "";
}

}  // namespace alexnet
