#pragma once
// Another program run to its end, as users meet it (the benchmarks' start-up and peak-memory
// figures, tests that measure a tool).
#include <string>
#include <vector>

namespace alexnet {

struct CommandRun {
    int status = 0;          // as waitpid() reports it (WIFEXITED, WEXITSTATUS)
    double seconds = 0;      // wall clock
    double peak_rss_mb = 0;  // run_measured() only: the program's peak resident memory, MiB
};

// Runs argv[0] (a path) with stdout and stderr to /dev/null and no signal blocked; throws Error
// when it cannot start.
CommandRun run_command(const std::vector<std::string>& argv);

// The same under GNU time (kGnuTime, as scripts/measure-classify-rss.sh measures), for its peak
// resident memory. Not wait4's ru_maxrss of a child of ours: Linux hands a child this process's
// high-water mark through fork or vfork and exec, so a small tool run from a large bench or test
// would read as large as its parent; GNU time's child is forked from a small process. Throws Error
// when GNU time is missing.
constexpr const char* kGnuTime = "/usr/bin/time";
CommandRun run_measured(const std::vector<std::string>& argv);

}  // namespace alexnet
