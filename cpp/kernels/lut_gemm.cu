// LUT-GEMM: dense SqueezeLLM-quantized products of many rows of x (prefill, M from
// kLutGemmMinRows on): out[M, N] (+)= x[M, K] · Wᵀ (+ bias), W[n, k] = lut[n, code(n, k)], F16 x,
// LUT and out, F32 accumulation, decoded and multiplied on the tensor cores in one pass.
//
// Why not the GEMV or dequantize-then-cuBLAS. The GEMV (kernels/lut_gemv.cu) gives each block one
// 16-row tile and re-reads x for it from L2: fine for 32 rows of x, but at M = 128 an 11008-row
// weight would pull 688 × 1 MB of x through L2, and it is launched once per 32 rows. Dequantizing
// W to F16 and calling cuBLAS writes and re-reads the whole F16 weight (2·N·K bytes, 5.3× the
// 3-bit codes): slower than cuBLAS on an F16 weight by construction. Here each weight is decoded
// once per 64 rows of x, in registers (kernels/lut_decode.cuh), straight into mma A fragments,
// and x is shared by the 8 tiles of a block through shared memory.
//
// Blocks. Block (bx, by, bz) has 8 warps; warp w owns tile 8·bx + w (W rows 16·(8bx + w) ..
// +15), the block rows 64·by .. 64·by + 63 of x (kNTiles n-tiles of 8 rows), and the K units
// (256 inputs) of split bz: [bz·U, bz·U + U). Splits (split-K) are only taken where tiles × row
// blocks alone leave SMs idle or a last wave mostly empty (lut_gemm_splits); their F32 partials go
// to a workspace and lut_gemm_reduce_kernel sums them in split order (deterministic), adds the
// bias and out (accumulate) and rounds to F16. With one split the epilogue does that itself.
//
// Pipeline. kStages stages in shared memory, each holding one unit for the whole block: x of the
// block's rows for the unit's 256 inputs, and each warp's codes of that unit. Stage s+kStages−1
// is requested (cp.async, one commit group per stage) while stage s is multiplied; one block
// barrier per unit makes the stage's x visible to every warp and frees the oldest stage.
//
// Shared-memory layout of a stage (16-byte pieces):
//
//   x:     piece (j·8 + p)·32 + L,  j = n-tile (0 .. kNTiles−1), p = mma pair (0..7), L = 4g + t:
//          x[row 64·by + 8j + g][inputs 32p + 8t .. 32p + 8t + 7 of the unit]
//          = exactly lane L's B fragments of mmas 2p (halves 0..3) and 2p + 1 (halves 4..7) for
//          n-tile j (src/lut_layout.h: "Which k a lane covers"), so a warp reads a pair's B
//          fragments of one n-tile as 512 contiguous bytes (one conflict-free 16-byte load per
//          lane), and thread T of the block copies pieces T + 256·j: warp w copies pair w.
//   codes: after x, piece kNTiles·256 + (w·bits + i)·32 + L = 16-byte load i of lane L of warp w's
//          tile for the unit (the tiled layout's own order: three or four 512-byte blocks).
//
//   stage bytes = kNTiles·4 KiB + 8·bits·512 (8 n-tiles, 3 bits: 44 KiB; 2 stages: 2 blocks/SM).
//
// Rows of x past M and inputs past K are zero-filled by the copies (cp.async with source size 0),
// and codes past K are 0 in the tiled layout, so padding adds 0 · lut[0] = 0.
#include "kernels/lut_gemv.h"

#include "kernels/chained_launch.h"
#include "kernels/common.cuh"
#include "kernels/lut_decode.cuh"
#include "lut_layout.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

