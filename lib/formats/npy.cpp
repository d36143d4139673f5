#include "formats/npy.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/checked_size.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "io/mapped_file.hpp"

namespace alexnet {

std::string npy_header(int64_t rows, int dim) {
    // The row count is padded to a fixed width so the header can be rewritten in place.
    char dict[128];
    std::snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%20lld, %d), }",
                  static_cast<long long>(rows), dim);
    std::string body = dict;
    const size_t preamble = 10;  // magic (6) + version (2) + header length (2)
    const size_t total = (preamble + body.size() + 1 + 63) / 64 * 64;
    body.append(total - preamble - body.size() - 1, ' ');
    body += '\n';
    std::string h = "\x93NUMPY";
    h += char(1);
    h += char(0);
    h += char(body.size() & 0xff);
    h += char(body.size() >> 8);
    return h + body;
}

NpyWriter::NpyWriter(const std::string& path, int dim) : file_(path), dim_(dim) { file_.write(npy_header(0, dim)); }

void NpyWriter::append(const float* row) {
    file_.write(row, sizeof(float) * size_t(dim_));
    ++rows_;
}

void NpyWriter::finish() {
    const std::string h = npy_header(rows_, dim_);
    file_.write_at(0, h.data(), h.size());
    file_.commit();
}

std::string paths_txt_line(const std::string& path) {
    std::string out;
    out.reserve(path.size());
    for (char c : path) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else
            out += c;
    }
    return out;
}

namespace {

// The value of `key` in a .npy header dict ("{'descr': '<f4', 'fortran_order': False, 'shape':
// (3, 4), }"), up to the next top-level comma or closing brace.
std::string dict_value(const std::string& dict, const std::string& key, const std::string& name) {
    const std::string quoted = "'" + key + "':";
    const size_t at = dict.find(quoted);
    check(at != std::string::npos, name, "npy header", "a '" + key + "' entry", dict.substr(0, 80));
    size_t begin = at + quoted.size(), end = begin;
    int depth = 0;
    for (; end < dict.size(); ++end) {
        const char c = dict[end];
        if (c == '(') ++depth;
        if (c == ')') --depth;
        if (depth == 0 && (c == ',' || c == '}')) break;
        if (depth == 0 && c == ')') break;
    }
    if (end < dict.size() && dict[end] == ')') ++end;
    std::string v = dict.substr(begin, end - begin);
    const auto not_space = [](char c) { return c != ' '; };
    v.erase(v.begin(), std::find_if(v.begin(), v.end(), not_space));
    v.erase(std::find_if(v.rbegin(), v.rend(), not_space).base(), v.end());
    return v;
}

}  // namespace

NpyLayout parse_npy_layout(const uint8_t* data, size_t size, const std::string& name) {
    check(size >= 10 && std::memcmp(data, "\x93NUMPY", 6) == 0, name, "npy magic", "\\x93NUMPY", "other bytes");
    const int major = data[6];
    check(major == 1 || major == 2 || major == 3, name, "npy version", "1, 2 or 3", std::to_string(major));
    const size_t preamble = major == 1 ? 10 : 12;
    check(size >= preamble, name, "npy header length", "present", "the file ends first");
    size_t header = data[8] | size_t(data[9]) << 8;
    if (major > 1) header |= size_t(data[10]) << 16 | size_t(data[11]) << 24;
    check(header <= size - preamble && header <= 65536, name, "npy header length", "within the file and at most 65536",
          std::to_string(header));
    const std::string dict(reinterpret_cast<const char*>(data) + preamble, header);
    const std::string descr = dict_value(dict, "descr", name), order = dict_value(dict, "fortran_order", name);
    check(descr == "'<f4'", name, "npy descr", "'<f4' (little-endian float32)", descr.substr(0, 40));
    check(order == "False", name, "npy fortran_order", "False", order.substr(0, 40));
    const std::string shape = dict_value(dict, "shape", name);
    long long rows = -1, dim = -1;
    char close = 0;
    const int got = std::sscanf(shape.c_str(), "(%lld, %lld%c", &rows, &dim, &close);
    check(got == 3 && close == ')' && rows >= 0 && dim >= 1 && dim <= (1 << 20) && rows <= (int64_t(1) << 40), name,
          "npy shape", "(rows, dim) with dim 1..1048576", shape.substr(0, 40));
    const size_t bytes = checked_mul(checked_mul(uint64_t(rows), uint64_t(dim), name, "npy shape"), sizeof(float), name, "npy shape");
    check(size - preamble - header == bytes, name, "npy data", std::to_string(bytes) + " bytes for shape " + shape,
          std::to_string(size - preamble - header));
    return {rows, int(dim), preamble + header};
}

NpyMatrix parse_npy_matrix(const uint8_t* data, size_t size, const std::string& name) {
    const NpyLayout layout = parse_npy_layout(data, size, name);
    NpyMatrix m{layout.rows, layout.dim, std::vector<float>(size_t(layout.rows) * size_t(layout.dim))};
    if (!m.values.empty()) std::memcpy(m.values.data(), data + layout.offset, m.values.size() * sizeof(float));
    return m;
}

NpyMatrix read_npy_matrix(const std::string& path) {
    const MappedFile file(path);
    return parse_npy_matrix(file.data(), file.size(), path);
}

std::vector<std::string> read_paths_txt(const std::string& path) {
    const std::string text = read_text_file(path, uint64_t(1) << 34, "paths file");
    std::vector<std::string> paths;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::string p;
        for (size_t i = 0; i < line.size(); ++i) {
            if (line[i] != '\\') {
                p += line[i];
                continue;
            }
            const char next = i + 1 < line.size() ? line[++i] : '\0';
            check(next == '\\' || next == 'n' || next == 'r', path, "line " + std::to_string(paths.size() + 1),
                  "\\\\, \\n or \\r after a backslash", next ? std::string(1, next) : "the end of the line");
            p += next == 'n' ? '\n' : next == 'r' ? '\r' : '\\';
        }
        paths.push_back(std::move(p));
    }
    return paths;
}

}  // namespace alexnet
