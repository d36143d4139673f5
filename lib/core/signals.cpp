#include "core/signals.hpp"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

namespace alexnet {

namespace {

std::atomic<int> g_signal{0};
std::atomic<bool> g_step_boundary{false};

std::mutex& temporaries_mutex() {
    static std::mutex m;
    return m;
}
std::set<std::string>& temporaries() {
    static std::set<std::string> s;
    return s;
}

sigset_t stop_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

[[noreturn]] void end_now(const std::string& tool, bool quiet, int sig) {
    // The line being written is finished first; then nothing more reaches stdout.
    [[maybe_unused]] const bool whole = stdout_mutex().try_lock_for(std::chrono::seconds(kStdoutWaitSeconds));
    {
        std::lock_guard lock(temporaries_mutex());  // kept: no temporary is made or renamed after this
        std::error_code ignored;
        for (const std::string& path : temporaries()) std::filesystem::remove_all(path, ignored);
        if (!quiet) {
            const std::string line = tool + ": stopped by " + signal_name(sig) + "\n";
            [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
        }
        _exit(128 + sig);  // no destructors: the other threads are still running
    }
}

void wait_for_signals(std::string tool, bool quiet) {
    const sigset_t set = stop_set();
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        int none = 0;
        const bool first = g_signal.compare_exchange_strong(none, sig);
        if (first && g_step_boundary.load()) {  // the loop finishes its step and stops
            if (!quiet && isatty(STDERR_FILENO)) {
                const std::string line = "\n" + tool + ": stopping after this step (" + signal_name(sig) + " again: at once)\n";
                [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
            }
            continue;
        }
        end_now(tool, quiet, sig);
    }
}

}  // namespace

void start_stop_signals(const std::string& tool, bool quiet) {
    static std::once_flag once;
    std::call_once(once, [&] {
        const sigset_t set = stop_set();
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
        std::thread(wait_for_signals, tool, quiet).detach();
    });
}

int stop_signal() { return g_signal.load(); }

void stop_at_step_boundary() { g_step_boundary.store(true); }

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

std::timed_mutex& stdout_mutex() {
    static std::timed_mutex m;
    return m;
}

int make_temporary_file(std::string& tmpl) {
    std::lock_guard lock(temporaries_mutex());
    const int fd = mkstemp(tmpl.data());
    if (fd >= 0) temporaries().insert(tmpl);
    return fd;
}

bool make_temporary_folder(std::string& tmpl) {
    std::lock_guard lock(temporaries_mutex());
    if (mkdtemp(tmpl.data()) == nullptr) return false;
    temporaries().insert(tmpl);
    return true;
}

void untrack_temporary(const std::string& path) {
    std::lock_guard lock(temporaries_mutex());
    temporaries().erase(path);
}

}  // namespace alexnet
