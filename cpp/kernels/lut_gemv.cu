// LUT-GEMV for SqueezeLLM-quantized linears at small M (decode): out[M, N] (+)= x[M, K] · Wᵀ
// (+ bias), W[n, k] = lut[n, code(n, k)] + sparse part; F16 x, LUT and out; F32 accumulation.
//
// At M = 1 the product is one pass over the codes (N·K·bits/8 bytes): a 3-bit 11008×4096 weight
// is 16.9 MB, 5.6 µs at 3 TB/s, which leaves about 5 instructions per weight for the whole GPU.
// A shared-memory table lookup per weight (the reference kernel's way) alone needs more issue
// slots than that; so this kernel looks codes up in registers and multiplies on the tensor cores:
//
// Lookup and multiply: kernels/lut_decode.cuh (shared with the LUT-GEMM of kernels/lut_gemm.cu).
//
// Blocks and warps. Block b owns tile b (W rows 16b .. 16b+15); its warps (4, or 8 from K = 8192
// up; 4 for one row of x, which travels in shared memory: kXPath below) split the K units (256
// inputs) round-robin. Each warp streams its units' codes through a ring of kStages slots (4, or 8
// when a warp has more than 4 units and up to 8 rows of x) in shared memory with cp.async (each
// lane copies the 16-byte pieces it will decode itself, so no barrier is needed): the first
// kStages units are requested up front (at K = 4096 that is all of them) and a slot takes the unit
// kStages further on as soon as it is decoded, so kStages units are in flight while one is
// decoded, without holding registers for them (an earlier version double-buffered in registers:
// 121 registers, 16 warps per SM, 35-48 % of copy bandwidth; one that requested only kStages − 1
// units up front left a K = 4096 warp's last unit to a second round trip). Codes skip L1 and carry
// an L2 evict-first hint (read once); x goes through L1 (every block re-reads it). At the end each
// warp's C goes to shared memory and the block sums the warps in a fixed order (deterministic).
//
// Sparse part (the dense-and-sparse split's outliers, ~0.05-0.45 % of weights, CSR over rows): a
// kernel of its own just before the dense one, balanced by entries whatever the rows' counts (real
// outlier rows are skewed: some hold 10-50x the mean), its sums added in the dense kernel's
// epilogue (lut_sparse_kernel below). sn_bench_cuda --lut and `squeeze bench kernels` measure it
// on such a skewed pattern.
//
// Ordering: programmatic dependent launch as in kernels/gemv.cu, but the next grid is released at
// the start (after the prologue), so that it fills this grid's tail. The wait comes before the
// first load, or, when the op knows the kernel before did not write the weights
// (LutGemvProblem::weights_settled), after the LUT rows, the first kStages units of codes and the
// sparse part's row pointers have been requested: x, out and the bias (not
// constant weights: a caller may compute them) are only read after it.
#include "kernels/lut_gemv.h"

#include "kernels/activation.cuh"
#include "kernels/common.cuh"  // warp_sum, report_bad_value
#include "kernels/cublas_linear.h"
#include "kernels/lut_checkpoint.cuh"
#include "kernels/lut_decode.cuh"
#include "lut_layout.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

namespace sn::cuda {
namespace {

// The sparse part, Σ vals·x[m, col] over each row's CSR entries: its own kernel, balanced by
// entries rather than rows (real outlier rows are skewed, some holding 10-50x the mean, and a
// block per tile of rows would wait on its heaviest row), run just before the dense kernel:
//
//   warp w of lut_sparse_kernel takes entries [wE, wE + E), E = kSparseWarpEntries, lane l the
//   entries wE + 32j + l (j < kSparseLaneEntries, coalesced); the rows of its first and last
//   entries come from 32-ary searches of the row pointers (three steps at N = 22016), each
//   entry's row from a binary search between those two;
//   per row m of x and round j: a segmented inclusive scan over the lanes (adding only across
//   lanes of one row) leaves each run's sum in its last lane; a run that reaches lane 31 is carried
//   into the next round (a row spans rounds), so each of the warp's rows gets one sum;
//   that sum goes to head[m][w] when the row is the warp's first, else to tail[m][w] when it is
//   its last, else (the row lies wholly in the warp) to row_sums[m][row]:
//
//     entries   ...|----- warp w-1 -----|----- warp w ------|----- warp w+1 -----|...
//     rows         ...  a  a |b b b b b b|b b c c d d d e e e|e e e e e e e e e e|e  f ...
//                              tail[w-1] = b's part         head[w+1] = e's part
//                            head[w] = b's part, row_sums[c], row_sums[d], tail[w] = e's part
//
//   the dense kernel's epilogue adds to row n (entries [b, e)) the parts of warps w0 = b / E ..
//   w1 = (e − 1) / E, in warp order: w0's (head if w0 starts at b, else tail if w0 ends within the
//   row, else row_sums: the row lies inside w0), then head[w] of each later one. Deterministic
//   (fixed order, no atomics), and no buffer to clear: rows without entries read nothing.
//
// The sums live in the context's scratch for the product (LutGemvProblem::sparse_sums). The
// sparse kernel releases the dense kernel before it waits: the dense kernel streams its codes
// while the sparse one runs. The row pointers, columns and values are weights, loaded before the
// wait when they are settled; only x and the sums wait.
constexpr int kSparseLaneEntries = 8;
constexpr int kSparseWarpEntries = 32 * kSparseLaneEntries;
constexpr int kSparseWarps = 4;  // per block of lut_sparse_kernel

__host__ __device__ constexpr int64_t sparse_warps(int64_t nnz) {
    return (nnz + kSparseWarpEntries - 1) / kSparseWarpEntries;
}

// Where the sparse kernel leaves its sums, for `rows_x` rows of x: row_sums [rows_x][n], then
// head and tail [rows_x][sparse_warps(nnz)].
struct SparseSums {
    float *row_sums, *head, *tail;
    int64_t warps;
};
__host__ __device__ inline SparseSums sparse_sums_of(const LutGemvProblem& p) {
    const int64_t warps = sparse_warps(p.nnz);
    float* head = p.sparse_sums + p.m * p.n;
    return SparseSums{p.sparse_sums, head, head + p.m * warps, warps};
}

// The rows holding entries e and f (the last r with rows[r] <= e, and the same for f), for the
// whole warp at once: each step probes 32 evenly spaced row pointers of each bracket, the two
// searches' loads in flight together (three steps at N = 22016). Stays within [0, n − 1] on bad
// pointers.
__device__ __forceinline__ void warp_rows_of_entries(const int32_t* rows, int64_t n, int64_t e, int64_t f, int lane,
                                                     int64_t& row_e, int64_t& row_f) {
    int64_t lo[2] = {0, 0}, hi[2] = {n, n};  // rows[lo] <= entry < rows[hi] (rows[0] = 0, rows[n] = nnz)
    const int64_t entry[2] = {e, f};
    while (hi[0] - lo[0] > 1 || hi[1] - lo[1] > 1) {
        int64_t step[2];
        bool below[2];
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            step[s] = (hi[s] - lo[s] + 31) / 32;
            const int64_t probe = lo[s] + lane * step[s];
            below[s] = hi[s] - lo[s] > 1 && probe < hi[s] && __ldg(rows + probe) <= entry[s];
        }
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            if (hi[s] - lo[s] <= 1) continue;  // uniform
            const unsigned mask = __ballot_sync(0xffffffffu, below[s]);
            if (mask == 0u) {  // bad row pointers (reported by the dense kernel): stop here
                hi[s] = lo[s] + 1;
                continue;
            }
            lo[s] += (31 - __clz(static_cast<int>(mask))) * step[s];
            hi[s] = lo[s] + step[s] < hi[s] ? lo[s] + step[s] : hi[s];
        }
    }
    row_e = lo[0];
    row_f = lo[1];
}

