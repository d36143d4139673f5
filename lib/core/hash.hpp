#pragma once
// A 64-bit hash of bytes (8 at a time, not cryptographic): for checking that the ranks of a job
// hold the same data, and for naming the model that made a set of vectors.
#include <cstddef>
#include <cstdint>

namespace alexnet {

// Continues from `h`; "" and "\0" differ.
uint64_t hash_bytes(const void* data, size_t bytes, uint64_t h = 0);

}  // namespace alexnet
