#include "io/bounded_json.hpp"

#include "core/error.hpp"

namespace alexnet {

namespace {

// The deepest nesting of arrays and objects, counting brackets outside strings; stops early once
// past `limit`. Linear, and needs no recursion.
int nesting_depth(const char* p, const char* end, int limit) {
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (; p < end && deepest <= limit; ++p) {
        const char c = *p;
        if (in_string) {
            if (c == '\\') ++p;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

}  // namespace

nlohmann::json parse_bounded_json(const char* begin, const char* end, const std::string& where,
                                  const std::string& field) {
    const int depth = nesting_depth(begin, end, kMaxJsonDepth);
    check(depth <= kMaxJsonDepth, where, field, "JSON nested at most " + std::to_string(kMaxJsonDepth) + " deep",
          "deeper nesting");
    try {
        return nlohmann::json::parse(begin, end);
    } catch (const nlohmann::json::exception& e) {  // parse errors, and numbers too large for a double
        throw Error(where, field, "JSON", std::string("invalid JSON (") + e.what() + ")");
    }
}

std::string text_excerpt(const std::string& text, size_t max_chars) {
    if (text.size() <= max_chars) return text;
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    return text.substr(0, cut) + "...";
}

std::string json_excerpt(const nlohmann::json& v, size_t max_chars) {
    bool flat = v.is_primitive() || v.size() <= 8;  // small, and nothing nested inside but empty values
    if (v.is_structured())
        for (const auto& x : v) flat = flat && (x.is_primitive() || x.empty());
    if (flat) return text_excerpt(v.dump(), max_chars);
    const std::string n = std::to_string(v.size());
    return v.is_array() ? "an array of " + n + (v.size() == 1 ? " value" : " values")
                        : "an object of " + n + (v.size() == 1 ? " entry" : " entries");
}

}  // namespace alexnet
