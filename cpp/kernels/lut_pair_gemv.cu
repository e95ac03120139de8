// Pair-table LUT-GEMV (staged beside kernels/lut_gemv.cu until measured; kernels/lut_pair_gemv.h):
// out[M, N] (+)= x[M, K] · Wᵀ (+ bias) for M <= 32 per launch, W[n, k] = lut[n, code(n, k)], F16 x,
// LUT and out, F32 sums (in the mma), codes in the pair-tiled layout of src/lut_pair_layout.h.
//
// Why. The library's GEMV looks codes up in registers with prmt (3.0 ALU instructions per pair of
// weights at 3 bits, 5.0 at 4 bits, SASS of its M = 1 loop), which bounds it on the integer pipe.
// Here a block builds, once, a shared-memory table of the half2 of every pair of codes of each row
// of its tile, and every A-fragment register is one lookup: per pair of weights 1 LDS plus the
// table address (4 bits: 1 PRMT; 3 bits: 1 shift + 1 LOP3), whatever the number of rows of x.
//
// Pair table: kernels/lut_pair_table.cuh (shared with the tile-pair prototype), one per tile of 16
// rows, rows past N zero.
//
// Blocks and warps. Block b owns tile b (SwiGLU: gate tile b and up tile b + I/16, a table each);
// its warps take the K units (256 inputs) round-robin (warp w: units w, w + kWarps, ...; the up
// tile's after the gate tile's, as one stream), kDepth units of codes in flight per warp in
// registers (16-byte loads with the evict-first hint: read once). x goes through L1 (all blocks
// read it). At the end the warps' C fragments meet in shared memory and are summed in warp order
// (deterministic).
//
// Ordering (programmatic dependent launch, as the library's GEMV): the wait comes first, or, when
// the weights are settled (LutGemvProblem::weights_settled), after the first kDepth units of codes
// have been requested and the table built; x, out and the bias are read only after it.
#include "kernels/lut_pair_gemv.h"

#include "kernels/activation.cuh"  // silu_of
#include "kernels/chained_launch.h"
#include "kernels/gemv.h"  // gemv_bias_value
#include "kernels/lut_checkpoint.cuh"
#include "kernels/lut_decode.cuh"  // mma_w_by_x
#include "kernels/lut_pair_table.cuh"
#include "lut_pair_layout.h"

#include <cuda_fp16.h>

#include <algorithm>

namespace sn::cuda {
namespace {

namespace lp = sn::lut_pair;

template <int kBits, int kNTiles, int kWarps, int kDepth, bool kSwiglu>
__global__ void __launch_bounds__(kWarps * 32) lut_pair_gemv_kernel(const LutGemvProblem p) {
    static_assert(!kSwiglu || kNTiles == 1, "the SwiGLU epilogue serves decode (M <= 8)");
    constexpr int kParts = kSwiglu ? 2 : 1;
    constexpr int kThreads = kWarps * 32;
    constexpr int kRowsX = 8 * kNTiles;
    constexpr size_t kTableBytes = pair_table_bytes<kBits>();
    extern __shared__ uint32_t tables[];  // kParts tables of kTableBytes
    __shared__ float partial[kParts][kWarps][kRowsX][lp::kTileRows];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane / 4, t = lane % 4;
    const int64_t up_tiles = kSwiglu ? p.n / 2 / lp::kTileRows : 0;
    const auto tile_of = [&](int part) { return static_cast<int64_t>(blockIdx.x) + part * up_tiles; };
    const int64_t units = lp::units(p.k);
    const int64_t unit_words = lp::unit_words(kBits);
    const int64_t count = units > warp ? (units - warp + kWarps - 1) / kWarps : 0;  // units per part
    const int64_t stream = kParts * count;
    const auto part_of = [&](int64_t i) { return kSwiglu && i >= count ? 1 : 0; };
    const auto unit_of = [&](int64_t i) { return warp + (i - part_of(i) * count) * kWarps; };
    const int32_t* lane_codes = p.packed + lane * 4;
    const auto fetch = [&](int64_t i, uint4(&slot)[kBits]) {
        if (i < stream) {
            const uint4* src =
                reinterpret_cast<const uint4*>(lane_codes + (tile_of(part_of(i)) * units + unit_of(i)) * unit_words);
#pragma unroll
            for (int s = 0; s < kBits; ++s) slot[s] = __ldcs(src + s * 32);
        }
    };

    if (!p.weights_settled) wait_for_previous_grid();
    uint4 buf[kDepth][kBits];
#pragma unroll
    for (int d = 0; d < kDepth; ++d) fetch(d, buf[d]);
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
        build_pair_table<kBits, kThreads>(tables + part * (kTableBytes / 4), static_cast<const __half*>(p.lut),
                                          tile_of(part) * lp::kTileRows, p.n);
    }
    __syncthreads();
    if (p.weights_settled) wait_for_previous_grid();
    allow_next_grid();

