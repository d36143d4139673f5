#include "core/run_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/temp_dir.hpp"

extern char** environ;

namespace alexnet {

CommandRun run_command(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attr;  // the child starts with no signal blocked (ours are: core/signals.hpp)
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = 0;
    const int started = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (started != 0) throw Error(argv[0], "cannot start it");
    CommandRun r;
    waitpid(pid, &r.status, 0);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

CommandRun run_measured(const std::vector<std::string>& argv) {
    if (!std::filesystem::exists(kGnuTime))
        throw Error(kGnuTime, "GNU time", "the program that measures peak memory (Debian package time)", "none");
    const TempDir dir("alexnet-peak-rss");
    const std::string report = dir / "max-rss-kb";
    std::vector<std::string> timed{kGnuTime, "-f", "%M", "-o", report};
    timed.insert(timed.end(), argv.begin(), argv.end());
    CommandRun r = run_command(timed);  // its status is the program's
    std::ifstream in(report);
    std::string line, last;
    while (std::getline(in, line)) last = line;  // after "Command exited with non-zero status N"
    try {
        r.peak_rss_mb = std::stod(last) / 1024;
    } catch (const std::exception&) {
        throw Error(kGnuTime, "report", "the peak resident memory in kilobytes", "'" + last + "'");
    }
    return r;
}

}  // namespace alexnet
