// Linked into every executable. SIGINT and SIGTERM are blocked from the process's first
// instruction (.preinit_array: before any library's initialiser could start a thread), so a signal
// that arrives while the program is still starting waits, pending, for the one thread that
// start_stop_signals() starts in run_tool (lib/core/signals.hpp), and every thread inherits the
// mask. The mask survives passive_wait.cpp's re-exec.
#include <csignal>

namespace {

void block_stop_signals(int, char**, char**) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

__attribute__((section(".preinit_array"), used)) static void (*const preinit_block_stop_signals)(int, char**, char**) =
    &block_stop_signals;
