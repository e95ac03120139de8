// The LUT-GEMV for quantized linears (kernels/lut_gemv.cu): out[M, N] (+)= x[M, K] · Wᵀ (+ bias)
// with W[n, k] = lut[n, code(n, k)] + the sparse CSR part, codes in the tiled layout of
// src/lut_layout.h, F16 x, LUT and out, F32 accumulation; and the repack from the checkpoint
// layout into the tiled one.
//
// Plain CUDA runtime types (plus the backend's DataError record), so that sn_bench_cuda can
// compile lut_gemv.cu next to cuBLAS and time the very kernels the library launches.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sn::cuda {

struct DataError;

// Rows of x one launch takes: 8 per n-tile of the mma, up to 4 n-tiles. Larger M runs in slices
// of this many rows (each slice re-reads W: prefill, see lut_matmul.cu).
constexpr int64_t kLutGemvMaxRows = 32;

enum class LutBias : int { none, f16, bf16, f32 };

struct LutGemvProblem {
    const void* x;            // [m, k] F16, rows k apart, 16-byte aligned (k % 32 == 0)
    const int32_t* packed;    // tiled codes, I32 [ceil(n/16), ceil(k/256), 128·bits]
    const void* lut;          // [n, 2^bits] F16, 16-byte aligned
    const int32_t* rows;      // CSR [n + 1], or null (no sparse part)
    const int32_t* cols;      // [nnz]
    const void* vals;         // F16 [nnz]
    int64_t nnz;              //
    const void* bias;         // [n] of bias_dtype, or null
    LutBias bias_dtype;       //
    void* out;                // [m, n] F16, rows n apart
    bool accumulate;          // out += …
    int64_t m;                // 1 .. kLutGemvMaxRows
    int64_t n;                // >= 1
    int64_t k;                // a multiple of 32
    int bits;                 // 3 or 4
    DataError* data_error;    // where a CSR entry out of range is reported (the kernel skips it)
    int32_t op;               // the OpId reported with it
    int warps;                // warps per block, 4 or 8; 0 = the default, 8 (the benchmark compares)
};

inline bool lut_gemv_fits(const void* x, const void* lut) {
    return reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(lut) % 16 == 0;
}

// Enqueues the GEMV; programmatic_launch as for launch_gemv_f16 (kernels/gemv.h).
cudaError_t launch_lut_gemv(const LutGemvProblem& problem, cudaStream_t stream, bool programmatic_launch);

// Prefill: W rows of tiles [tile_begin, tile_begin + tile_count) decoded to F16 into out
// ([rows, k] row-major, 16-byte aligned), the sparse part of those rows added; problem's x, out,
// bias and m are not used. The product then runs on cuBLAS (kernels/lut_matmul.cu).
cudaError_t launch_lut_dequant(const LutGemvProblem& problem, int64_t tile_begin, int64_t tile_count, void* out,
                               cudaStream_t stream);

// qweight I32 [k·bits/32, n] (checkpoint layout) → packed (tiled layout, padding codes 0).
cudaError_t launch_lut_repack(const int32_t* qweight, int32_t* packed, int64_t n, int64_t k, int bits,
                              cudaStream_t stream);

}  // namespace sn::cuda
