#include "formats/npy.hpp"

#include <cstdio>

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

}  // namespace alexnet