    // This lane's rows of x (8j + g, clamped to M − 1: the columns of C past M are never stored) at
    // input 8t of each 32-input block.
    const __half* x = static_cast<const __half*>(p.x);
    const __half* x_lane[kNTiles];
#pragma unroll
    for (int j = 0; j < kNTiles; ++j)
        x_lane[j] = x + static_cast<int64_t>(min(8 * j + g, static_cast<int>(p.m) - 1)) * p.k + 8 * t;
    const uint32_t slot0 = 4u * static_cast<uint32_t>(lane), slot1 = slot0 + 128u;
    const char* table_base = reinterpret_cast<const char*>(tables);
    const int k_total = static_cast<int>(p.k);  // < 2^31 (checked by the op)

    float c[kParts][kNTiles][4] = {};
    for (int64_t i0 = 0; i0 < stream; i0 += kDepth) {
#pragma unroll
        for (int d = 0; d < kDepth; ++d) {
            const int64_t i = i0 + d;
            if (i >= stream) break;
            const int part = part_of(i);
            const char* table = table_base + part * kTableBytes;
            const int k_unit = static_cast<int>(unit_of(i)) * static_cast<int>(lp::kUnitK);
            uint32_t w[4 * kBits];
            unpack_slabs<kBits>(buf[d], w);
            fetch(i + kDepth, buf[d]);
            // Inputs past K (the padded last unit) have codes 0 and x 0: they add 0 · lut[0].
#pragma unroll
            for (int pp = 0; pp < 8; ++pp) {
                uint4 xv[kNTiles];
                const bool inside = k_unit + 32 * pp < k_total;
#pragma unroll
                for (int j = 0; j < kNTiles; ++j) {
                    xv[j] = inside ? __ldg(reinterpret_cast<const uint4*>(x_lane[j] + k_unit + 32 * pp))
                                   : make_uint4(0u, 0u, 0u, 0u);
                }
#pragma unroll
                for (int u = 0; u < 2; ++u) {
                    const int j0 = 4 * pp + 2 * u;
                    uint32_t a[4];
                    a[0] = pair_table_word(table, pair_table_address<kBits>(w, 0, j0, slot0));
                    a[1] = pair_table_word(table, pair_table_address<kBits>(w, 1, j0, slot1));
                    a[2] = pair_table_word(table, pair_table_address<kBits>(w, 0, j0 + 1, slot0));
                    a[3] = pair_table_word(table, pair_table_address<kBits>(w, 1, j0 + 1, slot1));
#pragma unroll
                    for (int j = 0; j < kNTiles; ++j) {
                        const uint32_t b0 = u == 0 ? xv[j].x : xv[j].z, b1 = u == 0 ? xv[j].y : xv[j].w;
                        if (part == 0) {
                            mma_w_by_x(c[0][j], a, b0, b1);
                        } else {
                            mma_w_by_x(c[kParts - 1][j], a, b0, b1);
                        }
                    }
                }
            }
        }
    }
    // C fragment: c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1], C[W row][x row].
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
#pragma unroll
        for (int j = 0; j < kNTiles; ++j) {
            partial[part][warp][8 * j + 2 * t][g] = c[part][j][0];
            partial[part][warp][8 * j + 2 * t + 1][g] = c[part][j][1];
            partial[part][warp][8 * j + 2 * t][g + 8] = c[part][j][2];
            partial[part][warp][8 * j + 2 * t + 1][g + 8] = c[part][j][3];
        }
    }
    __syncthreads();
    const auto row_sum = [&](int part, int m, int r, int64_t n) {
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) sum += partial[part][w][m][r];
        if (p.bias_dtype != GemvBias::none) sum += gemv_bias_value(p.bias, p.bias_dtype, n);
        return sum;
    };
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * lp::kTileRows;
    const int64_t columns = kSwiglu ? p.n / 2 : p.n;  // out's row length
    for (int index = threadIdx.x; index < kRowsX * lp::kTileRows; index += kThreads) {
        const int m = index / lp::kTileRows, r = index % lp::kTileRows;
        const int64_t n = n0 + r;
        if (m >= p.m || n >= columns) continue;
        __half* at = static_cast<__half*>(p.out) + m * columns + n;
        if constexpr (kSwiglu) {
            // g and u as sn_lut_matmul would have stored them, then sn_swiglu's formula.
            const float gate = __half2float(__float2half_rn(row_sum(0, m, r, n)));
            const float up = __half2float(__float2half_rn(row_sum(kParts - 1, m, r, columns + n)));
            *at = __float2half_rn(silu_of(gate) * up);
        } else {
            float sum = row_sum(0, m, r, n);
            if (p.accumulate) sum += __half2float(*at);
            *at = __float2half_rn(sum);
        }
    }
}

