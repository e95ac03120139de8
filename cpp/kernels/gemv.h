// The F16 GEMV for decode-time linears (kernels/gemv.cu): out[M, N] (+)= x[M, K] · W[N, K]ᵀ
// (+ bias[N]) for M <= kGemvMaxRows, F32 accumulation, out F16 or F32.
//
// Plain CUDA runtime types only, so that sn_bench_cuda can compile gemv.cu next to cuBLAS and time
// the very kernels the library launches (src/ is not needed to build it).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sn::cuda {

// The most rows of x one launch takes: x's rows are the n = 8 columns of the tensor-core tile.
constexpr int64_t kGemvMaxRows = 8;

enum class GemvBias : int { none, f16, bf16, f32 };

struct GemvProblem {
    const void* x;        // [m, k] F16, row-major
    const void* weight;   // [n, k] F16, row-major (nn.Linear layout)
    const void* bias;     // [n] of bias_dtype; null when bias_dtype is none
    GemvBias bias_dtype;  //
    void* out;            // [m, n] F16, or F32 when out_f32
    bool out_f32;         //
    bool accumulate;      // out += …, for sn_matmul_add (out keeps its old value as the start)
    int64_t m;            // 1..kGemvMaxRows
    int64_t n;            // < 2^31 (one block per 8 rows of W)
    int64_t k;            // any; 16-byte loads when k % 8 == 0 and x, W are 16-byte aligned
};

// Launch shape of the kernel: warps per block (they split K), 16-byte loads in flight per thread,
// and whether W's loads carry an L2 evict-first hint. The library uses kGemvDefaultConfig; the
// others exist in the benchmark's build only (SN_GEMV_BENCH_VARIANTS), to measure the choice.
struct GemvConfig {
    int warps;
    int unroll;
    bool evict_first;
};
constexpr GemvConfig kGemvDefaultConfig{8, 8, true};
#if defined(SN_GEMV_BENCH_VARIANTS)
constexpr GemvConfig kGemvBenchConfigs[] = {{4, 4, false}, {4, 8, false}, {8, 4, false}, {8, 8, false},
                                            {4, 4, true},  {4, 8, true},  {8, 4, true},  {8, 8, true}};
#endif

// Enqueues the GEMV on `stream`. Returns false, launching nothing, for a config that this build
// does not contain; the caller checks the launch itself (cudaGetLastError).
bool launch_gemv_f16(const GemvProblem& problem, cudaStream_t stream, GemvConfig config = kGemvDefaultConfig);

}  // namespace sn::cuda
