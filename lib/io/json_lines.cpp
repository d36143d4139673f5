#include "io/json_lines.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "core/job.hpp"
#include "core/signals.hpp"

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

namespace {

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when the byte there does not start one
// (stray continuation bytes, overlong forms, surrogates, code points above U+10FFFF).
size_t utf8_sequence(const std::string& s, size_t i) {
    const auto byte = [&](size_t k) { return k < s.size() ? uint8_t(s[k]) : uint8_t(0); };
    const uint8_t b0 = byte(i);
    if (b0 < 0x80) return 1;
    const auto cont = [&](size_t k) { return (byte(k) & 0xC0) == 0x80; };
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(i + 1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        const uint8_t b1 = byte(i + 1);
        if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 > 0x9F)) return 0;  // overlong; surrogates
        return cont(i + 1) && cont(i + 2) ? 3 : 0;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        const uint8_t b1 = byte(i + 1);
        if ((b0 == 0xF0 && b1 < 0x90) || (b0 == 0xF4 && b1 > 0x8F)) return 0;  // overlong; > U+10FFFF
        return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    return 0;
}

void append_escaped(std::string& out, const std::string& s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (size_t i = 0; i < s.size();) {
        const uint8_t c = uint8_t(s[i]);
        const size_t n = utf8_sequence(s, i);
        if (n == 0) {  // an invalid byte: U+DC80 + its value
            out += "\\udc";
            out += hex[c >> 4];
            out += hex[c & 15];
            ++i;
            continue;
        }
        if (n > 1) {
            out.append(s, i, n);
            i += n;
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += char(c);
                }
        }
        ++i;
    }
    out += '"';
}

void append_json(std::string& out, const nlohmann::ordered_json& j) {
    if (j.is_string()) {
        append_escaped(out, j.get_ref<const std::string&>());
    } else if (j.is_object()) {
        out += '{';
        bool first = true;
        for (const auto& [key, value] : j.items()) {
            if (!first) out += ',';
            first = false;
            append_escaped(out, key);
            out += ':';
            append_json(out, value);
        }
        out += '}';
    } else if (j.is_array()) {
        out += '[';
        for (size_t i = 0; i < j.size(); ++i) {
            if (i) out += ',';
            append_json(out, j[i]);
        }
        out += ']';
    } else {
        out += j.dump();  // numbers, booleans, null exactly as nlohmann writes them
    }
}

}  // namespace

std::string dump_line(const nlohmann::ordered_json& j) {
    try {
        return j.dump();
    } catch (const nlohmann::json::type_error&) {  // 316: a string that is not UTF-8
        std::string out;
        append_json(out, j);
        return out;
    }
}

std::string dump_utf8(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
std::string dump_utf8(const nlohmann::ordered_json& j) {
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void JsonLines::write(const nlohmann::ordered_json& line) { write_raw(dump_line(line)); }

namespace {

// stdout is written in pieces that cannot block for long: poll first, then at most PIPE_BUF bytes
// (a pipe takes that many whole once poll says it has room). A reader that stops reading must not
// hold a program that was asked to stop: mpirun, once interrupted, drains its ranks' output only
// after it has killed them, so rank 0 would sit in write() until SIGKILL, never reaching its
// checkpoint. Until a stop signal, stdout is waited for as long as it takes (a slow reader is a
// reader); after one, a line that cannot go out within kStopWaitMs is dropped, with every later one.
constexpr int kPollMs = 100, kStopWaitMs = 500;
std::atomic<bool> g_stdout_dropped{false};

void write_stdout(const std::string& text) {
    int waited_after_stop = 0;
    for (size_t done = 0; done < text.size();) {
        pollfd p{STDOUT_FILENO, POLLOUT, 0};
        const int ready = ::poll(&p, 1, kPollMs);
        if (ready == 0 || (ready < 0 && errno == EINTR)) {
            if (stop_signal() != 0 && (waited_after_stop += kPollMs) >= kStopWaitMs) {
                g_stdout_dropped = true;
                return;
            }
            continue;
        }
        const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, std::min<size_t>(text.size() - done, PIPE_BUF));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0 && errno == EPIPE) throw BrokenPipe{};
        if (n <= 0) {
            std::perror("stdout");
            std::exit(1);
        }
        done += size_t(n);
    }
}

}  // namespace

void JsonLines::write_raw(const std::string& line) {
    if (!lead_process()) return;  // a job's rank 0 alone writes stdout
    std::lock_guard lock(stdout_mutex());  // a process ended by a signal waits for the line
    if (g_stdout_dropped) return;
    write_stdout(line + '\n');
}

std::string count_of(int64_t n, const std::string& noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
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
