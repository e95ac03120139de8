// The F16 GEMV for decode-time linears (kernels/gemv.cu): out[M, N] (+)= x[M, K] · W[N, K]ᵀ
// (+ bias[N]) for M <= kGemvMaxRows, F32 accumulation, out F16 or F32; or, with `swiglu`, the
// gated MLP input out[M, N/2] = silu(g)·u of the product's two column halves g | u.
//
// Plain CUDA runtime types only, so that sn_bench_cuda can compile gemv.cu next to cuBLAS and time
// the very kernels the library launches (src/ is not needed to build it).
#pragma once

#include <cuda_runtime.h>
#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

#include <cstdint>

namespace sn::cuda {

// The most rows of x one launch takes: x's rows are the n = 8 columns of the tensor-core tile.
constexpr int64_t kGemvMaxRows = 8;

// The dtype of a bias the hand-written kernels read (the F16 GEMV and the LUT-GEMV).
enum class GemvBias : int { none, f16, bf16, f32 };

#if defined(__CUDACC__)
// bias[n] as float (0 for GemvBias::none).
__device__ __forceinline__ float gemv_bias_value(const void* bias, GemvBias dtype, int64_t n) {
    switch (dtype) {
        case GemvBias::f16:
            return __half2float(static_cast<const __half*>(bias)[n]);
        case GemvBias::bf16:
            return __bfloat162float(static_cast<const __nv_bfloat16*>(bias)[n]);
        case GemvBias::f32:
            return static_cast<const float*>(bias)[n];
        default:
            return 0.0f;
    }
}
#endif

struct GemvProblem {
    const void* x;        // [m, k] F16, row-major, 16-byte aligned
    const void* weight;   // [n, k] F16, row-major (nn.Linear layout), 16-byte aligned
    const void* bias;     // [n] of bias_dtype; null when bias_dtype is none
    GemvBias bias_dtype;  //
    void* out;            // [m, n] F16, or F32 when out_f32; any alignment
    bool out_f32;         //
    bool accumulate;      // out += …, for sn_matmul_add (out keeps its old value as the start)
    int64_t m;            // 1..kGemvMaxRows
    int64_t n;            // 1 .. 2^31 - 1 (one block per 8 rows of W)
    int64_t k;            // a multiple of 8, >= 0
    // sn_matmul_swiglu: W's rows are gate rows 0 .. n/2 − 1 over up rows n/2 .. n − 1 (n even);
    // out is [m, n/2] = silu(g)·u, g and u rounded to F16 first (F16 out only, no accumulate).
    bool swiglu;
};

// The GEMV reads x and W only in 16-byte pieces: every row must start 16-byte aligned, so K is a
// multiple of 8 halves and both base pointers are aligned. K % 8 != 0 shifts each row's start
// by 2·K bytes, so no per-row head or tail can restore that; such products (and views at odd
// offsets) stay on cuBLAS, which sn_bench_cuda measured faster there than 2-byte loads.
inline bool gemv_f16_fits(const void* x, const void* weight, int64_t k) {
    return k % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(weight) % 16 == 0;
}

// Launch shape of the kernel: warps per block (they split K), 16-byte loads of W in flight per
// thread, and whether those loads carry an L2 evict-first hint. The library uses
// kGemvDefaultConfig; the others exist in the benchmark's build only (SN_GEMV_BENCH_VARIANTS),
// to measure the choice: on an H100 all five run within 3 % of each other at M = 1 (the hint
// changes nothing in the benchmark, which has no other data in L2; it is there for the KV cache
// and activations of a real decode step). Measured and dropped: 4 W rows per block (more,
// smaller blocks) and 2 or 4 blocks of a cluster splitting K with a distributed-shared-memory
// reduction, 25-130 % slower.
struct GemvConfig {
    int warps;
    int unroll;
    bool evict_first;
};
constexpr GemvConfig kGemvDefaultConfig{8, 8, true};
#if defined(SN_GEMV_BENCH_VARIANTS)
constexpr GemvConfig kGemvBenchConfigs[] = {{4, 8, true}, {8, 4, true}, {8, 8, true}, {8, 8, false}, {16, 4, true}};
#endif

// Enqueues the GEMV on `stream` (the problem must satisfy gemv_f16_fits). With
// `programmatic_launch` (compute capability 9.0 and up) the launch may begin while the kernel
// before it in the stream finishes (programmatic dependent launch): the blocks wait on the
// device for that kernel's results before reading anything, so the ordering is unchanged, but
// the launch latency overlaps the previous kernel's tail. Returns the launch's error, or
// cudaErrorInvalidValue for a config this build does not contain or a swiglu problem with an odd
// n, F32 out or accumulate.
cudaError_t launch_gemv_f16(const GemvProblem& problem, cudaStream_t stream, bool programmatic_launch,
                            GemvConfig config = kGemvDefaultConfig);

}  // namespace sn::cuda
