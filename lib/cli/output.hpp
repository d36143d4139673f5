#pragma once
// stdout carries JSON Lines only, one object per line, flushed per line. A closed pipe
// (`| head -1`) surfaces as BrokenPipe, which run_tool() turns into a quiet exit 0.
#include <nlohmann/json.hpp>
#include <string>

namespace alexnet {

struct BrokenPipe {};

// The shortest decimal that reads back as the same float, as a double nlohmann prints exactly so.
double json_float(float f);
// The same decimal as text, for hand-built lines (long embedding arrays).
void append_float(std::string& out, float f);

class JsonLines {
public:
    void write(const nlohmann::ordered_json& line);
    void write_raw(const std::string& line);  // one complete JSON object, without the newline
};

// `v` with `digits` decimals, for messages ("0.0753").
std::string fixed(double v, int digits);

// Human-facing messages on stderr (never stdout); silenced by --quiet.
void log_info(bool quiet, const std::string& message);

}  // namespace alexnet
