// The pair-table LUT-GEMV (kernels/lut_pair_gemv.cu), staged beside the library's LUT-GEMV
// (kernels/lut_gemv.h) until a GPU run has measured it: the same LutGemvProblem, with `packed` in
// the pair-tiled layout of src/lut_pair_layout.h (same shape as the tiled one). Built into
// sn_tests_lut_pair (against a CPU reference) and sn_proto_tilepair (timed beside the prototype),
// not into the library.
#pragma once

#include "kernels/lut_gemv.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace sn::cuda {

// Rows of x per launch of the pair-table GEMV (4 n-tiles of 8); more are run in slices.
constexpr int64_t kLutPairGemvMaxRows = 32;

// Enqueues out (+)= x · Wᵀ (+ bias), or with swiglu silu(gate)·up, for a dense problem (no sparse
// part: cudaErrorInvalidValue). problem.warps (4 or 8, default 8) and problem.stages (units of codes
// in flight per warp, 2, 3 or 4, default 2) are tuning overrides.
cudaError_t launch_lut_pair_gemv(const LutGemvProblem& problem, cudaStream_t stream, bool programmatic_launch);

// qweight I32 [k·bits/32, n] (checkpoint layout) → packed (pair-tiled layout, padding codes 0).
cudaError_t launch_lut_pair_repack(const int32_t* qweight, int32_t* packed, int64_t n, int64_t k, int bits,
                                   cudaStream_t stream);

}  // namespace sn::cuda
