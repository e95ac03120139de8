// F16 GEMV for decode (M <= 8 rows of x): out[M, N] (+)= x[M, K] · W[N, K]ᵀ (+ bias[N]), F32
// accumulation, out F16 or F32. At M = 1 the product is one pass over W (2·N·K bytes) and nothing
// else, so the kernel is built to stream W at copy bandwidth: every byte of W is loaded once, in
// 16-byte loads with many of them in flight, and the arithmetic rides on the tensor cores so that
// it costs a few instructions per load (no F16 → F32 conversions, no FMAs per element).
//
// The arithmetic: one warp-wide mma.m16n8k16 (F16 inputs, F32 accumulators) computes
//   C[16 × 8] += A[16 × 16] · B[16 × 8]    with  A = x (rows m; rows M..15 are zero),
//                                                B = Wᵀ (8 rows of W as its columns),
// so C[m][n] collects x[m]·W[n] over 16 values of k. Lane (g, t) = (lane / 4, lane % 4) holds
// (PTX ISA, mma.m16n8k16 fragments)
//   A: {A[g][2t], A[g][2t+1]}, {A[g+8][..]}, {A[g][2t+8], A[g][2t+9]}, {A[g+8][..]}
//   B: {B[2t][g], B[2t+1][g]}, {B[2t+8][g], B[2t+9][g]}
//   C: C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]
// The order of k inside a product does not matter, only that A and B agree on it. So lane (g, t)
// loads 8 consecutive halves of x row g and 8 of W row g (16 bytes each, the same k), and feeds
// halves 0-3 to one mma and 4-7 to a second; the k slots 2t, 2t+1, 2t+8, 2t+9 of an mma then
// stand for 4 consecutive k of chunk t, the same mapping in every lane of column group t.
//
//   one warp step (a "group" of 32 k):            W rows of the block (n0 .. n0+7)
//                 k: | chunk t=0 | t=1 | t=2 | t=3 |     8 halves = 16 bytes per lane
//     W row n0 + g:  |  lane 4g  |4g+1 |4g+2 |4g+3 |     x row g (g < M) the same k
//
// Blocks and warps: block b owns the 8 rows n0 = 8b .. 8b+7 of W (8 output columns); its warps
// split K, warp w taking groups w, w + warps, w + 2·warps, ... (so at any moment the block reads
// a contiguous stretch of each row), `unroll` groups per loop turn: all `unroll` loads are issued
// before the first mma uses them, which is what keeps enough bytes in flight to cover the memory
// latency. W's loads bypass L1 (read once; L1 keeps x, which every block re-reads) and may carry
// an L2 evict-first hint so that the stream of weights does not push the KV cache and the
// activations out of L2. At the end each warp's C (8 × 8 floats, the useful half) goes to shared
// memory, and 64 threads sum the warps in a fixed order (deterministic), add bias and, for
// matmul_add, the old out, and round once.
//
// Ordering (programmatic dependent launch, sm_90): every block first waits for the grid before
// it in the stream (griddepcontrol.wait, a no-op when launched normally), so x, W and out are
// read only once whatever wrote them is complete; after its loads a block lets the next grid be
// scheduled (griddepcontrol.launch_dependents), which only brings that grid's launch forward:
// its own wait still covers this kernel's writes. W is not loaded before the wait even though
// decode weights are constant: sn_matmul cannot know that the previous kernel did not write W.
//
// Lanes whose W row is past N or whose x row is past M load nothing and contribute zeros; so do
// chunks past K (K a multiple of 8, not necessarily of 32).
//
// SwiGLU epilogue (sn_matmul_swiglu, `swiglu`): W [2I, K] stacks the gate rows over the up rows
// and out is [M, I]. Block b owns the 4 output columns j0 = 4b .. 4b+3 and reads, as its 8 rows,
// both halves of them, so one block holds complete (g, u) pairs:
//
//     lane group g:   0      1      2      3    |   4        5        6        7
//     W row:         j0    j0+1   j0+2   j0+3   |  I+j0    I+j0+1   I+j0+2   I+j0+3
//                    (gate rows)                |  (up rows)
//
// The stream over W is the same (8 rows of K, one per lane group; which 8 does not matter to the
// bandwidth), and so is each row's sum; the epilogue then rounds g and u to F16 (what sn_matmul
// would have stored) and writes silu(g)·u, so the result equals the GEMV into [M, 2I] followed by
// sn_swiglu, without writing and re-reading the [M, 2I] product and without the second launch.
#include "kernels/gemv.h"

