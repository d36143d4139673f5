#pragma once
// Writes a float32 (N, dim) array as a .npy file (format 1.0) that numpy.load reads, streaming rows
// whose count is known only at the end. Written atomically: the file appears on finish().
#include <string>

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

// A path as one line of FILE.paths.txt (without the newline): backslash, newline and carriage
// return escaped as \\, \n and \r, so rows and lines always correspond.
std::string paths_txt_line(const std::string& path);

}  // namespace alexnet
