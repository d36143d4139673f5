#pragma once
// libFuzzer harnesses over the suite's readers (tests/fuzz/README.md). The readers take paths, so
// each input is written to an in-memory file (memfd) and read back through /proc/self/fd/N: the
// same code path as a file on disk, at memory speed. A reader may refuse an input only with
// alexnet::Error; any other exception, a crash, a sanitizer report or a hang is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"

namespace alexnet::fuzz {

class MemoryFile {
public:
    explicit MemoryFile(const char* name) : fd_(memfd_create(name, MFD_CLOEXEC)) {}
    ~MemoryFile() { close(fd_); }
    // Replaces the content; returns the path that reads it.
    std::string set(const uint8_t* data, size_t size) {
        if (ftruncate(fd_, 0) != 0 || (size > 0 && pwrite(fd_, data, size, 0) != ssize_t(size))) __builtin_trap();
        return "/proc/self/fd/" + std::to_string(fd_);
    }

private:
    int fd_;
};

// Runs `read`, letting only alexnet::Error through as a refusal.
template <class F>
void expect_error_or_success(F&& read) {
    try {
        read();
    } catch (const Error&) {
    }
}

// Reads every value (float32 or s8) so that a view pointing outside its file shows up (ASan, or a
// SEGV).
template <class WeightsT>
float touch_all(const WeightsT& w) {
    float sum = 0;
    for (const auto& name : w.names()) {
        const auto& t = w.at(name);
        if (t.is_s8()) {
            const int8_t* v = t.s8();
            for (int64_t i = 0; i < t.numel(); ++i) sum += float(v[i]);
        } else {
            const float* v = t.floats();
            for (int64_t i = 0; i < t.numel(); ++i) sum += v[i];
        }
    }
    return sum;
}

}  // namespace alexnet::fuzz