namespace sn::cuda {
namespace {

constexpr int kGemmWarps = 8;  // tiles per block
constexpr int kGemmThreads = kGemmWarps * 32;

struct LutGemmLaunch {
    LutGemvProblem p;
    float* partials;  // [splits][m][n] F32 when splits > 1
    int64_t units_per_split;
    int splits;
};

template <int kBits, int kNTiles>
constexpr size_t gemm_stage_bytes() {
    return static_cast<size_t>(kNTiles * 8 * 32 + kGemmWarps * kBits * 32) * sizeof(uint4);
}

// 16 bytes into shared memory through L2 only (x is shared by the block through shared memory,
// and the codes are re-read by the other row blocks from L2), or 16 zero bytes when !inside.
__device__ __forceinline__ void copy_16_zero_filled(uint4* shared_slot, const void* address, bool inside) {
    const uint32_t slot = static_cast<uint32_t>(__cvta_generic_to_shared(shared_slot));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(slot), "l"(address), "r"(inside ? 16 : 0)
                 : "memory");
}

template <int kBits, int kNTiles, int kStages>
__global__ void __launch_bounds__(kGemmThreads, kStages == 2 && kNTiles <= 8 ? 2 : 1)
    lut_gemm_kernel(const LutGemmLaunch launch) {
    const LutGemvProblem& p = launch.p;
    constexpr int kXPieces = kNTiles * 8 * 32;
    constexpr int kStagePieces = kXPieces + kGemmWarps * kBits * 32;
    constexpr int kRowsX = 8 * kNTiles;
    extern __shared__ uint4 stage_memory[];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane / 4, t = lane % 4;
    const int64_t tile = static_cast<int64_t>(blockIdx.x) * kGemmWarps + warp;
    const bool live = tile < lut::tiles(p.n);  // warps past N still copy x and meet the barriers
    const int64_t n0 = tile * lut::kTileRows;
    const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kRowsX;
    const int64_t units = lut::units(p.k);
    const int64_t unit_begin = static_cast<int64_t>(blockIdx.z) * launch.units_per_split;
    const int64_t unit_end = unit_begin + launch.units_per_split < units ? unit_begin + launch.units_per_split : units;
    const int64_t count = unit_end - unit_begin;  // >= 1 (the host leaves no split empty)
    const int32_t* lane_codes =
        p.packed + (tile * units + unit_begin) * lut::unit_words(kBits) + lane * 4;  // read only when live
    const __half* x = static_cast<const __half*>(p.x);
    const __half* lut_rows = static_cast<const __half*>(p.lut);

    auto stage = [&](int64_t i) { return stage_memory + (i % kStages) * kStagePieces; };
    // Codes of the i-th unit of the split (this warp's tile) into its stage: weights, so they may
    // be requested before the wait when settled.
    auto fetch_codes = [&](int64_t i) {
        if (live && i < count) {
            uint4* slot = stage(i) + kXPieces + warp * kBits * 32 + lane;
            const int32_t* codes = lane_codes + i * lut::unit_words(kBits);
#pragma unroll
            for (int j = 0; j < kBits; ++j) copy_16_zero_filled(slot + j * 32, codes + j * 32 * 4, true);
        }
    };
    // x of the i-th unit for the block's rows: thread T copies pieces T + 256·j (pair = warp).
    auto fetch_x = [&](int64_t i) {
        if (i < count) {
            uint4* slot = stage(i) + threadIdx.x;
            const int64_t k = (unit_begin + i) * lut::kUnitK + 32 * warp + 8 * t;
#pragma unroll
            for (int j = 0; j < kNTiles; ++j) {
                const int64_t row = m0 + 8 * j + g;
                const bool inside = row < p.m && k < p.k;
                copy_16_zero_filled(slot + j * 256, x + (inside ? row * p.k + k : 0), inside);
            }
        }
    };

    if (!p.weights_settled) wait_for_previous_grid();
    uint4 table_g[RowTable<kBits>::kRegisters / 2], table_g8[RowTable<kBits>::kRegisters / 2];
    RowTable<kBits>::fetch(lut_rows + (n0 + g) * (1 << kBits), live && n0 + g < p.n, table_g);
    RowTable<kBits>::fetch(lut_rows + (n0 + g + 8) * (1 << kBits), live && n0 + g + 8 < p.n, table_g8);
#pragma unroll
    for (int i = 0; i < kStages - 1; ++i) fetch_codes(i);
    RowTable<kBits> row_g, row_g8;
    row_g.build(table_g);
    row_g8.build(table_g8);
    if (p.weights_settled) wait_for_previous_grid();
    allow_next_grid();
    // One commit group per prologue stage (the codes requested above join the first: harmless,
    // stage i's data is complete once group i is).
#pragma unroll
    for (int i = 0; i < kStages - 1; ++i) {
        fetch_x(i);
        commit_copies();
    }

    float c[kNTiles][4] = {};
    for (int64_t i = 0; i < count; ++i) {
        // Groups so far: kStages − 1 (prologue) + i (one per turn); unit i's is complete when at
        // most kStages − 2 newer ones are pending. The barrier publishes every thread's copies of
        // it and tells that every warp is done with the stage refilled next (turn i − 1's).
        wait_copies<kStages - 2>();
        __syncthreads();
        fetch_codes(i + kStages - 1);
        fetch_x(i + kStages - 1);
        commit_copies();
        if (!live) continue;
        const uint4* slot = stage(i);
        uint32_t words[4 * kBits];
        load_lane_words<kBits>(slot + kXPieces + warp * kBits * 32 + lane, words);
#pragma unroll
        for (int pair = 0; pair < 8; ++pair) {
            // Both halves' B fragments of every n-tile at once (one 16-byte load each).
            uint4 b[kNTiles];
#pragma unroll
            for (int j = 0; j < kNTiles; ++j) b[j] = slot[(j * 8 + pair) * 32 + lane];
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                uint32_t a[4];
                decode_fragment<kBits>(words, 2 * pair + half, row_g, row_g8, a);
#pragma unroll
                for (int j = 0; j < kNTiles; ++j) {
                    mma_w_by_x(c[j], a, half == 0 ? b[j].x : b[j].z, half == 0 ? b[j].y : b[j].w);
                }
            }
        }
    }
    if (!live) return;
        // C fragment of n-tile j: c0 = C[W row g][x row 2t], c1 = [g][2t + 1], c2 = [g + 8][2t],
        // c3 = [g + 8][2t + 1].
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            const int64_t m = m0 + 8 * j + 2 * t + (r & 1), n = n0 + g + 8 * (r >> 1);
            if (m >= p.m || n >= p.n) continue;
            if (launch.splits > 1) {
                launch.partials[(static_cast<int64_t>(blockIdx.z) * p.m + m) * p.n + n] = c[j][r];
            } else {
                __half* at = static_cast<__half*>(p.out) + m * p.n + n;
                float sum = c[j][r];
                if (p.bias_dtype != GemvBias::none) sum += gemv_bias_value(p.bias, p.bias_dtype, n);
                if (p.accumulate) sum += __half2float(*at);
                *at = __float2half_rn(sum);
            }
        }
    }
}

