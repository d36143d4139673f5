// Linked into every executable. OpenMP threads that spin while they wait take a core from the
// thread they wait for when another process is busy on the machine (measured: throughput halves
// with one busy neighbour on 2 cores). libgomp reads OMP_WAIT_POLICY once, in its own
// initialiser, before main() runs; an executable's .preinit_array runs before any shared
// library's initialiser, so the default set here is the one libgomp sees. A user's own
// OMP_WAIT_POLICY (or GOMP_SPINCOUNT) is left alone.
#include <cstdlib>

namespace {

void default_to_passive_waiting(int, char**, char**) {
    if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
}

}  // namespace

__attribute__((section(".preinit_array"), used)) static void (*const preinit_passive_wait)(int, char**, char**) =
    &default_to_passive_waiting;
