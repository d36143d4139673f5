#pragma once
// Writes a float32 (N, dim) array as a .npy file (format 1.0) that numpy.load reads, streaming rows
// whose count is known only at the end. Written atomically: the file appears on finish().
#include <cstdint>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"

namespace alexnet {

class NpyWriter {
public:
    NpyWriter(const std::string& path, int dim);
    void append(const float* row);
    void finish();  // writes the final shape into the header and renames the file into place
    int64_t rows() const { return rows_; }

private:
    AtomicFile file_;
    int dim_;
    int64_t rows_ = 0;
};

std::string npy_header(int64_t rows, int dim);  // the full header, padded to 64 bytes

// A float32 (N, dim) matrix read back from a .npy file (format 1.0 or 2.0, little-endian '<f4',
// C order, two dimensions), every header field and the file's size checked; throws Error naming
// the file and field.
struct NpyMatrix {
    int64_t rows = 0;
    int dim = 0;
    std::vector<float> values;  // rows x dim
};
NpyMatrix read_npy_matrix(const std::string& path);
// The same from bytes already in memory (`name` for messages).
NpyMatrix parse_npy_matrix(const uint8_t* data, size_t size, const std::string& name);
// Only the checks and where the rows are: rows x dim float32 values from byte `offset` on (not
// necessarily aligned for float), so a large file can be read a part at a time from a mapping.
struct NpyLayout {
    int64_t rows = 0;
    int dim = 0;
    size_t offset = 0;
};
NpyLayout parse_npy_layout(const uint8_t* data, size_t size, const std::string& name);

// The paths of FILE.paths.txt, unescaped (the inverse of paths_txt_line).
std::vector<std::string> read_paths_txt(const std::string& path);

// A path as one line of FILE.paths.txt (without the newline): backslash, newline and carriage
// return escaped as \\, \n and \r, so rows and lines always correspond.
std::string paths_txt_line(const std::string& path);

}  // namespace alexnet