template <int kBits, int kNTiles, int kWarps, int kDepth, bool kSwiglu>
cudaError_t launch(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    auto* const kernel = lut_pair_gemv_kernel<kBits, kNTiles, kWarps, kDepth, kSwiglu>;
    const size_t shared = (kSwiglu ? 2 : 1) * pair_table_bytes<kBits>();
    // Above 48 KiB of dynamic shared memory needs the opt-in, once per kernel (a host setting).
    static const cudaError_t configured =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
    if (configured != cudaSuccess) return configured;
    const int64_t blocks = kSwiglu ? p.n / 2 / lp::kTileRows : lp::tiles(p.n);
    return launch_chained(stream, programmatic_launch, kernel, dim3(static_cast<unsigned>(blocks)), dim3(kWarps * 32),
                          shared, p);
}

template <int kBits, int kNTiles, int kWarps, bool kSwiglu>
cudaError_t launch_depth(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if (p.stages == 0 || p.stages == 2)
        return launch<kBits, kNTiles, kWarps, 2, kSwiglu>(p, stream, programmatic_launch);
    if (p.stages == 3) return launch<kBits, kNTiles, kWarps, 3, kSwiglu>(p, stream, programmatic_launch);
    if (p.stages == 4) return launch<kBits, kNTiles, kWarps, 4, kSwiglu>(p, stream, programmatic_launch);
    return cudaErrorInvalidValue;
}

template <int kBits, int kNTiles, bool kSwiglu>
cudaError_t launch_warps(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if (p.warps == 0 || p.warps == 8) return launch_depth<kBits, kNTiles, 8, kSwiglu>(p, stream, programmatic_launch);
    if (p.warps == 4) return launch_depth<kBits, kNTiles, 4, kSwiglu>(p, stream, programmatic_launch);
    return cudaErrorInvalidValue;
}

template <int kBits>
cudaError_t launch_bits(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if (p.swiglu) return launch_warps<kBits, 1, true>(p, stream, programmatic_launch);
    if (p.m <= 8) return launch_warps<kBits, 1, false>(p, stream, programmatic_launch);
    if (p.m <= 16) return launch_warps<kBits, 2, false>(p, stream, programmatic_launch);
    return launch_warps<kBits, 4, false>(p, stream, programmatic_launch);
}

