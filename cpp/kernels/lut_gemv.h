// The LUT-GEMV for quantized linears (kernels/lut_gemv.cu): out[M, N] (+)= x[M, K] · Wᵀ (+ bias)
// with W[n, k] = lut[n, code(n, k)] + the sparse CSR part, codes in the tiled layout of
// src/lut_layout.h, F16 x, LUT and out, F32 accumulation; and the repack from the checkpoint
// layout into the tiled one.
//
// Plain CUDA runtime and cuBLAS types (plus the backend's DataError record), so that sn_bench_cuda
// can compile lut_gemv.cu and time the very kernels the library launches.
#pragma once

#include "kernels/gemv.h"  // GemvBias

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace sn::cuda {

struct DataError;

// Rows of x one kernel launch takes: 8 per n-tile of the mma, up to 4 n-tiles. launch_lut_gemv
// runs larger M in slices of this many rows (each slice re-reads W).
constexpr int64_t kLutGemvMaxRows = 32;
// From this many rows of x on, a product the LUT-GEMM does not take (a sparse part, or more than
// kLutGemmMaxRows rows) is cheaper dequantized once and multiplied on cuBLAS (launch_lut_prefill)
// than streamed through the GEMV once per slice (sn_bench_cuda --lut).
constexpr int64_t kLutPrefillMinRows = 65;

struct LutGemvProblem {
    const void* x;          // [m, k] F16, rows k apart, 16-byte aligned (k % 32 == 0)
    const int32_t* packed;  // tiled codes, I32 [ceil(n/16), ceil(k/256), 128·bits]
    const void* lut;        // [n, 2^bits] F16, 16-byte aligned
    const int32_t* rows;    // CSR [n + 1], or null (no sparse part)
    const int32_t* cols;    // [nnz]
    const void* vals;       // F16 [nnz]
    int64_t nnz;            //
    // Device scratch for the sparse part's sums (lut_sparse_sums_floats of them), written by the
    // sparse kernel and read by the dense one of the same launch; unused without a sparse part.
    float* sparse_sums;
    size_t sparse_sums_floats;
    const void* bias;       // [n] of bias_dtype, or null
    GemvBias bias_dtype;    //
    void* out;              // [m, n] F16, rows n apart
    bool accumulate;        // out += …
    int64_t m;              // >= 1 (launch_lut_gemv slices it by kLutGemvMaxRows)
    int64_t n;              // >= 1
    int64_t k;              // a multiple of 32
    int bits;               // 3 or 4
    DataError* data_error;  // where a CSR entry out of range is reported (the kernel skips it)
    int32_t op;             // the OpId reported with it
    // Tuning overrides for benchmarks (0 = the kernel's choice, what the library always uses):
    int warps;        // warps per block of the register path, 4 or 8
    int stages;       // ring slots per warp, 2, 4 or 8 (2 and 8 only up to 8 rows of x)
    int x_path;       // one row of x: 1 = x in the ring, 2 = x in registers, 3 = x in shared memory (fused sparse)
    int path;         // 1 = the LUT-GEMM where it applies (dense), 2 = never the LUT-GEMM
    int gemm_splits;  // the LUT-GEMM's splits of K
    int gemm_stages;  // the LUT-GEMM's pipeline stages, 2 or 3
    // No kernel that may still be running when this one starts wrote packed, lut or the sparse
    // part (true of weights loaded once; the op knows it from the context's record of recent ops,
    // earlier_op_may_have_written). A programmatic launch then starts streaming them before it
    // waits for the kernel before, and only x and out wait: the kernel's first units of codes are
    // in flight while the kernels before it end.
    bool weights_settled;
    // SwiGLU epilogue (sn_lut_matmul_swiglu): W's n = 2I rows are gate_proj's then up_proj's, out
    // is [m, I] = silu(g)·u; accumulate is not read. Requires lut_gemv_swiglu_fits.
    bool swiglu;
#if defined(SN_LUT_TIMELINE)
    // Probe build only (tests/probe_lut_timeline.cu): per-warp event times of the M <= 8 kernel,
    // kLutTimelineSlots words per warp of the grid (block-major), or null.
    uint64_t* timeline;
#endif
};

#if defined(SN_LUT_TIMELINE)
// A warp's record: [0] %globaltimer at entry, [1] at exit, [2] SM, [3] clock64 at entry, [4] after
// the prologue's copies were requested, [5] after the wait for the previous grid, [6] after x was in
// shared memory (x_path 3) or requested (the ring), [7 + i] after unit i's codes (and with the ring
// its x) had arrived (i < 7), [14] after the last unit's decode, [15] clock64 at exit.
constexpr int kLutTimelineSlots = 16;
#endif

// Rows of x the fused SwiGLU epilogue takes (the decode path).
constexpr int64_t kLutSwigluMaxRows = 8;

// Whether the LUT-GEMV can apply the SwiGLU epilogue: M <= 8, I = n/2 a multiple of the 16-row
// tile (each block pairs a gate tile with the matching up tile), and no sparse part (its
// instantiation stopped with an illegal instruction on an H100, CUDA 13, compute-sanitizer:
// lut_gemv_kernel<3, 1, 4, 8, 1, 1, 1>; cause not found). Otherwise sn_lut_matmul_swiglu runs the
// product and a SwiGLU kernel.
inline bool lut_gemv_swiglu_fits(int64_t m, int64_t n, bool sparse) {
    return m >= 1 && m <= kLutSwigluMaxRows && n % 32 == 0 && !sparse;
}

inline bool lut_gemv_fits(const void* x, const void* lut) {
    return reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(lut) % 16 == 0;
}

// Floats of LutGemvProblem::sparse_sums a product of m rows of x, n rows of W and nnz sparse
// entries needs (its slices of kLutGemvMaxRows rows reuse them).
size_t lut_sparse_sums_floats(int64_t m, int64_t n, int64_t nnz);

// Enqueues the GEMV, one launch per kLutGemvMaxRows rows of x (with a sparse part, first the
// balanced sparse kernel of that slice); programmatic_launch as for launch_gemv_f16
// (kernels/gemv.h).
cudaError_t launch_lut_gemv(const LutGemvProblem& problem, cudaStream_t stream, bool programmatic_launch);

// Prefill: out (+)= x · Wᵀ with W dequantized to F16 a slice of rows at a time into `buffer`
// (buffer_bytes, 16-byte aligned; whole tiles of rows that fit) and multiplied on cuBLAS with
// `beta` (1 to add onto out: accumulate, or a bias already written there). problem.bias and
// problem.accumulate are not read. Returns cudaErrorInvalidValue when not even one tile of rows
// fits the buffer, cudaErrorUnknown with *cublas_status set when cuBLAS fails.
cudaError_t launch_lut_prefill(const LutGemvProblem& problem, cublasHandle_t cublas, void* buffer, size_t buffer_bytes,
                               float beta, cudaStream_t stream, cublasStatus_t* cublas_status);

// The LUT-GEMM (kernels/lut_gemm.cu) takes dense products (no sparse part, no SwiGLU epilogue) of
// kLutGemmMinRows to kLutGemmMaxRows rows of x: W decoded once per 64 rows of x straight
// into the tensor cores, x shared by 8 tiles of W per block through shared memory. The
// bounds are sn_bench_cuda --lut measurements on an H100 (docs/results/bench-lut-h100-gemm-64rows.txt):
// at 16 rows it beat the GEMV at every shape (1.01-1.56x), at 32 rows at all but 4096x4096 (up to
// 1.9x, 4096x4096 4-8 % slower), and dequantize + cuBLAS overtakes it between 256 and 512 rows.
constexpr int64_t kLutGemmMinRows = 9;
constexpr int64_t kLutGemmMaxRows = 256;

enum class LutProductPath { gemv, gemm, prefill };

// Which kernels a product takes: the LUT-GEMM (above), else for kLutPrefillMinRows rows and more
// launch_lut_prefill where `dequant_bytes` of buffer hold a tile of rows, else the GEMV.
// problem.path overrides it (benchmarks). One rule for the op (kernels/lut_matmul.cu) and
// sn_bench_cuda.
LutProductPath lut_product_path(const LutGemvProblem& problem, size_t dequant_bytes);

// Enqueues the LUT-GEMM (one launch, plus a reduce kernel when K is split: the F32 partials of the
// splits take splits·m·n floats of `workspace`; with too little workspace it splits less). Adds
// the bias and, with accumulate, out. cudaErrorInvalidValue for a sparse or SwiGLU problem.
cudaError_t launch_lut_gemm(const LutGemvProblem& problem, float* workspace, size_t workspace_bytes,
                            cudaStream_t stream, bool programmatic_launch);

// qweight I32 [k·bits/32, n] (checkpoint layout) → packed (tiled layout, padding codes 0).
cudaError_t launch_lut_repack(const int32_t* qweight, int32_t* packed, int64_t n, int64_t k, int bits,
                              cudaStream_t stream);

}  // namespace sn::cuda