#include "kernels/activation.cuh"
#include "kernels/chained_launch.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace sn::cuda {
namespace {

constexpr int kTile = 8;            // the n of the mma tile: W rows (and x rows) one warp covers
constexpr int kHalvesPerChunk = 8;  // one 16-byte load
constexpr int kChunksPerGroup = 4;  // lanes t = 0..3 of one W row
constexpr int kPairs = kTile / 2;   // SwiGLU: output columns per block (a gate and an up row each)

// 16 bytes of W at `address` (16-byte aligned), read once: not kept in L1; with kEvictFirst
// also marked first to go from L2. Volatile with a memory clobber, like griddepcontrol.wait, so
// that the compiler cannot hoist the load above that wait.
template <bool kEvictFirst>
__device__ __forceinline__ uint4 load_weight_chunk(const __half* address, uint64_t policy) {
    uint4 v;
    if constexpr (kEvictFirst) {
        asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(address), "l"(policy)
                     : "memory");
    } else {
        (void)policy;
        asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(address)
                     : "memory");
    }
    return v;
}

// c[0..3] += A · B for the fragments above, A's rows 8..15 being zero (a1 = a3 = 0).
__device__ __forceinline__ void mma_x_by_w(float (&c)[4], uint32_t x_low, uint32_t x_high, uint32_t w_low,
                                           uint32_t w_high) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(x_low), "r"(0u), "r"(x_high), "r"(0u), "r"(w_low), "r"(w_high));
}

__device__ __forceinline__ float bias_at(const GemvProblem& p, int64_t n) {
    return gemv_bias_value(p.bias, p.bias_dtype, n);
}

__device__ __forceinline__ float out_to_float(__half value) {
    return __half2float(value);
}
__device__ __forceinline__ float out_to_float(float value) {
    return value;
}
__device__ __forceinline__ void store_out(__half* at, float value) {
    *at = __float2half_rn(value);
}
__device__ __forceinline__ void store_out(float* at, float value) {
    *at = value;
}
// A value as store_out would keep it in F16 out (the only out of the SwiGLU epilogue).
__device__ __forceinline__ float rounded_as_out(const __half*, float value) {
    return __half2float(__float2half_rn(value));
}
// silu(g)·u with sn_swiglu's silu (kernels/activation.cuh), so that the fused epilogue computes
// what the GEMV + sn_swiglu pair computed.
__device__ __forceinline__ float silu_times(float gate, float up) {
    return silu_of(gate) * up;
}