// Row pointers a warp of lut_sparse_kernel keeps in shared memory: rows[first .. first + span] for
// the rows its entries lie in, when they span fewer than this (else its lanes search the global
// pointers: only a warp whose 256 entries spread over more than 254 rows, i.e. mostly empty ones).
constexpr int kSparseWindow = 256;

__global__ void __launch_bounds__(kSparseWarps * 32) lut_sparse_kernel(const LutGemvProblem p) {
    __shared__ int32_t window_of[kSparseWarps][kSparseWindow];
    allow_next_grid();  // the dense kernel may start streaming its codes
    if (!p.weights_settled) wait_for_previous_grid();
    const int lane = threadIdx.x % 32;
    const int64_t w = static_cast<int64_t>(blockIdx.x) * kSparseWarps + threadIdx.x / 32;
    const SparseSums sums = sparse_sums_of(p);
    if (w >= sums.warps) return;  // the whole warp
    const int64_t e0 = w * kSparseWarpEntries;
    const int64_t e1 = e0 + kSparseWarpEntries < p.nnz ? e0 + kSparseWarpEntries : p.nnz;
    // The entries first (they depend on nothing), then the rows of the warp's first and last.
    const __half* vals = static_cast<const __half*>(p.vals);
    int32_t column[kSparseLaneEntries];
    __half value[kSparseLaneEntries];
#pragma unroll
    for (int j = 0; j < kSparseLaneEntries; ++j) {
        const int64_t e = e0 + 32 * j + lane;
        column[j] = e < e1 ? __ldg(p.cols + e) : 0;
        value[j] = e < e1 ? vals[e] : __float2half(0.0f);
    }
    int64_t first_row = 0, last_row = 0;
    warp_rows_of_entries(p.rows, p.n, e0, e1 - 1, lane, first_row, last_row);
    // Each entry's row: binary search of the row pointers between the two (in shared memory when
    // they fit the window).
    int32_t* window = window_of[threadIdx.x / 32];
    const int64_t span = last_row - first_row;  // pointers first_row + 1 .. last_row are searched
    const bool windowed = span < kSparseWindow;
    if (windowed) {
        for (int64_t i = lane; i < span; i += 32) window[i] = __ldg(p.rows + first_row + 1 + i);
        __syncwarp();
    }
    int32_t row[kSparseLaneEntries];  // < 2^31 (checked by the op); -1: no entry (never stored)
#pragma unroll
    for (int j = 0; j < kSparseLaneEntries; ++j) {
        const int64_t e = e0 + 32 * j + lane;
        // the number of pointers first_row + 1 .. last_row at or below e
        int64_t lo = 0, hi = span;
        while (lo < hi) {
            const int64_t mid = (lo + hi) / 2;
            const int32_t pointer = windowed ? window[mid] : __ldg(p.rows + first_row + 1 + mid);
            if (pointer <= e) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        row[j] = e < e1 ? static_cast<int32_t>(first_row + lo) : -1;
    }
    if (p.weights_settled) wait_for_previous_grid();
    const __half* x = static_cast<const __half*>(p.x);
    const auto emit = [&](int64_t m, int64_t r, float sum) {
        if (r == first_row) {
            sums.head[m * sums.warps + w] = sum;
        } else if (r == last_row) {
            sums.tail[m * sums.warps + w] = sum;
        } else {
            sums.row_sums[m * p.n + r] = sum;
        }
    };
#pragma unroll
    for (int j = 0; j < kSparseLaneEntries; ++j) {
        if (row[j] >= 0 && !(column[j] >= 0 && column[j] < p.k)) {
            report_bad_value(p.data_error, static_cast<OpId>(p.op), e0 + 32 * j + lane, column[j], p.k);  // skipped
            column[j] = -1;
        }
    }
    // x at the entries' columns for kGatherRows rows of x at a time (their loads in flight
    // together), then the sums of each row.
    constexpr int kGatherRows = 4;
    for (int64_t m0 = 0; m0 < p.m; m0 += kGatherRows) {
        float gathered[kGatherRows][kSparseLaneEntries];
#pragma unroll
        for (int i = 0; i < kGatherRows; ++i) {
#pragma unroll
            for (int j = 0; j < kSparseLaneEntries; ++j) {
                const bool live = m0 + i < p.m && row[j] >= 0 && column[j] >= 0;
                gathered[i][j] = live ? __half2float(x[(m0 + i) * p.k + column[j]]) : 0.0f;
            }
        }
#pragma unroll
        for (int i = 0; i < kGatherRows; ++i) {
            const int64_t m = m0 + i;
            if (m >= p.m) break;
            const float(&x_of)[kSparseLaneEntries] = gathered[i];
            int32_t carry_row = -1;  // the row of the run carried from the round before (uniform)
            float carry = 0.0f;
#pragma unroll
            for (int j = 0; j < kSparseLaneEntries; ++j) {
                if (e0 + 32 * j >= e1) break;  // uniform
                const int32_t r = row[j];
                float sum = __half2float(value[j]) * x_of[j];
#pragma unroll
                for (int offset = 1; offset < 32; offset *= 2) {
                    const float below = __shfl_up_sync(0xffffffffu, sum, offset);
                    const int32_t below_r = __shfl_up_sync(0xffffffffu, r, offset);
                    if (lane >= offset && below_r == r) sum += below;
                }
                const int32_t first_r = __shfl_sync(0xffffffffu, r, 0);
                if (carry_row >= 0 && first_r != carry_row && lane == 0)
                    emit(m, carry_row, carry);               // it ended with the round
                if (r >= 0 && r == carry_row) sum += carry;  // the carried row goes on in this round's first run
                const int32_t next_r = __shfl_down_sync(0xffffffffu, r, 1);
                if (r >= 0 && lane < 31 && next_r != r) emit(m, r, sum);
                // The run reaching lane 31 may go on in the next round: carry it.
                carry_row = __shfl_sync(0xffffffffu, r, 31);
                carry = __shfl_sync(0xffffffffu, sum, 31);
            }
            if (carry_row >= 0 && lane == 0) emit(m, carry_row, carry);
        }
    }
}

// The sparse sums of tile row r (tile_rows: the tile's 17 row pointers) for row m of x and output
// row n, in the order lut_sparse_kernel's layout fixes (above).
__device__ __forceinline__ float sparse_sum(const LutGemvProblem& p, const SparseSums& sums, const int32_t* tile_rows,
                                            int r, int64_t m, int64_t n) {
    const int64_t b = tile_rows[r], e = tile_rows[r + 1];
    if (!(e > b)) return 0.0f;
    const int64_t w0 = b / kSparseWarpEntries, w1 = (e - 1) / kSparseWarpEntries;
    const int64_t w0_end = (w0 + 1) * kSparseWarpEntries < p.nnz ? (w0 + 1) * kSparseWarpEntries : p.nnz;
    float sum = w0 * kSparseWarpEntries == b ? sums.head[m * sums.warps + w0]
                : w0_end <= e                ? sums.tail[m * sums.warps + w0]
                                             : sums.row_sums[m * p.n + n];
    // The later warps' heads 8 loads at a time (a 50x row spans a dozen warps), added in order.
    for (int64_t w = w0 + 1; w <= w1; w += 8) {
        float part[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) part[u] = w + u <= w1 ? sums.head[m * sums.warps + w + u] : 0.0f;
#pragma unroll
        for (int u = 0; u < 8; ++u) sum += part[u];
    }
    return sum;
}

// The fused sparse sum of tile row r (kernel doc at kFusedSparseRegs): the parts of chunks t0 .. t1
// in thread order. `tile_rows`: the tile's 17 row pointers (the last: the tile's end); chunks of
// `chunk` entries from `begin`.
__device__ __forceinline__ float fused_sparse_sum(const float* head, const float* tail, const float* whole,
                                                  const int32_t* tile_rows, int r, int64_t begin, int64_t chunk) {
    const int64_t b = tile_rows[r], e = tile_rows[r + 1];
    if (!(e > b)) return 0.0f;
    const int64_t t0 = (b - begin) / chunk, t1 = (e - 1 - begin) / chunk;
    const int64_t t0_begin = begin + t0 * chunk;
    const int64_t t0_end = t0_begin + chunk < tile_rows[lut::kTileRows] ? t0_begin + chunk : tile_rows[lut::kTileRows];
    float sum = t0_begin == b ? head[t0] : t0_end <= e ? tail[t0] : whole[r];
    for (int64_t t = t0 + 1; t <= t1; ++t) sum += head[t];
    return sum;
}

// Lane t <= 16: row pointer n0 + t of the tile (clamped to N).
__device__ __forceinline__ int32_t sparse_row_pointer(const LutGemvProblem& p, int64_t n0) {
    const int t = threadIdx.x % 32;
    return t <= lut::kTileRows ? __ldg(p.rows + (n0 + t < p.n ? n0 + t : p.n)) : 0;
}

// The tile's row pointers for the dense kernel's epilogue, and whether they are usable (in range
// and ordered; bad ones are reported and the tile's sparse part skipped).
struct SparseTile {
    int32_t row[lut::kTileRows + 1];  // rows[n0 .. n0 + 16] (clamped to N)
    bool usable;
};

// x of one unit for this lane: pairs 0..7 of rows 8j + g (zero past K or M).
template <int kNTiles>
__device__ __forceinline__ void load_x_unit(uint4 (&xv)[8][kNTiles], const __half* (&x_lane)[kNTiles],
                                            bool (&x_live)[kNTiles], int k_unit, int k_total) {
#pragma unroll
    for (int pair = 0; pair < 8; ++pair) {
        const bool inside = k_unit + 32 * pair < k_total;
#pragma unroll
        for (int j = 0; j < kNTiles; ++j) {
            xv[pair][j] = x_live[j] && inside ? __ldg(reinterpret_cast<const uint4*>(x_lane[j] + k_unit + 32 * pair))
                                              : make_uint4(0u, 0u, 0u, 0u);
        }
    }
}

// 16 bytes of x into shared memory, asynchronously, or zeros when `inside` is false (past K).
__device__ __forceinline__ void copy_x_async(uint4* shared_slot, const __half* address, bool inside) {
    const uint32_t slot = static_cast<uint32_t>(__cvta_generic_to_shared(shared_slot));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;" ::"r"(slot), "l"(address), "r"(inside ? 16 : 0)
                 : "memory");
}

