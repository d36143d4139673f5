// Linked into every executable. OpenMP threads that spin while they wait take a core from the
// thread they wait for when another process is busy on the machine (measured: throughput halves
// with one busy neighbour on 2 cores). libgomp reads OMP_WAIT_POLICY once, in its initialiser,
// from the environment the process started with: a setenv() before it does not count (glibc's
// own initialiser, which runs first, resets `environ` to the original array). So when the user
// set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, the program executes itself again, with
// OMP_WAIT_POLICY=PASSIVE added, from its .preinit_array: before any library's initialiser ran,
// at the cost of loading the shared libraries twice (a few ms). If that fails (no /proc, the
// binary replaced meanwhile), the program runs on with libgomp's default. --help and --version
// start once.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

void default_to_passive_waiting(int argc, char** argv, char** envp) {
    for (int i = 1; i < argc; ++i)  // no thread will wait: not worth a second start
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--version")) return;
    size_t n = 0;
    for (; envp && envp[n]; ++n)
        if (starts_with(envp[n], "OMP_WAIT_POLICY=") || starts_with(envp[n], "GOMP_SPINCOUNT=")) return;
    // The real path, not /proc/self/exe: the process keeps its name (ps, top, pgrep).
    char exe[4096];
    const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return;
    exe[len] = '\0';
    char** env = static_cast<char**>(std::malloc((n + 2) * sizeof(char*)));
    if (!env) return;
    if (n) std::memcpy(env, envp, n * sizeof(char*));
    env[n] = const_cast<char*>("OMP_WAIT_POLICY=PASSIVE");
    env[n + 1] = nullptr;
    execve(exe, argv, env);
    std::free(env);  // execve failed: run on as we are
}

}  // namespace

__attribute__((section(".preinit_array"), used)) static void (*const preinit_passive_wait)(int, char**, char**) =
    &default_to_passive_waiting;