// Out: __half or float (kSwiglu: __half only). The problem satisfies gemv_f16_fits.
template <class Out, int kWarps, int kUnroll, bool kEvictFirst, bool kSwiglu>
__global__ void __launch_bounds__(kWarps * 32) gemv_f16_kernel(const GemvProblem p) {
    static_assert(kWarps * 32 >= kTile * kTile, "the epilogue needs one thread per (m, n)");
    __shared__ float partial[kWarps][kTile][kTile];  // [warp][m][W row of the block]
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane / 4, t = lane % 4;
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTile;
    // This lane's W row: n0 + g (output column n0 + g), or for SwiGLU the gate (g < 4) or up
    // (g >= 4) row of output column j0 + g % 4 (the drawing above).
    int64_t w_row_index = n0 + g;
    bool w_row_live = w_row_index < p.n;
    if constexpr (kSwiglu) {
        const int64_t columns = p.n / 2;
        const int64_t column = static_cast<int64_t>(blockIdx.x) * kPairs + g % kPairs;
        w_row_live = column < columns;
        w_row_index = column + (g < kPairs ? 0 : columns);
    }
    const bool x_row_live = g < p.m;  // this lane's x row (output row g)
    const __half* w_row = static_cast<const __half*>(p.weight) + (w_row_live ? w_row_index : 0) * p.k;
    const __half* x_row = static_cast<const __half*>(p.x) + (x_row_live ? g : 0) * p.k;
    const int64_t chunks = p.k / kHalvesPerChunk;
    const int64_t groups = (chunks + kChunksPerGroup - 1) / kChunksPerGroup;

    uint64_t policy = 0;
    if constexpr (kEvictFirst) asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    wait_for_previous_grid();

    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // c[2], c[3]: rows 8..15 of C, always zero
    for (int64_t base = warp; base < groups; base += static_cast<int64_t>(kWarps) * kUnroll) {
        uint4 w[kUnroll], x[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t chunk = (base + static_cast<int64_t>(u) * kWarps) * kChunksPerGroup + t;
            w[u] = make_uint4(0u, 0u, 0u, 0u);
            x[u] = make_uint4(0u, 0u, 0u, 0u);
            if (chunk < chunks) {
                const int64_t k0 = chunk * kHalvesPerChunk;
                if (w_row_live) w[u] = load_weight_chunk<kEvictFirst>(w_row + k0, policy);
                if (x_row_live) x[u] = __ldg(reinterpret_cast<const uint4*>(x_row + k0));
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            mma_x_by_w(c, x[u].x, x[u].y, w[u].x, w[u].y);
            mma_x_by_w(c, x[u].z, x[u].w, w[u].z, w[u].w);
        }
    }

    allow_next_grid();
    partial[warp][g][2 * t] = c[0];
    partial[warp][g][2 * t + 1] = c[1];
    __syncthreads();
    if constexpr (kSwiglu) {
        // One thread per (m, pair): column `pair` of partial is the gate row, `pair + kPairs` the
        // up row of output column j0 + pair; each summed over the warps in the plain epilogue's order.
        if (threadIdx.x < kTile * kPairs) {
            const int m = threadIdx.x / kPairs, pair = threadIdx.x % kPairs;
            const int64_t columns = p.n / 2;
            const int64_t j = static_cast<int64_t>(blockIdx.x) * kPairs + pair;
            if (m < p.m && j < columns) {
                float gate = 0.0f, up = 0.0f;
#pragma unroll
                for (int w_index = 0; w_index < kWarps; ++w_index) {
                    gate += partial[w_index][m][pair];
                    up += partial[w_index][m][pair + kPairs];
                }
                if (p.bias_dtype != GemvBias::none) {
                    gate += bias_at(p, j);
                    up += bias_at(p, columns + j);
                }
                Out* at = static_cast<Out*>(p.out) + m * columns + j;
                store_out(at, silu_times(rounded_as_out(at, gate), rounded_as_out(at, up)));
            }
        }
    } else if (threadIdx.x < kTile * kTile) {
        const int m = threadIdx.x / kTile, column = threadIdx.x % kTile;
        const int64_t n = n0 + column;
        if (m < p.m && n < p.n) {
            float sum = 0.0f;
#pragma unroll
            for (int w_index = 0; w_index < kWarps; ++w_index) sum += partial[w_index][m][column];
            if (p.bias_dtype != GemvBias::none) sum += bias_at(p, n);
            Out* at = static_cast<Out*>(p.out) + m * p.n + n;
            if (p.accumulate) sum += out_to_float(*at);
            store_out(at, sum);
        }
    }
}

template <class Out, int kWarps, int kUnroll, bool kEvictFirst, bool kSwiglu>
cudaError_t launch(const GemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    // A block per 8 rows of W: 8 output columns, or 4 gate|up pairs.
    const int64_t blocks = kSwiglu ? (p.n / 2 + kPairs - 1) / kPairs : (p.n + kTile - 1) / kTile;
    return launch_chained(stream, programmatic_launch, gemv_f16_kernel<Out, kWarps, kUnroll, kEvictFirst, kSwiglu>,
                          dim3(static_cast<unsigned>(blocks)), dim3(kWarps * 32), 0, p);
}

template <int kWarps, int kUnroll, bool kEvictFirst>
cudaError_t launch_config(const GemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if (p.swiglu) {
        if (p.n % 2 != 0 || p.out_f32 || p.accumulate) return cudaErrorInvalidValue;
        return launch<__half, kWarps, kUnroll, kEvictFirst, true>(p, stream, programmatic_launch);
    }
    return p.out_f32 ? launch<float, kWarps, kUnroll, kEvictFirst, false>(p, stream, programmatic_launch)
                     : launch<__half, kWarps, kUnroll, kEvictFirst, false>(p, stream, programmatic_launch);
}

constexpr bool same_config(GemvConfig a, GemvConfig b) {
    return a.warps == b.warps && a.unroll == b.unroll && a.evict_first == b.evict_first;
}

}  // namespace

cudaError_t launch_gemv_f16(const GemvProblem& problem, cudaStream_t stream, bool programmatic_launch,
                            GemvConfig config) {
    constexpr GemvConfig d = kGemvDefaultConfig;
    if (same_config(config, d))
        return launch_config<d.warps, d.unroll, d.evict_first>(problem, stream, programmatic_launch);
#if defined(SN_GEMV_BENCH_VARIANTS)
        // One instantiation per entry of kGemvBenchConfigs.
#define SN_GEMV_VARIANT(warps, unroll, evict_first)                                             \
    if (same_config(config, GemvConfig{warps, unroll, evict_first})) {                          \
        return launch_config<warps, unroll, evict_first>(problem, stream, programmatic_launch); \
    }
    SN_GEMV_VARIANT(4, 8, true)
    SN_GEMV_VARIANT(8, 4, true)
    SN_GEMV_VARIANT(8, 8, false)
    SN_GEMV_VARIANT(16, 4, true)
#undef SN_GEMV_VARIANT
#endif
    return cudaErrorInvalidValue;
}

}  // namespace sn::cuda