#if defined(SN_LUT_TIMELINE)
__device__ __forceinline__ uint64_t probe_clock() {
    uint64_t t;
    asm volatile("mov.u64 %0, %%clock64;" : "=l"(t)::"memory");
    return t;
}
__device__ __forceinline__ uint64_t probe_globaltimer() {
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
    return t;
}
__device__ __forceinline__ uint32_t probe_smid() {
    uint32_t id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    return id;
}
// Lane 0 of each warp records event `slot` (kLutTimelineSlots, kernels/lut_gemv.h).
#define SN_LUT_MARK(slot, value)                                                                                    \
    do {                                                                                                            \
        if (p.timeline != nullptr && threadIdx.x % 32 == 0)                                                         \
            p.timeline[(blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32) * kLutTimelineSlots + (slot)] = (value); \
    } while (0)
#else
#define SN_LUT_MARK(slot, value) ((void)0)
#endif

// kSparse: whether the product has a sparse part, whose sums lut_sparse_kernel left in
// p.sparse_sums (the epilogue adds them; a separate instantiation, so that the dense-only kernel
// does not hold the row pointers).
//
// kXPath: where a lane finds its B fragments (x). XPath::registers (M > 1, or LutGemvProblem::x_path
// = 2): loaded from global memory (L1) into registers one unit ahead. For one row of x, shared
// memory, which frees the 64 registers that hold x (this unit's and the next) on the register path,
// what limits that kernel to 4 blocks of 4 warps per SM (127 registers); lanes g > 0 read row 0
// too (their C columns are copies, never stored). Two ways:
//   XPath::ring (the library's choice, measured): each ring slot holds, after the unit's codes, the
//   unit's 256 inputs of x (512 bytes, lane l copying inputs 8l .. 8l + 7) as one more cp.async.
//   Lanes read x other lanes copied, so the warp synchronises (__syncwarp) after each wait and
//   before a slot is refilled. Since a thread's copy groups complete in order and x may only be
//   requested after the wait, the first unit's wait covers every unit requested up front: a warp
//   decodes nothing until its first kStages units have all arrived (at K = 4096, its whole share).
//   XPath::shared (x_path = 3; not yet run on a GPU): after the wait the block copies all of x (K
//   inputs, zero-padded to whole units: 8 KB at K = 4096) behind the ring with plain loads and one
//   barrier, so each unit waits only for its own codes; its sparse part is fused (below).
//
// kSwiglu (sn_lut_matmul_swiglu, M <= 8): W [2I, K] stacks gate_proj's I rows over up_proj's and
// out is [M, I], I a multiple of 16. Block b owns output columns 16b .. 16b+15 and decodes two
// tiles, part 0 = gate tile b and part 1 = up tile b + I/16, as one stream of units per warp
// (the gate tile's units, then the up tile's, through the same ring: the up tile's first codes
// are in flight while the gate tile's last are decoded). Each part has its own row tables
// (loaded up front), accumulators and partials (dense products only: lut_gemv_swiglu_fits); the
// epilogue rounds g and u to F16 (what sn_lut_matmul would have stored) and writes silu(g)·u, so
// the result equals the product into [M, 2I] followed by sn_swiglu, without the intermediate and
// without the second launch.
// kSparse with XPath::shared (M = 1): the sparse part inside the dense kernel, since x is in shared
// memory anyway. The tile's CSR entries [b, e) (b = rows[n0], e = rows[n0 + 16]) are cut into
// contiguous chunks of c = ceil((e − b) / threads) entries, thread t taking [b + t·c, b + t·c + c);
// the first kFusedSparseRegs of each chunk are requested into registers before the dense loop (they
// are weights: before the wait when settled), the rest (tiles of more than threads·kFusedSparseRegs
// entries) are read in the epilogue. After the dense loop each thread multiplies its entries by x
// from shared memory and sums runs of one row; as in lut_sparse_kernel, a run goes to head[t] when
// its row is the chunk's first, else to tail[t] when it is the chunk's last, else (the row lies
// wholly in the chunk) to whole[r]:
//
//     entries   |-- chunk t-1 --|--- chunk t ---|-- chunk t+1 --|
//     rows      | a a a b b b b | b c c d d d e | e e e e e e e |
//                 head  tail=b's  head=b's      head = e's part
//                 [t-1] part      whole[c], whole[d], tail[t] = e's part
//
// and row r's sparse sum adds, in thread order, the parts of the chunks t0 .. t1 its entries lie
// in: t0's (head if its chunk starts at the row, else tail if it ends within the row, else whole),
// then head[t] of each later one. Deterministic, no atomics, no second kernel: the sparse part
// costs its bytes and the epilogue's few instructions instead of a chain of dependent loads ahead
// of the dense kernel (lut_sparse_kernel, which products of more rows still use).
constexpr int kFusedSparseRegs = 8;

enum class XPath { registers, ring, shared };