// One block of 32 threads per (tile, unit); thread = lane, building its 4·bits words from its 64
// pairs (lp::pair_input walks them; word indices depend only on the pair number, so the unrolled
// loop keeps `words` in registers).
template <int kBits>
__global__ void lut_pair_repack_kernel(const int32_t* qweight, int32_t* packed, int64_t n_total, int64_t k_total) {
    const int lane = threadIdx.x;
    const int64_t units = lp::units(k_total);
    const int64_t tile = blockIdx.x / units, unit = blockIdx.x % units;
    uint32_t words[4 * kBits] = {};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int j = 0; j < lp::kLanePairs; ++j) {
            int r, kk;
            lp::pair_input(lane, h, j, &r, &kk);
            const int64_t n = tile * lp::kTileRows + r, k = unit * lp::kUnitK + kk;
            const bool live = n < n_total && k < k_total;  // k even, k_total % 32 == 0: k + 1 too
            const uint32_t first = live ? checkpoint_code(qweight, n_total, n, k, kBits) : 0u;
            const uint32_t second = live ? checkpoint_code(qweight, n_total, n, k + 1, kBits) : 0u;
            lp::put_pair(words, kBits, h, j, first | (second << kBits));
        }
    }
    int32_t* out = packed + (tile * units + unit) * lp::unit_words(kBits);
#pragma unroll
    for (int w = 0; w < 4 * kBits; ++w) out[lp::lane_word(lane, w)] = static_cast<int32_t>(words[w]);
}

}  // namespace

cudaError_t launch_lut_pair_gemv(const LutGemvProblem& problem, cudaStream_t stream, bool programmatic_launch) {
    if (problem.m < 1 || problem.n < 1 || problem.k < 32 || problem.k % 32 != 0 || problem.rows != nullptr ||
        (problem.bits != 3 && problem.bits != 4) || !lut_gemv_fits(problem.x, problem.lut)) {
        return cudaErrorInvalidValue;
    }
    if (problem.swiglu && !lut_gemv_swiglu_fits(problem.m, problem.n, false)) return cudaErrorInvalidValue;
    if (lp::tiles(problem.n) > 0x7FFFFFFF) return cudaErrorInvalidValue;
    LutGemvProblem slice = problem;
    const int64_t out_columns = problem.swiglu ? problem.n / 2 : problem.n;
    for (int64_t m0 = 0; m0 < problem.m; m0 += kLutPairGemvMaxRows) {
        slice.m = std::min(kLutPairGemvMaxRows, problem.m - m0);
        slice.x = static_cast<const __half*>(problem.x) + m0 * problem.k;
        slice.out = static_cast<__half*>(problem.out) + m0 * out_columns;
        const cudaError_t status = problem.bits == 3 ? launch_bits<3>(slice, stream, programmatic_launch)
                                                     : launch_bits<4>(slice, stream, programmatic_launch);
        if (status != cudaSuccess) return status;
    }
    return cudaSuccess;
}

cudaError_t launch_lut_pair_repack(const int32_t* qweight, int32_t* packed, int64_t n, int64_t k, int bits,
                                   cudaStream_t stream) {
    const int64_t blocks = lp::tiles(n) * lp::units(k);
    if (blocks == 0) return cudaSuccess;
    if (blocks > 0x7FFFFFFF || k % 32 != 0) return cudaErrorInvalidValue;
    if (bits == 3) {
        lut_pair_repack_kernel<3><<<static_cast<unsigned>(blocks), 32, 0, stream>>>(qweight, packed, n, k);
    } else if (bits == 4) {
        lut_pair_repack_kernel<4><<<static_cast<unsigned>(blocks), 32, 0, stream>>>(qweight, packed, n, k);
    } else {
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

}  // namespace sn::cuda
