#pragma once
// Running the executables from tests: exit status, stdout (JSON lines) and stderr apart.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace alexnet::test {

const std::string kBin = ALEXNET_BIN_DIR;

struct Run {
    int status = -1;
    std::string out, err;
    std::vector<nlohmann::json> lines() const {
        std::vector<nlohmann::json> v;
        std::istringstream in(out);
        std::string line;
        while (std::getline(in, line)) v.push_back(nlohmann::json::parse(line));
        return v;
    }
};

// Runs a shell command line; stdout and stderr captured separately.
inline Run run(const std::string& command) {
    const std::string err_file = (std::filesystem::temp_directory_path() / ("alexnet-cli-" + std::to_string(getpid()) + ".err")).string();
    Run r;
    FILE* p = popen(("(" + command + ") 2>" + err_file + " </dev/null").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(err_file);
    r.err.assign(std::istreambuf_iterator<char>(e), {});
    std::filesystem::remove(err_file);
    return r;
}

// CI runs as root; one machine with 2 cores holds 3 processes only when oversubscribed. The shared
// memory transport copies through its buffers (containers may forbid process_vm_readv).
// Under make sanitize the ranks skip LeakSanitizer's exit check: Open MPI dlopens its components
// and dlcloses the ones it does not select during MPI_Init, and the few blocks those keep (~50
// bytes a rank) are then reported with no module to suppress them by. The same tools' leaks are
// checked in every single-process run of the suite.
inline std::string mpirun(int np, const std::string& command) {
    return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" timeout -k 5 300 mpirun --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none -np " +
           std::to_string(np) + " " + command;
}

}  // namespace alexnet::test