template <int kBits, int kNTiles, int kWarps, int kStages, bool kSparse, XPath kXPath, bool kSwiglu>
__global__ void __launch_bounds__(kWarps * 32) lut_gemv_kernel(const LutGemvProblem p) {
    constexpr bool kXRing = kXPath == XPath::ring, kXShared = kXPath == XPath::shared;
    static_assert(kXPath == XPath::registers || kNTiles == 1, "x in shared memory is the single-row path");
    static_assert(!kSwiglu || kNTiles == 1, "the SwiGLU epilogue serves decode (M <= 8)");
    static_assert(!(kSwiglu && kSparse), "the SwiGLU epilogue takes dense products (lut_gemv_swiglu_fits)");
    constexpr int kParts = kSwiglu ? 2 : 1;  // tiles per block
    constexpr int kRowsX = 8 * kNTiles;
    constexpr int kWords = 4 * kBits;  // per lane per unit: kBits 16-byte loads
    constexpr int kThreads = kWarps * 32;
    constexpr int kSlotPieces = kBits + (kXRing ? 1 : 0);         // 512-byte pieces per ring slot
    constexpr int kTableLoads = RowTable<kBits>::kRegisters / 2;  // 16-byte loads per row table
    // [kWarps][kStages][kSlotPieces][32 lanes] of 16 bytes: the ring (codes, then x with kXRing);
    // with kXShared then x, [units·256] F16 (x_shared_bytes).
    extern __shared__ uint4 shared_ring[];
    __shared__ float partial[kParts][kWarps][kRowsX][lut::kTileRows];
    // The sparse instantiation's row pointers (the sums come from lut_sparse_kernel, or with x in
    // shared memory from the fused chunks: kFusedSparse).
    constexpr bool kFusedSparse = kSparse && kXShared;
    __shared__ std::conditional_t<kSparse, SparseTile, char> sparse_tile;
    struct FusedSparseParts {
        float head[kThreads], tail[kThreads], whole[lut::kTileRows];
    };
    __shared__ std::conditional_t<kFusedSparse, FusedSparseParts, char> fused;
    SN_LUT_MARK(0, probe_globaltimer());
    SN_LUT_MARK(2, probe_smid());
    SN_LUT_MARK(3, probe_clock());
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane / 4;
    const int t = lane % 4;
    // Tile of part q: tile b, and for kSwiglu's up part tile b + I/16 (I = n/2, a multiple of 16).
    const int64_t up_tiles = kSwiglu ? p.n / 2 / lut::kTileRows : 0;
    const auto tile_of = [&](int part) { return static_cast<int64_t>(blockIdx.x) + part * up_tiles; };
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * lut::kTileRows;  // first output column
    const int64_t units = lut::units(p.k);
    const int64_t unit_words = lut::unit_words(kBits);
    const int32_t* lane_codes = p.packed + lane * 4;
    const __half* lut_rows = static_cast<const __half*>(p.lut);
    const int k_total = static_cast<int>(p.k);  // < 2^31 (checked by the op)

    uint64_t policy;
    asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    if (!p.weights_settled) wait_for_previous_grid();
    // First the small loads the decoding waits for, so that they are not queued behind every
    // block's codes: the row tables of rows g and g + 8 of each part's tile, and the sparse part's
    // row pointers (lane t <= 16 of warp 0: pointer n0 + t).
    uint4 table_g[kParts][kTableLoads], table_g8[kParts][kTableLoads];
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
        const int64_t row = tile_of(part) * lut::kTileRows + g;
        RowTable<kBits>::fetch(lut_rows + row * (1 << kBits), row < p.n, table_g[part]);
        RowTable<kBits>::fetch(lut_rows + (row + 8) * (1 << kBits), row + 8 < p.n, table_g8[part]);
    }
    int32_t row_pointer = 0;
    if constexpr (kSparse) {
        if (warp == 0) row_pointer = sparse_row_pointer(p, n0);
    }
    // The units of this warp in each part: warp, warp + kWarps, ... (count of them), the parts one
    // after the other as one stream (index i = part·count + u), streamed through a ring of kStages
    // slots in shared memory: the codes of kStages units are requested up front, and each slot is
    // refilled with the unit kStages further on as soon as it is decoded (registers hold only the
    // unit being decoded).
    // slot (stage, piece j) of this lane: ring[(stage·kSlotPieces + j)·32]
    uint4* ring = shared_ring + static_cast<int64_t>(warp) * kStages * kSlotPieces * 32 + lane;
    const int64_t count = units > warp ? (units - warp + kWarps - 1) / kWarps : 0;
    const int64_t stream_length = kParts * count;
    const __half* x = static_cast<const __half*>(p.x);
    // K unit of stream index i (within its part's tile).
    const auto unit_of = [&](int64_t i) { return warp + (i >= count ? i - count : i) * kWarps; };
    // x of the i-th unit of this warp into its slot (kXRing; x is read only after the wait).
    auto fetch_x = [&](int64_t i) {
        if (i < stream_length) {
            const int64_t k = unit_of(i) * lut::kUnitK + 8 * lane;
            copy_x_async(ring + ((i % kStages) * kSlotPieces + kBits) * 32, x + (k < p.k ? k : 0), k < p.k);
        }
    };
    // the i-th unit of this warp into stage i % kStages (codes, and x when `with_x`), one commit group
    auto fetch = [&](int64_t i, bool with_x) {
        if (i < stream_length) {
            const int64_t tile = tile_of(kParts > 1 && i >= count ? 1 : 0);
            const int32_t* codes = lane_codes + (tile * units + unit_of(i)) * unit_words;
            uint4* slot = ring + (i % kStages) * kSlotPieces * 32;
#pragma unroll
            for (int j = 0; j < kBits; ++j) copy_codes_async(slot + j * 32, codes + j * 32 * 4, policy);
            if (kXRing && with_x) fetch_x(i);
        }
        commit_copies();
    };
    // The first kStages units.