// out[m, n] = Σ_s partials[s][m][n] (in split order) + bias (+ out): the splits' F32 sums, as
// the one-split epilogue would have formed them.
__global__ void __launch_bounds__(256) lut_gemm_reduce_kernel(const LutGemmLaunch launch) {
    const LutGemvProblem& p = launch.p;
    wait_for_previous_grid();
    const int64_t total = p.m * p.n;
    for (int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; index < total;
         index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        float sum = 0.0f;
        for (int s = 0; s < launch.splits; ++s) sum += launch.partials[s * total + index];
        if (p.bias_dtype != GemvBias::none) sum += gemv_bias_value(p.bias, p.bias_dtype, index % p.n);
        __half* at = static_cast<__half*>(p.out) + index;
        if (p.accumulate) sum += __half2float(*at);
        *at = __float2half_rn(sum);
    }
}

template <class Kernel>
cudaError_t allow_dynamic_shared(Kernel kernel, size_t bytes) {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

// Splits of K for a grid of `blocks` (tiles × row blocks) on `slots` resident blocks: the count
// with the fewest whole-K block times, waves(s) / s, plus a small charge per split for the
// partials' round trip and the reduce launch; at most 8, at least 2 units per split, and only as
// many as the workspace holds partials for.
int lut_gemm_splits(int64_t blocks, int64_t slots, int64_t units, int64_t m, int64_t n, size_t workspace_bytes) {
    int best = 1;
    double best_cost = std::ceil(static_cast<double>(blocks) / static_cast<double>(slots));
    for (int s = 2; s <= 8 && units >= 2 * s; ++s) {
        if (static_cast<size_t>(s) * static_cast<size_t>(m * n) * sizeof(float) > workspace_bytes) break;
        const double waves = std::ceil(static_cast<double>(blocks * s) / static_cast<double>(slots));
        const double cost = waves / s + 0.1 + 0.02 * s;
        if (cost < best_cost) {
            best_cost = cost;
            best = s;
        }
    }
    return best;
}

template <int kBits, int kNTiles, int kStages>
cudaError_t launch_gemm(const LutGemvProblem& p, float* workspace, size_t workspace_bytes, cudaStream_t stream,
                        bool programmatic_launch) {
    auto* const kernel = lut_gemm_kernel<kBits, kNTiles, kStages>;
    const size_t shared_bytes = kStages * gemm_stage_bytes<kBits, kNTiles>();
    static const cudaError_t configured = allow_dynamic_shared(kernel, shared_bytes);
    if (configured != cudaSuccess) return configured;
    // Resident blocks per SM: a property of the kernel and the architecture, asked once (as the
    // shared-memory opt-in above), not at every launch.
    static int per_sm = 0;
    static const cudaError_t occupancy =
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kGemmThreads, shared_bytes);
    if (occupancy != cudaSuccess) return occupancy;
    if (per_sm < 1) return cudaErrorInvalidConfiguration;
    int device = 0, sms = 0;
    cudaError_t status = cudaGetDevice(&device);
    if (status == cudaSuccess) status = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (status != cudaSuccess) return status;
    const int64_t tile_blocks = (lut::tiles(p.n) + kGemmWarps - 1) / kGemmWarps;
    const int64_t row_blocks = (p.m + 8 * kNTiles - 1) / (8 * kNTiles);
    const int64_t units = lut::units(p.k);
    if (tile_blocks > 0x7FFFFFFF || row_blocks > 65535) return cudaErrorInvalidValue;
    LutGemmLaunch launch{};
    launch.p = p;
    launch.partials = workspace;
    int splits = p.gemm_splits != 0 ? p.gemm_splits
                                    : lut_gemm_splits(tile_blocks * row_blocks, static_cast<int64_t>(sms) * per_sm,
                                                      units, p.m, p.n, workspace_bytes);
    splits = static_cast<int>(std::clamp<int64_t>(splits, 1, units));
    launch.units_per_split = (units + splits - 1) / splits;
    launch.splits = static_cast<int>((units + launch.units_per_split - 1) / launch.units_per_split);  // none empty
    if (launch.splits > 1 &&
        (workspace == nullptr ||
         static_cast<size_t>(launch.splits) * static_cast<size_t>(p.m * p.n) * sizeof(float) > workspace_bytes)) {
        return cudaErrorInvalidValue;
    }
    const dim3 grid(static_cast<unsigned>(tile_blocks), static_cast<unsigned>(row_blocks),
                    static_cast<unsigned>(launch.splits));
    status = launch_chained(stream, programmatic_launch, kernel, grid, dim3(kGemmThreads), shared_bytes, launch);
    if (status != cudaSuccess || launch.splits == 1) return status;
    const int64_t reduce_blocks = std::min<int64_t>((p.m * p.n + 255) / 256, static_cast<int64_t>(sms) * 8);
    return launch_chained(stream, programmatic_launch, lut_gemm_reduce_kernel,
                          dim3(static_cast<unsigned>(reduce_blocks)), dim3(256), 0, launch);
}

