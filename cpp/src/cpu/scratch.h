// Temporary memory for CPU kernels: one 64-byte-aligned buffer per calling thread that grows to
// the largest request and is reused by every later call, so the hot path stops allocating after
// the first token. Request it on the calling thread, before any OpenMP region (an allocation
// failure throws std::bad_alloc, which the API guard turns into SN_ERR_OUT_OF_MEMORY; inside a
// region it would terminate). The pointer is valid until the next scratch request on the thread.
#pragma once

#include <cstddef>

namespace sn::cpu {

float* scratch_floats(size_t count);

// A second such buffer, for an op built on another CPU op (matmul_swiglu runs matmul, which takes
// scratch_floats for itself): the outer op keeps its intermediates here. Same rules.
float* outer_scratch_floats(size_t count);

// Rounds n up to a multiple of 16 floats (64 bytes), for carving aligned sub-buffers.
constexpr size_t aligned_count(size_t n) {
    return (n + 15) / 16 * 16;
}

}  // namespace sn::cpu