#pragma unroll
    for (int i = 0; i < kStages; ++i) fetch(i, false);
    SN_LUT_MARK(4, probe_clock());

    RowTable<kBits> row_g[kParts], row_g8[kParts];
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
        row_g[part].build(table_g[part]);
        row_g8[part].build(table_g8[part]);
    }
    // The sparse part's row pointers, checked (the epilogue reads them; weights, so before the
    // wait when settled): lane t <= 16 of warp 0 holds pointer t.
    if constexpr (kSparse) {
        if (warp == 0) {
            const int64_t rows_here = (n0 + lut::kTileRows < p.n ? n0 + lut::kTileRows : p.n) - n0;
            const int32_t next = __shfl_down_sync(0xffffffffu, row_pointer, 1);
            // bad: out of range, or a row of the tile whose end comes before its start
            const bool bad = lane <= rows_here &&
                             (row_pointer < 0 || row_pointer > p.nnz || (lane < rows_here && next < row_pointer));
            const unsigned bad_lanes = __ballot_sync(0xffffffffu, bad);
            if (bad_lanes != 0u && lane == __ffs(static_cast<int>(bad_lanes)) - 1) {
                report_bad_value(p.data_error, static_cast<OpId>(p.op), n0 + lane, row_pointer, p.nnz);
            }
            if (lane <= lut::kTileRows) sparse_tile.row[lane] = row_pointer;
            if (lane == 0) sparse_tile.usable = bad_lanes == 0u;
        }
    }
    // The fused sparse part's chunk of this thread (kFusedSparse): entries [chunk_begin, chunk_end),
    // the first kFusedSparseRegs of them requested now. Bad pointers (reported above) leave the
    // chunk empty here, so that no load leaves the arrays.
    int64_t entries_begin = 0, chunk_size = 0, chunk_begin = 0, chunk_end = 0;
    int32_t chunk_col[kFusedSparse ? kFusedSparseRegs : 1];
    __half chunk_val[kFusedSparse ? kFusedSparseRegs : 1];
    if constexpr (kFusedSparse) {
        // The tile's first and last pointers straight from global memory (warp 0's checked copy in
        // sparse_tile is only visible to the other warps after the barrier that follows the wait).
        const int64_t b = __ldg(p.rows + n0),
                      e = __ldg(p.rows + (n0 + lut::kTileRows < p.n ? n0 + lut::kTileRows : p.n));
        const bool sane = 0 <= b && b <= e && e <= p.nnz;
        entries_begin = b;
        const int64_t entries = sane ? e - b : 0;
        chunk_size = (entries + kThreads - 1) / kThreads;
        chunk_begin = b + threadIdx.x * chunk_size;
        chunk_end = chunk_begin + chunk_size < b + entries ? chunk_begin + chunk_size : b + entries;
        const __half* vals = static_cast<const __half*>(p.vals);
#pragma unroll
        for (int j = 0; j < kFusedSparseRegs; ++j) {
            const bool live = chunk_begin + j < chunk_end;
            chunk_col[j] = live ? __ldg(p.cols + chunk_begin + j) : 0;
            chunk_val[j] = live ? vals[chunk_begin + j] : __float2half(0.0f);
        }
    }
    (void)chunk_col;
    (void)chunk_val;
    if (p.weights_settled) wait_for_previous_grid();
    SN_LUT_MARK(5, probe_clock());
    // Every block of this grid is resident by the time all have passed here: the next grid's
    // blocks may take the slots this grid's blocks free and stream their own codes meanwhile
    // (they wait for this grid before reading anything it writes).
    allow_next_grid();
    if constexpr (kXRing) {
        // x of the prologue's units, as one more group (their codes may be in flight since before
        // the wait; x may not).
#pragma unroll
        for (int i = 0; i < kStages; ++i) fetch_x(i);
        commit_copies();
    }
    // x behind the ring (kXShared): units·256 F16, zero past K, 16 bytes per thread and step.
    uint4* const x_shared = shared_ring + kWarps * kStages * kSlotPieces * 32;
    if constexpr (kXShared) {
        const int64_t pieces = units * lut::kUnitK / 8;
        for (int64_t j = threadIdx.x; j < pieces; j += kThreads) {
            x_shared[j] = 8 * j < p.k ? __ldg(reinterpret_cast<const uint4*>(x) + j) : make_uint4(0u, 0u, 0u, 0u);
        }
        __syncthreads();
    }
    (void)x_shared;
    SN_LUT_MARK(6, probe_clock());

    // This lane's rows of x (8j + g) at input 8t; rows past M are zero.
    const __half* x_lane[kNTiles];
    bool x_live[kNTiles];
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
        x_live[j] = 8 * j + g < p.m;
        x_lane[j] = x + (x_live[j] ? 8 * j + g : 0) * p.k + 8 * t;
    }
    // x of the warp's next unit, loaded one unit ahead (for one n-tile: 32 registers; with more
    // n-tiles the loads are issued at the top of the unit instead).
    constexpr bool kPrefetchX = kNTiles == 1 && kXPath == XPath::registers;
    uint4 x_next[8][kNTiles];
    if constexpr (kPrefetchX)
        load_x_unit<kNTiles>(x_next, x_lane, x_live, warp * static_cast<int>(lut::kUnitK), k_total);
    (void)x_next;

    // Independent accumulator sets, used in turn: consecutive mmas into one accumulator wait for
    // each other (the mma's latency), sets in turn let them overlap.
    constexpr int kSets = kNTiles == 1 ? 4 : 2;
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
        float c[kSets][kNTiles][4] = {};
        for (int64_t u = 0; u < count; ++u) {
            const int64_t i = part * count + u;
            const int k_unit = (warp + static_cast<int>(u) * kWarps) * static_cast<int>(lut::kUnitK);
            uint4 xv[8][kNTiles];
            // Commit groups so far: the prologue's kStages (codes), with kXRing the prologue's x,
            // then one per turn (the unit kStages further on). Turn 0 with kXRing needs the x
            // group, the newest: all. Otherwise unit i's group has kStages − 1 newer ones (before
            // turn kStages, the rest of the prologue and the turns so far; after, the turns since).
            // Each lane waits only for its own copies (it decodes the codes it copied).
            if (kXRing && i == 0) {
                wait_copies<0>();
            } else {
                wait_copies<kStages - 1>();
            }
            if (i < 7) SN_LUT_MARK(7 + i, probe_clock());
            if constexpr (kXRing) {
                __syncwarp();  // x copied by the other lanes
            } else if constexpr (kPrefetchX) {
#pragma unroll
                for (int pair = 0; pair < 8; ++pair) xv[pair][0] = x_next[pair][0];
                // The next unit of the stream: the next of this part, or the next part's first.
                const int next_k = u + 1 < count ? k_unit + kWarps * static_cast<int>(lut::kUnitK)
                                                 : warp * static_cast<int>(lut::kUnitK);
                if (i + 1 < stream_length) load_x_unit<kNTiles>(x_next, x_lane, x_live, next_k, k_total);
            } else {
                load_x_unit<kNTiles>(xv, x_lane, x_live, k_unit, k_total);
            }
            const uint4* slot = ring + (i % kStages) * kSlotPieces * 32;
            uint32_t words[kWords];
            load_lane_words<kBits>(slot, words);
            // Pairs past K (the padded last unit) have codes 0 and x 0: they add 0 · lut[0] = 0.
#pragma unroll
            for (int pair = 0; pair < 8; ++pair) {
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    uint32_t a[4];
                    decode_fragment<kBits>(words, 2 * pair + half, row_g[part], row_g8[part], a);
#pragma unroll
                    for (int j = 0; j < kNTiles; ++j) {
                        if constexpr (kXRing) {
                            // inputs 32·pair + 8t + 4·half .. +3 of the unit: 8 bytes of the slot's x
                            const uint2 b =
                                reinterpret_cast<const uint2*>(slot - lane + kBits * 32)[8 * pair + 2 * t + half];
                            mma_w_by_x(c[(2 * pair + half) % kSets][j], a, b.x, b.y);
                        } else if constexpr (kXShared) {
                            // inputs k_unit + 32·pair + 8t + 4·half .. +3: 8 bytes of the block's x
                            const uint2 b =
                                reinterpret_cast<const uint2*>(x_shared)[k_unit / 4 + 8 * pair + 2 * t + half];
                            mma_w_by_x(c[(2 * pair + half) % kSets][j], a, b.x, b.y);
                        } else {
                            mma_w_by_x(c[(2 * pair + half) % kSets][j], a, half == 0 ? xv[pair][j].x : xv[pair][j].z,
                                       half == 0 ? xv[pair][j].y : xv[pair][j].w);
                        }
                    }
                }
            }
            // The slot just decoded takes the unit kStages further on (its words are in registers;
            // with kXRing, the barrier makes sure no lane still reads its x).
            if constexpr (kXRing) __syncwarp();
            fetch(i + kStages, true);
        }
        // C fragment: c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1] with
        // C[W row][x row].
#pragma unroll
        for (int set = 1; set < kSets; ++set) {
#pragma unroll
            for (int j = 0; j < kNTiles; ++j) {
#pragma unroll
                for (int i = 0; i < 4; ++i) c[0][j][i] += c[set][j][i];
            }
        }