template <int kBits, int kNTiles>
cudaError_t launch_gemm_stages(const LutGemvProblem& p, float* workspace, size_t workspace_bytes, cudaStream_t stream,
                               bool programmatic_launch) {
    // 2 stages (2 blocks of 8 warps per SM) unless a benchmark asks for 3 (1 block per SM).
    if (p.gemm_stages == 0 || p.gemm_stages == 2) {
        return launch_gemm<kBits, kNTiles, 2>(p, workspace, workspace_bytes, stream, programmatic_launch);
    }
    if (p.gemm_stages == 3) {
        return launch_gemm<kBits, kNTiles, 3>(p, workspace, workspace_bytes, stream, programmatic_launch);
    }
    return cudaErrorInvalidValue;
}

template <int kBits>
cudaError_t launch_gemm_rows(const LutGemvProblem& p, float* workspace, size_t workspace_bytes, cudaStream_t stream,
                             bool programmatic_launch) {
    // Row blocks of 64 rows of x (8 n-tiles), fewer for small M. Blocks of 128 rows (16 n-tiles,
    // 180 registers, 1 block per SM) decode each weight half as often but measured 2-18 % slower at
    // M = 128 on an H100 (docs/results/bench-lut-h100-gemm-128rows.txt), so they were dropped.
    if (p.m <= 16) return launch_gemm_stages<kBits, 2>(p, workspace, workspace_bytes, stream, programmatic_launch);
    if (p.m <= 32) return launch_gemm_stages<kBits, 4>(p, workspace, workspace_bytes, stream, programmatic_launch);
    return launch_gemm_stages<kBits, 8>(p, workspace, workspace_bytes, stream, programmatic_launch);
}

}  // namespace

cudaError_t launch_lut_gemm(const LutGemvProblem& problem, float* workspace, size_t workspace_bytes,
                            cudaStream_t stream, bool programmatic_launch) {
    if (problem.m < 1 || problem.k % 32 != 0 || problem.rows != nullptr || problem.swiglu) return cudaErrorInvalidValue;
    if (problem.bits == 3) return launch_gemm_rows<3>(problem, workspace, workspace_bytes, stream, programmatic_launch);
    if (problem.bits == 4) return launch_gemm_rows<4>(problem, workspace, workspace_bytes, stream, programmatic_launch);
    return cudaErrorInvalidValue;
}

LutProductPath lut_product_path(const LutGemvProblem& problem, size_t dequant_bytes) {
    const bool dense = problem.rows == nullptr && !problem.swiglu;
    const bool gemm_rows = problem.m >= kLutGemmMinRows && problem.m <= kLutGemmMaxRows;
    if (dense && (problem.path == 1 || (problem.path == 0 && gemm_rows))) return LutProductPath::gemm;
    const bool prefill_fits = dequant_bytes >= static_cast<size_t>(problem.k) * 2 * lut::kTileRows;
    return problem.m >= kLutPrefillMinRows && prefill_fits ? LutProductPath::prefill : LutProductPath::gemv;
}

}  // namespace sn::cuda
