#pragma once
// JSON that comes from files (safetensors headers, metadata values such as labels, checkpoint
// state): parsed only when its nesting is at most kMaxJsonDepth, and described in messages by a
// short excerpt, never dumped whole (a deep or huge value would overflow the stack or the line).
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace alexnet {

// Nesting limit of arrays and objects; the deepest our own files use is 3.
constexpr int kMaxJsonDepth = 64;

// Parses [begin, end); Error(where, field, "JSON nested at most 64 deep", ...) or
// Error(where, field, "JSON", "invalid JSON (...)").
nlohmann::json parse_bounded_json(const char* begin, const char* end, const std::string& where,
                                  const std::string& field);
inline nlohmann::json parse_bounded_json(const std::string& text, const std::string& where, const std::string& field) {
    return parse_bounded_json(text.data(), text.data() + text.size(), where, field);
}

// At most about `max_chars` characters describing `v`: scalars and small flat arrays/objects as
// JSON, anything else as "an array of N values" / "an object of N entries".
std::string json_excerpt(const nlohmann::json& v, size_t max_chars = 60);

// `text` cut to at most `max_chars` bytes at a UTF-8 character boundary, with "..." when cut.
std::string text_excerpt(const std::string& text, size_t max_chars = 80);

}  // namespace alexnet