#pragma unroll
        for (int j = 0; j < kNTiles; ++j) {
            partial[part][warp][8 * j + 2 * t][g] = c[0][j][0];
            partial[part][warp][8 * j + 2 * t + 1][g] = c[0][j][1];
            partial[part][warp][8 * j + 2 * t][g + 8] = c[0][j][2];
            partial[part][warp][8 * j + 2 * t + 1][g + 8] = c[0][j][3];
        }
    }
    SN_LUT_MARK(14, probe_clock());
    if constexpr (kFusedSparse) {
        // This thread's chunk times x, as runs of one row (sparse_tile.row is visible since the
        // barrier after x was copied).
        if (sparse_tile.usable && chunk_begin < chunk_end) {
            const __half* x_values = reinterpret_cast<const __half*>(x_shared);
            const __half* vals = static_cast<const __half*>(p.vals);
            // The row of the chunk's first entry (the last r with row[r] <= chunk_begin), and where
            // the row after it starts.
            int row = 0;
#pragma unroll
            for (int step = 8; step > 0; step /= 2) {
                if (sparse_tile.row[row + step] <= chunk_begin) row += step;  // row + step <= 15
            }
            const int first_row = row;
            int64_t next_start = row + 1 < lut::kTileRows ? sparse_tile.row[row + 1] : INT64_MAX;
            float sum = 0.0f;
            const auto emit = [&](int r, float value, bool last) {
                if (r == first_row) {
                    fused.head[threadIdx.x] = value;
                } else if (last) {
                    fused.tail[threadIdx.x] = value;
                } else {
                    fused.whole[r] = value;
                }
            };
            const auto take = [&](int64_t entry, float product) {
                while (entry >= next_start) {  // the run's row ended before this entry
                    emit(row, sum, false);
                    sum = 0.0f;
                    ++row;
                    next_start = row + 1 < lut::kTileRows ? sparse_tile.row[row + 1] : INT64_MAX;
                }
                sum += product;
            };
            const auto product_of = [&](int64_t entry, int32_t column, __half value) {
                if (column >= 0 && column < k_total) return __half2float(value) * __half2float(x_values[column]);
                report_bad_value(p.data_error, static_cast<OpId>(p.op), entry, column, p.k);  // skipped
                return 0.0f;
            };
            // The entries held in registers: their x looked up together, then summed in order.
            float product[kFusedSparseRegs];
#pragma unroll
            for (int j = 0; j < kFusedSparseRegs; ++j) {
                product[j] =
                    chunk_begin + j < chunk_end ? product_of(chunk_begin + j, chunk_col[j], chunk_val[j]) : 0.0f;
            }
#pragma unroll
            for (int j = 0; j < kFusedSparseRegs; ++j) {
                if (chunk_begin + j < chunk_end) take(chunk_begin + j, product[j]);
            }
            for (int64_t entry = chunk_begin + kFusedSparseRegs; entry < chunk_end; ++entry) {
                take(entry, product_of(entry, __ldg(p.cols + entry), vals[entry]));
            }
            emit(row, sum, true);
        }
    }
    __syncthreads();

    // Row r of part q for row m of x: the warps' partials, then the sparse part's, then the bias.
    const auto row_sum = [&](int part, int m, int r, int64_t n) {
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) sum += partial[part][w][m][r];
        if constexpr (kFusedSparse) {
            if (sparse_tile.usable)
                sum += fused_sparse_sum(fused.head, fused.tail, fused.whole, sparse_tile.row, r, entries_begin,
                                        chunk_size);
        } else if constexpr (kSparse) {
            if (sparse_tile.usable) sum += sparse_sum(p, sparse_sums_of(p), sparse_tile.row, r, m, n);
        }
        if (p.bias_dtype != GemvBias::none) sum += gemv_bias_value(p.bias, p.bias_dtype, n);
        return sum;
    };
    const int64_t columns = kSwiglu ? p.n / 2 : p.n;  // out's row length
    for (int index = threadIdx.x; index < kRowsX * lut::kTileRows; index += kThreads) {
        const int m = index / lut::kTileRows, r = index % lut::kTileRows;
        const int64_t n = n0 + r;
        if (m >= p.m || n >= columns) continue;
        __half* at = static_cast<__half*>(p.out) + m * columns + n;
        if constexpr (kSwiglu) {
            // g and u as sn_lut_matmul would have stored them, then sn_swiglu's formula.
            const float gate = __half2float(__float2half_rn(row_sum(0, m, r, n)));
            const float up = __half2float(__float2half_rn(row_sum(1, m, r, columns + n)));
            *at = __float2half_rn(silu_of(gate) * up);
        } else {
            float sum = row_sum(0, m, r, n);
            if (p.accumulate) sum += __half2float(*at);
            *at = __float2half_rn(sum);
        }
    }
    SN_LUT_MARK(15, probe_clock());
    SN_LUT_MARK(1, probe_globaltimer());
}

constexpr size_t ring_bytes(int bits, int warps, int stages, bool x_ring) {
    return static_cast<size_t>(warps) * stages * (bits + (x_ring ? 1 : 0)) * 32 * sizeof(uint4);
}

// The single-row kernel's copy of x behind the ring (XPath::shared): whole units of F16.
constexpr size_t x_shared_bytes(int64_t k) {
    return static_cast<size_t>(lut::units(k) * lut::kUnitK) * sizeof(__half);
}

// Longest x the single-row kernel keeps in shared memory (K = 32768; its ring takes at most 64 KiB
// more, within every sm_80/sm_90 part's opt-in); longer rows take the ring.
constexpr size_t kMaxXSharedBytes = size_t{64} << 10;

// Where a slice's kernel finds x (kXPath; launch_rows' rule): one row of x in the ring, or with
// LutGemvProblem::x_path = 3 in shared memory (its sparse part then fused, so no lut_sparse_kernel);
// x_path = 2 and more rows in registers.
XPath x_path_of(const LutGemvProblem& p) {
    if (p.m != 1 || p.x_path == 2) return XPath::registers;
    return p.x_path == 3 && x_shared_bytes(p.k) <= kMaxXSharedBytes ? XPath::shared : XPath::ring;
}

// Dynamic shared memory above 48 KiB needs the opt-in, set once per kernel to the most any of its
// launches takes (a host setting, not a stream operation, so fine while a graph is being
// captured). The shared-memory carveout is left to the driver: forcing the maximum changed neither
// sn_bench_cuda --lut nor the LLaMA-7B decode measurably (H100).
template <class Kernel>
cudaError_t configure_once(Kernel kernel, size_t dynamic_bytes) {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(dynamic_bytes));
}

template <int kBits, int kNTiles, int kWarps, int kStages, bool kSparse, XPath kXPath, bool kSwiglu>
cudaError_t launch(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    auto* const kernel = lut_gemv_kernel<kBits, kNTiles, kWarps, kStages, kSparse, kXPath, kSwiglu>;
    constexpr bool kXShared = kXPath == XPath::shared;
    const size_t ring = ring_bytes(kBits, kWarps, kStages, kXPath == XPath::ring);
    static const cudaError_t configured = configure_once(kernel, ring + (kXShared ? kMaxXSharedBytes : 0));
    if (configured != cudaSuccess) return configured;
    const size_t dynamic_bytes = ring + (kXShared ? x_shared_bytes(p.k) : 0);
    const int64_t blocks = kSwiglu ? p.n / 2 / lut::kTileRows : lut::tiles(p.n);
    return launch_chained(stream, programmatic_launch, kernel, dim3(static_cast<unsigned>(blocks)), dim3(kWarps * 32),
                          dynamic_bytes, p);
}

template <int kBits, int kNTiles, int kWarps, int kStages, XPath kXPath, bool kSwiglu>
cudaError_t launch_parts(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if constexpr (kSwiglu) {
        // Dense products only (launch_lut_gemv checks lut_gemv_swiglu_fits), so no sparse instantiation.
        return launch<kBits, kNTiles, kWarps, kStages, false, kXPath, true>(p, stream, programmatic_launch);
    } else {
        return p.rows != nullptr
                   ? launch<kBits, kNTiles, kWarps, kStages, true, kXPath, false>(p, stream, programmatic_launch)
                   : launch<kBits, kNTiles, kWarps, kStages, false, kXPath, false>(p, stream, programmatic_launch);
    }
}

