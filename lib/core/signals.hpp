#pragma once
// SIGINT and SIGTERM, handled by one thread. start_stop_signals() runs in main before any thread
// exists: it blocks both signals, so every thread made later (decoders, OpenMP, TBB, Open MPI's)
// inherits the mask and no blocking call anywhere is interrupted by them (no EINTR), and it starts
// the one thread that waits for them (sigwait). What a signal then does:
// - by default the process ends at once, cleanly: the stdout line being written is finished
//   (stdout_mutex), the temporaries of files being written are removed (track_temporary), one
//   line on stderr says so (not with --quiet), exit 128 + signal;
// - after stop_at_step_boundary() (training) it only raises the flag that stop_signal() returns,
//   and the loop finishes its step, checkpoints and exits 128 + signal; a second signal ends the
//   process at once as above.
#include <mutex>
#include <string>

namespace alexnet {

void start_stop_signals(const std::string& tool, bool quiet);
int stop_signal();  // 0 while none has arrived, else SIGINT or SIGTERM
void stop_at_step_boundary();
const char* signal_name(int sig);  // "SIGINT", "SIGTERM"

// Held while a line goes to stdout, so a process ending on a signal never cuts one in half (the
// exit waits for it at most kStdoutWaitSeconds: a reader that stopped reading must not hang us).
std::timed_mutex& stdout_mutex();
constexpr int kStdoutWaitSeconds = 2;

// Files and folders that must not outlive a process ended by a signal (an atomic write's
// temporary, a scratch folder), removed with everything in them. mkstemp/mkdtemp under the same
// lock the exit takes, so none is made and missed in between: `tmpl` ends in XXXXXX and becomes the
// name; -1 / false with errno set on failure. Untrack once renamed or removed.
int make_temporary_file(std::string& tmpl);
bool make_temporary_folder(std::string& tmpl);
void untrack_temporary(const std::string& path);

// A program started from here inherits the blocked mask: posix_spawn it with an empty mask
// (POSIX_SPAWN_SETSIGMASK), or it could not be interrupted.

}  // namespace alexnet
