#pragma once
// stdout carries JSON Lines only, one object per line, flushed per line. A closed pipe
// (`| head -1`) surfaces as BrokenPipe, which the tools turn into a quiet exit 0.
#include <nlohmann/json.hpp>
#include <string>

namespace alexnet {

struct BrokenPipe {};

// The shortest decimal that reads back as the same float, as a double nlohmann prints exactly so.
double json_float(float f);
// The same decimal as text, for hand-built lines (long embedding arrays).
void append_float(std::string& out, float f);

// `j` as one line of JSON text. File names are bytes, not always UTF-8: a string that is not
// valid UTF-8 is written losslessly, each invalid byte as the escape \udcXX (XX its value), which
// Python's json.loads and os.fsencode turn back into the same bytes ("surrogateescape"). Valid
// UTF-8 is written as nlohmann writes it.
std::string dump_line(const nlohmann::ordered_json& j);

// `j` as JSON text for files that every JSON parser must read back (safetensors metadata,
// checkpoints): bytes that are not UTF-8 (a class folder named in Latin-1) become U+FFFD.
std::string dump_utf8(const nlohmann::json& j);
std::string dump_utf8(const nlohmann::ordered_json& j);

// In a job of several processes (mpirun), only rank 0's lines are written; the others' are dropped.
class JsonLines {
public:
    void write(const nlohmann::ordered_json& line);
    void write_raw(const std::string& line);  // one complete JSON object, without the newline
};

// `v` with `digits` decimals, for messages ("0.0753").
std::string fixed(double v, int digits);

// "1 image", "3 images": a count and its noun, plural when it is not 1 (nouns that take an s).
std::string count_of(int64_t n, const std::string& noun);

// Human-facing messages on stderr (never stdout); silenced by --quiet.
void log_info(bool quiet, const std::string& message);

}  // namespace alexnet