// Ring slots per warp: 4 when that holds all of a warp's units (K = 4096: 16 units over 4 warps,
// so every code is requested up front), else 8 for the rows of x up to 8 (kNTiles = 1), so that
// long rows (K = 11008, 14336) keep 8 units in flight per warp. (sn_bench_cuda --variant s=4 on an
// H100 later measured 4 slots faster for those: 4096×11008 3-bit 9.71 against 11.44 µs, gate|up +
// SwiGLU 17.17 against 19.08; the switch waits for a decode measurement, cpp/README.md.) p.stages
// = 2 (up to 8 rows of x) is a benchmark override, not yet measured.
template <int kBits, int kNTiles, int kWarps, XPath kXPath, bool kSwiglu>
cudaError_t launch_stages(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    const int64_t per_warp = (lut::units(p.k) + kWarps - 1) / kWarps * (kSwiglu ? 2 : 1);
    // (p.stages = 2 or 8 applies up to 8 rows of x; more rows always take 4.)
    const int stages = kNTiles > 1 ? 4 : p.stages != 0 ? p.stages : per_warp > 4 ? 8 : 4;
    if (stages == 4) return launch_parts<kBits, kNTiles, kWarps, 4, kXPath, kSwiglu>(p, stream, programmatic_launch);
    if constexpr (kNTiles == 1) {
        if (stages == 2)
            return launch_parts<kBits, kNTiles, kWarps, 2, kXPath, kSwiglu>(p, stream, programmatic_launch);
        if (stages == 8)
            return launch_parts<kBits, kNTiles, kWarps, 8, kXPath, kSwiglu>(p, stream, programmatic_launch);
    }
    return cudaErrorInvalidValue;
}

template <int kBits, int kNTiles, XPath kXPath, bool kSwiglu>
cudaError_t launch_warps(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if constexpr (kXPath != XPath::registers) {
        // 4 warps whatever K: on an H100 (sn_bench_cuda --lut) 4 warps with x in the ring took
        // 9.7 µs at 4096×11008 (3 bits) against 11.0 µs for 8. (p.warps = 8: benchmarks.)
        if (p.warps == 8) return launch_stages<kBits, kNTiles, 8, kXPath, kSwiglu>(p, stream, programmatic_launch);
        return launch_stages<kBits, kNTiles, 4, kXPath, kSwiglu>(p, stream, programmatic_launch);
    }
    // 8 warps from K = 8192 (32 units) up, else 4: sn_bench_cuda --lut on an H100 measured 8 warps
    // 5-10 % faster at 4096×11008 and 4096×14336 and 4 warps 7-15 % faster at 11008×4096,
    // 14336×4096 and 32000×4096 (3 bits, M = 1).
    const int warps = p.warps != 0 ? p.warps : lut::units(p.k) >= 32 ? 8 : 4;
    if (warps == 4) return launch_stages<kBits, kNTiles, 4, kXPath, kSwiglu>(p, stream, programmatic_launch);
    if (warps == 8) return launch_stages<kBits, kNTiles, 8, kXPath, kSwiglu>(p, stream, programmatic_launch);
    return cudaErrorInvalidValue;
}

template <int kBits, bool kSwiglu>
cudaError_t launch_rows(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    // One row: x in the ring or in shared memory (4 warps), whose kernel needs half the registers
    // of the register path (more blocks per SM); p.x_path overrides (benchmarks).
    switch (x_path_of(p)) {
        case XPath::ring:
            return launch_warps<kBits, 1, XPath::ring, kSwiglu>(p, stream, programmatic_launch);
        case XPath::shared:
            return launch_warps<kBits, 1, XPath::shared, kSwiglu>(p, stream, programmatic_launch);
        default:
            return launch_warps<kBits, 1, XPath::registers, kSwiglu>(p, stream, programmatic_launch);
    }
}

template <int kBits>
cudaError_t launch_bits(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if (p.swiglu) return launch_rows<kBits, true>(p, stream, programmatic_launch);  // m <= 8 (launch_lut_gemv)
    if (p.m <= 8) return launch_rows<kBits, false>(p, stream, programmatic_launch);
    if (p.m <= 16) return launch_warps<kBits, 2, XPath::registers, false>(p, stream, programmatic_launch);
    return launch_warps<kBits, 4, XPath::registers, false>(p, stream, programmatic_launch);
}

// One block of 32 threads per (tile, unit); thread = lane, building its 4·bits words from its
// 128 codes (lut::lane_code walks them; the word indices depend only on the code number, so the
// unrolled loop keeps `words` in registers).
template <int kBits>
__global__ void lut_repack_kernel(const int32_t* qweight, int32_t* packed, int64_t n_total, int64_t k_total) {
    const int lane = threadIdx.x;
    const int64_t units = lut::units(k_total);
    const int64_t tile = blockIdx.x / units, unit = blockIdx.x % units;
    uint32_t words[4 * kBits] = {};
#pragma unroll
    for (int c = 0; c < 128; ++c) {
        int r, kk;
        lut::lane_code(lane, c, &r, &kk);
        const int64_t n = tile * lut::kTileRows + r, k = unit * lut::kUnitK + kk;
        const uint32_t code = n < n_total && k < k_total ? checkpoint_code(qweight, n_total, n, k, kBits) : 0u;
        const lut::CodePlace place = lut::code_place(kBits, r, kk);
        if constexpr (kBits == 4) {
            words[place.word] |= code << place.shift;
        } else {
            words[place.word] |= (code & 3u) << place.shift;
            words[place.high_word] |= (code >> 2) << place.high_bit;
        }
    }
    int32_t* out = packed + (tile * units + unit) * lut::unit_words(kBits);
#pragma unroll
    for (int w = 0; w < 4 * kBits; ++w) out[lut::lane_word(lane, w)] = static_cast<int32_t>(words[w]);
}

// Dequantization of whole tiles into F16 rows (prefill: the product then runs on cuBLAS): one
// warp per (tile, unit), decoding exactly as the GEMV does (decode_fragment), so both paths read
// the same weights. Lane (g, t) holds, per pair of mmas, inputs 32p + 8t .. +7 of rows g and g + 8
// (fragments a0, a2 of mma 2p and 2p + 1), i.e. one 16-byte store per row and pair.
template <int kBits>
__global__ void __launch_bounds__(128)
    lut_dequant_kernel(const int32_t* packed, const __half* lut, int64_t n_total, int64_t k_total, int64_t tile_begin,
                       int64_t tile_count, __half* out) {
    const int lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    const int64_t units = lut::units(k_total);
    const int64_t item = static_cast<int64_t>(blockIdx.x) * 4 + threadIdx.x / 32;
    if (item >= tile_count * units) return;
    const int64_t tile = tile_begin + item / units, unit = item % units;
    const int64_t n0 = tile * lut::kTileRows;
    const int32_t* source = packed + (tile * units + unit) * lut::unit_words(kBits) + lane * 4;
    uint32_t words[4 * kBits];
#pragma unroll
    for (int j = 0; j < kBits; ++j) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(source + j * 32 * 4));
        words[4 * j] = v.x;
        words[4 * j + 1] = v.y;
        words[4 * j + 2] = v.z;
        words[4 * j + 3] = v.w;
    }
    RowTable<kBits> row_g, row_g8;
    row_g.load(lut + (n0 + g) * (1 << kBits), n0 + g < n_total);
    row_g8.load(lut + (n0 + g + 8) * (1 << kBits), n0 + g + 8 < n_total);
    const int64_t first_row = tile_begin * lut::kTileRows;
