#include "cli/output.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace alexnet {

double json_float(float f) {
    if (!std::isfinite(f)) return f;  // nlohmann writes null for these
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, f);
    *res.ptr = '\0';
    return std::strtod(buf, nullptr);
}

void append_float(std::string& out, float f) {
    if (!std::isfinite(f)) {
        out += "null";
        return;
    }
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, f);
    out.append(buf, res.ptr);
}

void JsonLines::write(const nlohmann::ordered_json& line) { write_raw(line.dump()); }

void JsonLines::write_raw(const std::string& line) {
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fputc('\n', stdout) == EOF ||
        std::fflush(stdout) != 0) {
        if (errno == EPIPE) throw BrokenPipe{};
        std::perror("stdout");
        std::exit(1);
    }
}

std::string fixed(double v, int digits) {
    std::ostringstream s;
    s.precision(digits);
    s << std::fixed << v;
    return s.str();
}

void log_info(bool quiet, const std::string& message) {
    if (!quiet) std::cerr << message << '\n';
}

}  // namespace alexnet