#pragma unroll
    for (int pair = 0; pair < 8; ++pair) {
        uint32_t a[4], b[4];
        decode_fragment<kBits>(words, 2 * pair, row_g, row_g8, a);
        decode_fragment<kBits>(words, 2 * pair + 1, row_g, row_g8, b);
        const int64_t k = unit * lut::kUnitK + 32 * pair + 8 * t;
        if (k >= k_total) break;
        if (n0 + g < n_total) {
            *reinterpret_cast<uint4*>(out + (n0 + g - first_row) * k_total + k) = make_uint4(a[0], a[2], b[0], b[2]);
        }
        if (n0 + g + 8 < n_total) {
            *reinterpret_cast<uint4*>(out + (n0 + g + 8 - first_row) * k_total + k) =
                make_uint4(a[1], a[3], b[1], b[3]);
        }
    }
}

// Adds the sparse part of rows [row_begin, row_end) into their dequantized F16 rows (one warp per
// row; a row's entries have distinct columns, so the lanes never write the same element).
__global__ void lut_scatter_sparse_kernel(const int32_t* rows, const int32_t* cols, const __half* vals, int64_t nnz,
                                          int64_t k_total, int64_t row_begin, int64_t row_end, __half* out,
                                          DataError* data_error, int32_t op) {
    const int lane = threadIdx.x % 32;
    const int64_t row = row_begin + static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= row_end) return;
    const int64_t begin = rows[row], end = rows[row + 1];
    if (begin < 0 || end < begin || end > nnz) {
        if (lane == 0) report_bad_value(data_error, static_cast<OpId>(op), row + 1, end, nnz);
        return;
    }
    for (int64_t e = begin + lane; e < end; e += 32) {
        const int64_t column = cols[e];
        if (column < 0 || column >= k_total) {
            report_bad_value(data_error, static_cast<OpId>(op), e, column, k_total);
            continue;
        }
        __half* at = out + (row - row_begin) * k_total + column;
        *at = __float2half_rn(__half2float(*at) + __half2float(vals[e]));
    }
}

// W rows of tiles [tile_begin, tile_begin + tile_count) decoded to F16 into out ([rows, k]
// row-major), the sparse part of those rows added.
cudaError_t launch_lut_dequant(const LutGemvProblem& p, int64_t tile_begin, int64_t tile_count, void* out,
                               cudaStream_t stream) {
    const int64_t blocks = (tile_count * lut::units(p.k) + 3) / 4;
    if (blocks == 0) return cudaSuccess;
    if (blocks > 0x7FFFFFFF) return cudaErrorInvalidValue;
    const __half* lut = static_cast<const __half*>(p.lut);
    if (p.bits == 3) {
        lut_dequant_kernel<3><<<static_cast<unsigned>(blocks), 128, 0, stream>>>(p.packed, lut, p.n, p.k, tile_begin,
                                                                                 tile_count, static_cast<__half*>(out));
    } else if (p.bits == 4) {
        lut_dequant_kernel<4><<<static_cast<unsigned>(blocks), 128, 0, stream>>>(p.packed, lut, p.n, p.k, tile_begin,
                                                                                 tile_count, static_cast<__half*>(out));
    } else {
        return cudaErrorInvalidValue;
    }
    cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess || p.rows == nullptr) return status;
    const int64_t row_begin = tile_begin * lut::kTileRows;
    const int64_t row_end = std::min(p.n, (tile_begin + tile_count) * lut::kTileRows);
    const int64_t row_blocks = (row_end - row_begin + 7) / 8;
    lut_scatter_sparse_kernel<<<static_cast<unsigned>(row_blocks), 256, 0, stream>>>(
        p.rows, p.cols, static_cast<const __half*>(p.vals), p.nnz, p.k, row_begin, row_end, static_cast<__half*>(out),
        p.data_error, p.op);
    return cudaGetLastError();
}

}  // namespace

size_t lut_sparse_sums_floats(int64_t m, int64_t n, int64_t nnz) {
    const int64_t rows = std::min(m, kLutGemvMaxRows);
    return static_cast<size_t>(rows * (n + 2 * sparse_warps(nnz)));
}

cudaError_t launch_lut_gemv(const LutGemvProblem& problem, cudaStream_t stream, bool programmatic_launch) {
    if (problem.m < 1 || problem.k % 32 != 0 || (problem.bits != 3 && problem.bits != 4)) return cudaErrorInvalidValue;
    const bool sparse = problem.rows != nullptr;
    if (problem.swiglu && !lut_gemv_swiglu_fits(problem.m, problem.n, sparse)) return cudaErrorInvalidValue;
    if (sparse && (problem.sparse_sums == nullptr ||
                   problem.sparse_sums_floats < lut_sparse_sums_floats(problem.m, problem.n, problem.nnz))) {
        return cudaErrorInvalidValue;
    }
    const int64_t sparse_blocks = (sparse_warps(problem.nnz) + kSparseWarps - 1) / kSparseWarps;
    if (sparse_blocks > 0x7FFFFFFF) return cudaErrorInvalidValue;
    LutGemvProblem slice = problem;
    const int64_t out_columns = problem.swiglu ? problem.n / 2 : problem.n;
    for (int64_t m0 = 0; m0 < problem.m; m0 += kLutGemvMaxRows) {
        slice.m = std::min(kLutGemvMaxRows, problem.m - m0);
        slice.x = static_cast<const __half*>(problem.x) + m0 * problem.k;
        slice.out = static_cast<__half*>(problem.out) + m0 * out_columns;
        if (sparse && sparse_blocks > 0 && x_path_of(slice) != XPath::shared) {
            const cudaError_t status =
                launch_chained(stream, programmatic_launch, lut_sparse_kernel,
                               dim3(static_cast<unsigned>(sparse_blocks)), dim3(kSparseWarps * 32), 0, slice);
            if (status != cudaSuccess) return status;
        }
        const cudaError_t status = problem.bits == 3 ? launch_bits<3>(slice, stream, programmatic_launch)
                                                     : launch_bits<4>(slice, stream, programmatic_launch);
        if (status != cudaSuccess) return status;
    }
    return cudaSuccess;
}

cudaError_t launch_lut_repack(const int32_t* qweight, int32_t* packed, int64_t n, int64_t k, int bits,
                              cudaStream_t stream) {
    const int64_t blocks = lut::tiles(n) * lut::units(k);
    if (blocks == 0) return cudaSuccess;
    if (blocks > 0x7FFFFFFF || k % 32 != 0) return cudaErrorInvalidValue;
    if (bits == 3) {
        lut_repack_kernel<3><<<static_cast<unsigned>(blocks), 32, 0, stream>>>(qweight, packed, n, k);
    } else if (bits == 4) {
        lut_repack_kernel<4><<<static_cast<unsigned>(blocks), 32, 0, stream>>>(qweight, packed, n, k);
    } else {
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

cudaError_t launch_lut_prefill(const LutGemvProblem& problem, cublasHandle_t cublas, void* buffer, size_t buffer_bytes,
                               float beta, cudaStream_t stream, cublasStatus_t* cublas_status) {
    const int64_t tiles_per_slice =
        static_cast<int64_t>(buffer_bytes / (static_cast<size_t>(problem.k) * 2)) / lut::kTileRows;
    if (tiles_per_slice < 1 || problem.m < 1) return cudaErrorInvalidValue;
    for (int64_t tile = 0; tile < lut::tiles(problem.n); tile += tiles_per_slice) {
        const int64_t tiles = std::min(tiles_per_slice, lut::tiles(problem.n) - tile);
        const int64_t n0 = tile * lut::kTileRows, rows = std::min(problem.n - n0, tiles * lut::kTileRows);
        const cudaError_t status = launch_lut_dequant(problem, tile, tiles, buffer, stream);
        if (status != cudaSuccess) return status;
        *cublas_status = cublas_linear(cublas, problem.m, rows, problem.k, buffer, CUDA_R_16F, problem.x, CUDA_R_16F,
                                       beta, static_cast<__half*>(problem.out) + n0, CUDA_R_16F, problem.n);
        if (*cublas_status != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    }
    return cudaSuccess;
}

}  // namespace sn::cuda
