// Standalone prototype, measured before any library change: a LUT-GEMV (M = 1 .. 16 rows of x)
// that looks codes up in a shared-memory table of code PAIRS (like proto_rowlane_gemv.cu) but
// feeds the looked-up pairs to the tensor cores as mma A fragments (like the library's
// kernels/lut_gemv.cu), so that the products are summed in F32 by the mma and rows 2 .. 8 of x
// cost no more instructions than row 1.
//
// Why. The row-lane prototype multiplies on HFMA2: one FMA-pipe instruction per pair and row of x
// with F16 partial sums (8 pairs), or six per pair (both halves widened, two FFMA) for the issue's
// F32 accumulation, which overruns the issue budget at M = 1 (about 7.5 lane-instructions per
// pair for 11008×4096 at 3 bits). Here, per pair of weights, whatever M <= 8:
//   4 bits: 1 PRMT (the pair's byte moved to bits 8..15 of the table address, the lane's slot
//           bytes into bits 0..7) + 1 LDS.32;
//   3 bits: 1 shift + 1 LOP3 + 1 LDS.32 (the split 16th pair of a triple a little more);
//   and a quarter of an mma.m16n8k16 and an eighth of a 16-byte x load per lane.
//
// Layout ("tile-pair"), per tile of 16 rows of W and chunk of 256 inputs (128 pairs per row; a
// pair = inputs 2j, 2j+1 of the chunk, index code(2j) | code(2j+1) << bits): lane L = 4g + t of a
// warp holds the pair indices of rows g (h = 0) and g + 8 (h = 1) for the chunk's pairs
// 32t .. 32t + 31 (inputs 64t .. 64t + 63), as 4·bits words = `bits` 16-byte slabs; slab s of
// lane L at uint4 ((tile·chunks + chunk)·bits + s)·32 + L, so each warp load is one contiguous
// 512-byte block. Lane word w, for the lane's local pair j (0 .. 31) of row g + 8h:
//   4 bits: word 8h + j/4, byte j%4.
//   3 bits: words 6h + 3T .. 6h + 3T + 2 (T = j/16) are a triple (a, b, c) holding local pairs
//           16T .. 16T + 15 as in proto_rowlane.cuh:
//       bit 31 30 | 29 ..  0
//       a: e15[1:0] | e4 e3 e2 e1 e0   (6 bits each, e0 lowest)
//       b: e15[3:2] | e9 e8 e7 e6 e5
//       c: e15[5:4] | e14 e13 e12 e11 e10
//
// mma i (0 .. 15) of a chunk takes local pairs 2i (k slots 2t, 2t+1) and 2i + 1 (k slots 2t + 8,
// 2t + 9) of every lane: A = {a0, a1, a2, a3} = {row g pair 2i, row g+8 pair 2i, row g pair 2i+1,
// row g+8 pair 2i+1}; B = {b0, b1} = x[row g of x][inputs 64t + 4i .. 64t + 4i + 3] (8 bytes;
// lanes g >= M read row M − 1, whose columns of C are never stored). A and B agree on which input
// each k slot stands for, so the order of k inside an mma does not matter.
//
// Pair table, per block (one tile of 16 rows): entry e of row r for slot t (the 4 lanes t of a row
// read different entries of the same row, so each gets a copy) is the word e·64 + 4r + t =
// half2(lut[r][e & (L−1)], lut[r][e >> bits]) (L = 2^bits levels); lane L reading row g + 8h looks
// at byte (e << 8) | (4L + 128h): 32 lanes, 32 banks, conflict-free whatever the codes. 16 KB at
// 3 bits, 64 KB at 4 bits.
//
// Block (tile, split): warps take the chunks [split·chunks/splits, (split+1)·chunks/splits)
// round-robin, kDepth chunks of codes in flight per warp (registers). Warp sums meet in shared
// memory; split sums in F32 partials, the last block of a tile (ticket) adding them in split
// order (deterministic).
//
// `run-gpu.sh RES build proto-tilepair` runs it for the issue's six shapes at M = 1, 2, 4, 8, 16,
// every launch shape checked against float64 before and after its timed graph.
#include "bench_stream_read.h"
#include "kernels/lut_decode.cuh"  // mma_w_by_x
#include "kernels/lut_pair_gemv.h"
#include "kernels/lut_pair_table.cuh"
#include "lut_pair_layout.h"
#include "proto_rowlane.cuh"

namespace {

using namespace proto;

constexpr int kTileRows = 16;
constexpr int kTileChunk = 256;  // inputs per chunk

// ---- layout: host packers ----------------------------------------------------------------------
// Both layouts hold, per lane, the pair indices of rows g and g + 8 in the words of
// src/lut_pair_layout.h (lp::put_pair, lp::lane_word); they differ only in which inputs a lane's
// local pair j stands for.

namespace lp = sn::lut_pair;

// Row (0..15) and first input (0..255) of lane L's local pair j of half h: here inputs 64t + 2j.
void tilepair_input(int lane, int h, int j, int* r, int* kk) {
    *r = lane / 4 + 8 * h;
    *kk = 64 * (lane % 4) + 2 * j;
}

using PairInput = void (*)(int, int, int, int*, int*);

std::vector<uint32_t> pack_pairs(const std::vector<uint8_t>& codes, int n, int k, int bits, PairInput input_of) {
    const int tiles = n / kTileRows, units = k / kTileChunk;
    std::vector<uint32_t> words(static_cast<size_t>(tiles) * units * lp::unit_words(bits), 0u);
    for (int tile = 0; tile < tiles; ++tile)
        for (int unit = 0; unit < units; ++unit)
            for (int lane = 0; lane < 32; ++lane) {
                uint32_t w[16] = {};
                for (int h = 0; h < 2; ++h)
                    for (int j = 0; j < lp::kLanePairs; ++j) {
                        int r, kk;
                        input_of(lane, h, j, &r, &kk);
                        const uint8_t* cd =
                            &codes[static_cast<size_t>(tile * kTileRows + r) * k + unit * kTileChunk + kk];
                        lp::put_pair(w, bits, h, j, cd[0] | (cd[1] << bits));
                    }
                for (int i = 0; i < 4 * bits; ++i)
                    words[(static_cast<size_t>(tile) * units + unit) * lp::unit_words(bits) + lp::lane_word(lane, i)] =
                        w[i];
            }
    return words;
}

std::vector<uint32_t> pack_tilepair(const std::vector<uint8_t>& codes, int n, int k, int bits) {
    return pack_pairs(codes, n, k, bits, tilepair_input);
}

// The library's pair-tiled layout (lp::pair_input: the library's k order), for the staged kernel
// (kernels/lut_pair_gemv.cu) timed beside the prototype.
std::vector<uint32_t> pack_pair_tiled(const std::vector<uint8_t>& codes, int n, int k, int bits) {
    return pack_pairs(codes, n, k, bits, lp::pair_input);
}

int tp_self_test() {
    int failures = 0;
    for (int bits : {3, 4}) {
        const int n = 32, k = 512, levels = 1 << bits;
        Rng rng{static_cast<uint64_t>(7 + bits)};
        std::vector<uint8_t> codes(static_cast<size_t>(n) * k);
        for (auto& c : codes) c = static_cast<uint8_t>(rng.next() % levels);
        const std::vector<uint32_t> words = pack_tilepair(codes, n, k, bits);
        const int chunks = k / kTileChunk;
        std::vector<int> seen(static_cast<size_t>(n) * k, 0);
        for (int tile = 0; tile < n / kTileRows; ++tile)
            for (int c = 0; c < chunks; ++c)
                for (int lane = 0; lane < 32; ++lane) {
                    uint32_t w[16];
                    for (int i = 0; i < 4 * bits; ++i)
                        w[i] =
                            words[(((static_cast<size_t>(tile) * chunks + c) * bits + i / 4) * 32 + lane) * 4 + i % 4];
                    const int g = lane / 4, t = lane % 4;
                    for (int h = 0; h < 2; ++h)
                        for (int j = 0; j < 32; ++j) {
                            const uint32_t slot = 4u * lane + 128u * h;
                            const uint32_t address = bits == 3 ? sn::cuda::pair_table_address<3>(w, h, j, slot)
                                                               : sn::cuda::pair_table_address<4>(w, h, j, slot);
                            const int row = tile * kTileRows + g + 8 * h, input = c * kTileChunk + 64 * t + 2 * j;
                            const uint8_t* cd = &codes[static_cast<size_t>(row) * k + input];
                            seen[static_cast<size_t>(row) * k + input]++;
                            const int entry = static_cast<int>(address >> 8);
                            const bool ok = (address & 255u) == slot && entry == (cd[0] | (cd[1] << bits));
                            if (!ok && failures++ < 10)
                                std::printf(
                                    "tile-pair self-test %d-bit: tile %d chunk %d lane %d h %d pair %d: entry %d, "
                                    "codes %d %d\n",
                                    bits, tile, c, lane, h, j, entry, cd[0], cd[1]);
                        }
                }
        for (size_t i = 0; i < seen.size(); i += 2)
            if (seen[i] != 1 && failures++ < 10)
                std::printf("tile-pair self-test %d-bit: pair %zu visited %d times\n", bits, i, seen[i]);
    }
    std::printf("tile-pair self-test: %s\n", failures == 0 ? "layout and decode agree (3 and 4 bits)" : "FAILED");
    return failures == 0 ? 0 : 1;
}

// ---- kernel -------------------------------------------------------------------------------------

// One chunk: 16 mmas per n-tile of x (kNT n-tiles: x rows 8·nt + g), A from the pair table.
template <int kBits, int kNT>
__device__ __forceinline__ void consume_chunk(const uint4 (&slabs)[kBits], const __half* const (&x_lane)[kNT],
                                              int64_t chunk_input, const char* table, uint32_t slot0,
                                              float (&acc)[kNT][4]) {
    uint32_t w[4 * kBits];
    sn::cuda::unpack_slabs<kBits>(slabs, w);
#pragma unroll
    for (int i2 = 0; i2 < 8; ++i2) {  // two mmas per 16-byte x load
        uint4 xq[kNT];
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) xq[nt] = __ldg(reinterpret_cast<const uint4*>(x_lane[nt] + chunk_input) + i2);
#pragma unroll
        for (int u = 0; u < 2; ++u) {
            const int i = 2 * i2 + u;
            uint32_t a[4];
            a[0] = sn::cuda::pair_table_word(table, sn::cuda::pair_table_address<kBits>(w, 0, 2 * i, slot0));
            a[1] = sn::cuda::pair_table_word(table, sn::cuda::pair_table_address<kBits>(w, 1, 2 * i, slot0 + 128u));
            a[2] = sn::cuda::pair_table_word(table, sn::cuda::pair_table_address<kBits>(w, 0, 2 * i + 1, slot0));
            a[3] = sn::cuda::pair_table_word(table, sn::cuda::pair_table_address<kBits>(w, 1, 2 * i + 1, slot0 + 128u));
#pragma unroll
            for (int nt = 0; nt < kNT; ++nt) {
                const uint32_t b0 = u == 0 ? xq[nt].x : xq[nt].z, b1 = u == 0 ? xq[nt].y : xq[nt].w;
                sn::cuda::mma_w_by_x(acc[nt], a, b0, b1);
            }
        }
    }
}

template <int kBits, int kNT, int kWarps, int kDepth>
__global__ void __launch_bounds__(kWarps * 32)
    tilepair_gemv(const uint4* __restrict__ packed, const __half* __restrict__ lut, const __half* __restrict__ x,
                  __half* __restrict__ out, float* __restrict__ partials, unsigned* __restrict__ tickets, int n, int k,
                  int m) {
    extern __shared__ uint32_t table[];  // [L²][64]
    __shared__ float warp_sums[kWarps][8 * kNT][kTileRows];
    __shared__ bool last_block;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int tile = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    const int chunks = k / kTileChunk;
    const int c_begin = static_cast<int>(static_cast<int64_t>(split) * chunks / splits);
    const int c_end = static_cast<int>(static_cast<int64_t>(split + 1) * chunks / splits);
    const int first = c_begin + warp;
    const int count = first < c_end ? (c_end - first + kWarps - 1) / kWarps : 0;
    const uint4* lane_codes = packed + static_cast<int64_t>(tile) * chunks * kBits * 32 + lane;

    uint4 buf[kDepth][kBits];
#pragma unroll
    for (int d = 0; d < kDepth; ++d)
        if (d < count) {
            const uint4* src = lane_codes + static_cast<int64_t>(first + d * kWarps) * kBits * 32;
#pragma unroll
            for (int s = 0; s < kBits; ++s) buf[d][s] = __ldcs(src + s * 32);
        }
    sn::cuda::build_pair_table<kBits, kWarps * 32>(table, lut, static_cast<int64_t>(tile) * kTileRows, n);
    __syncthreads();
    sn::cuda::wait_for_previous_grid();
    // Released after the wait, as the library's kernels do (moved here from the kernel's start on
    // 2026-12-08; the GEMV prototypes' times on an H100 did not change measurably).
    sn::cuda::allow_next_grid();

    const char* table_bytes = reinterpret_cast<const char*>(table);
    const uint32_t slot0 = 4u * static_cast<uint32_t>(lane);
    const __half* x_lane[kNT];
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) x_lane[nt] = x + static_cast<int64_t>(min(8 * nt + g, m - 1)) * k + 64 * t;
    float acc[kNT][4] = {};
    for (int i = 0; i < count; i += kDepth) {
#pragma unroll
        for (int d = 0; d < kDepth; ++d) {
            if (i + d < count) {
                const int chunk = first + (i + d) * kWarps;
                consume_chunk<kBits, kNT>(buf[d], x_lane, static_cast<int64_t>(chunk) * kTileChunk, table_bytes, slot0,
                                          acc);
                if (i + d + kDepth < count) {
                    const uint4* src = lane_codes + static_cast<int64_t>(chunk + kDepth * kWarps) * kBits * 32;
#pragma unroll
                    for (int s = 0; s < kBits; ++s) buf[d][s] = __ldcs(src + s * 32);
                }
            }
        }
    }
    // C fragment: acc[nt] = {C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]}, C[W row][x row 8nt + ..].
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
        warp_sums[warp][8 * nt + 2 * t][g] = acc[nt][0];
        warp_sums[warp][8 * nt + 2 * t + 1][g] = acc[nt][1];
        warp_sums[warp][8 * nt + 2 * t][g + 8] = acc[nt][2];
        warp_sums[warp][8 * nt + 2 * t + 1][g + 8] = acc[nt][3];
    }
    __syncthreads();
    if (warp != 0) return;
    // Lane = (x row rm, W row r) pairs: 16 W rows × m x rows, 32 at a time.
    for (int item = lane; item < m * kTileRows; item += 32) {
        const int rm = item / kTileRows, r = item % kTileRows;
        float total = 0.f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) total += warp_sums[w][rm][r];
        const int64_t row = static_cast<int64_t>(tile) * kTileRows + r;
        if (splits == 1) {
            out[static_cast<int64_t>(rm) * n + row] = __float2half_rn(total);
        } else {
            partials[(static_cast<int64_t>(split) * 8 * kNT + rm) * n + row] = total;
        }
    }
    if (splits == 1) return;
    __threadfence();
    __syncwarp();
    if (lane == 0) last_block = atomicAdd(tickets + tile, 1u) == static_cast<unsigned>(splits - 1);
    __syncwarp();
    if (!last_block) return;
    __threadfence();
    for (int item = lane; item < m * kTileRows; item += 32) {
        const int rm = item / kTileRows, r = item % kTileRows;
        const int64_t row = static_cast<int64_t>(tile) * kTileRows + r;
        float sum = 0.f;
        for (int s = 0; s < splits; ++s) sum += __ldcg(partials + (static_cast<int64_t>(s) * 8 * kNT + rm) * n + row);
        out[static_cast<int64_t>(rm) * n + row] = __float2half_rn(sum);
    }
    if (lane == 0) tickets[tile] = 0;
}

// ---- host side ----------------------------------------------------------------------------------

using KernelFn = void (*)(const uint4*, const __half*, const __half*, __half*, float*, unsigned*, int, int, int);

template <int kBits, int kNT>
KernelFn kernel_for(int warps, int depth) {
#define SN_CASE(W, D) \
    if (warps == W && depth == D) return tilepair_gemv<kBits, kNT, W, D>;
    SN_CASE(4, 2)
    SN_CASE(4, 3)
    SN_CASE(8, 2)
    SN_CASE(8, 3)
#undef SN_CASE
    return nullptr;
}

KernelFn kernel_for(int bits, int rows, int warps, int depth) {
    const bool two = rows > 8;
    if (bits == 3) return two ? kernel_for<3, 2>(warps, depth) : kernel_for<3, 1>(warps, depth);
    return two ? kernel_for<4, 2>(warps, depth) : kernel_for<4, 1>(warps, depth);
}

constexpr int kMaxRows = 16, kMaxSplits = 4;

// --one N K BITS M WARPS DEPTH: only the staged kernel in that configuration (for a profiler).
struct Only {
    bool staged = false;
    int m = 0, warps = 0, depth = 0;
};

void run_shape(int n, int k, int bits, cudaStream_t stream, const cudaDeviceProp& prop, double copy_gbs,
               const Only& only) {
    const Weights weights(n, k, bits, kMaxRows, 4321 + n + k + bits, 91u, pack_tilepair);
    const size_t code_bytes = weights.code_bytes;
    const int copies = weights.copies;
    std::vector<__half*> outs(copies);
    for (__half*& o : outs) CHECK(cudaMalloc(&o, static_cast<size_t>(kMaxRows) * n * sizeof(__half)));
    float* partials;
    unsigned* tickets;
    unsigned* sink;
    const int tiles = n / kTileRows;
    CHECK(cudaMalloc(&partials, static_cast<size_t>(kMaxSplits) * kMaxRows * n * sizeof(float)));
    CHECK(cudaMalloc(&tickets, tiles * sizeof(unsigned)));
    CHECK(cudaMemsetAsync(tickets, 0, tiles * sizeof(unsigned), stream));
    CHECK(cudaMalloc(&sink, sizeof(unsigned)));
    CHECK(cudaDeviceSynchronize());
    std::vector<double> ref(static_cast<size_t>(kMaxRows) * n);
    for (int m = 0; m < kMaxRows; ++m)
        for (int r = 0; r < n; ++r) ref[static_cast<size_t>(m) * n + r] = weights.reference(r, m);

    const int launches = std::max(copies, 24);
    const float read_us = time_graph(stream, launches, [&](int i) {
        return sn_bench::launch_stream_read(weights.packed[i % copies], code_bytes, sink,
                                            sn_bench::stream_read_blocks(prop), stream);
    });
    std::printf("%5dx%-5d %d-bit  %.2f MB  read-only %.2f us (%.0f%% of copy)\n", n, k, bits, code_bytes / 1e6, read_us,
                100.0 * code_bytes / (read_us * 1e3) / copy_gbs);
    const size_t table_bytes = bits == 3 ? sn::cuda::pair_table_bytes<3>() : sn::cuda::pair_table_bytes<4>();
    for (int rows : {1, 2, 4, 8, 16}) {
        if (only.staged) break;
        float best = 1e30f;
        int best_w = 0, best_s = 0, best_d = 0;
        for (int warps : {4, 8})
            for (int splits : {1, 2, 4})
                for (int depth : {2, 3}) {
                    KernelFn fn = kernel_for(bits, rows, warps, depth);
                    CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(table_bytes)));
                    auto launch = [&](int i) {
                        const int c = i % copies;
                        return sn::cuda::launch_chained(stream, true, fn, dim3(tiles, splits), dim3(warps * 32),
                                                        table_bytes, reinterpret_cast<const uint4*>(weights.packed[c]),
                                                        weights.luts[c], weights.x_device, outs[c], partials, tickets,
                                                        n, k, rows);
                    };
                    const Measured measured =
                        check_and_time(stream, launches, outs[0], ref.data(), static_cast<size_t>(rows) * n, launch);
                    const float us = measured.us;
                    const double rel = measured.rel;
                    const bool ok = rel < 2e-3;
                    std::printf("   M %2d warps %d splits %d depth %d: %7.2f us  %4.0f%% of copy  rel.err %.2e %s\n",
                                rows, warps, splits, depth, us, 100.0 * code_bytes / (us * 1e3) / copy_gbs, rel,
                                ok ? "ok" : "WRONG");
                    if (ok && us < best) {
                        best = us;
                        best_w = warps;
                        best_s = splits;
                        best_d = depth;
                    }
                }
        std::printf(
            "BEST tile-pair %5dx%-5d %d-bit M %2d: %.2f us (%.0f%% of copy; read-only %.2f us) warps %d splits %d "
            "depth %d\n",
            n, k, bits, rows, best, 100.0 * code_bytes / (best * 1e3) / copy_gbs, read_us, best_w, best_s, best_d);
    }
    // The staged library kernel (kernels/lut_pair_gemv.cu) on the same codes, LUT and x in the
    // library's pair-tiled layout: every warps × depth override, checked like the prototype.
    {
        const Weights staged(n, k, bits, kMaxRows, 4321 + n + k + bits, 91u, pack_pair_tiled);
        for (int rows : {1, 2, 4, 8, 16}) {
            if (only.staged && rows != only.m) continue;
            float best = 1e30f;
            int best_w = 0, best_d = 0;
            for (int warps : {4, 8})
                for (int depth : {2, 3, 4}) {
                    if (only.staged && (warps != only.warps || depth != only.depth)) continue;
                    auto launch = [&](int i) {
                        const int c = i % copies;
                        sn::cuda::LutGemvProblem p{};
                        p.x = staged.x_device;
                        p.packed = reinterpret_cast<const int32_t*>(staged.packed[c]);
                        p.lut = staged.luts[c];
                        p.out = outs[c];
                        p.bias_dtype = sn::cuda::GemvBias::none;
                        p.m = rows;
                        p.n = n;
                        p.k = k;
                        p.bits = bits;
                        p.warps = warps;
                        p.stages = depth;
                        p.weights_settled = true;
                        return sn::cuda::launch_lut_pair_gemv(p, stream, true);
                    };
                    const Measured measured =
                        check_and_time(stream, launches, outs[0], ref.data(), static_cast<size_t>(rows) * n, launch);
                    const float us = measured.us;
                    const double rel = measured.rel;
                    const bool ok = rel < 2e-3;
                    std::printf("   staged M %2d warps %d depth %d: %7.2f us  %4.0f%% of copy  rel.err %.2e %s\n", rows,
                                warps, depth, us, 100.0 * code_bytes / (us * 1e3) / copy_gbs, rel, ok ? "ok" : "WRONG");
                    if (ok && us < best) {
                        best = us;
                        best_w = warps;
                        best_d = depth;
                    }
                }
            std::printf("BEST staged lut_pair_gemv %5dx%-5d %d-bit M %2d: %.2f us (%.0f%% of copy) warps %d depth %d\n",
                        n, k, bits, rows, best, 100.0 * code_bytes / (best * 1e3) / copy_gbs, best_w, best_d);
        }
    }
    for (__half* o : outs) CHECK(cudaFree(o));
    CHECK(cudaFree(partials));
    CHECK(cudaFree(tickets));
    CHECK(cudaFree(sink));
}

}  // namespace

// proto_tilepair [--self-test] [SHAPES] [--one N K BITS M WARPS DEPTH]: SHAPES = how many of the
// issue's shapes (default all six); --one: only the staged kernel of that shape and configuration
// (M in 1, 2, 4, 8, 16; warps 4 or 8; depth 2, 3 or 4), e.g. under Nsight Compute.
int main(int argc, char** argv) {
    size_t shape_count = 6;
    Only only;
    int one_n = 0, one_k = 0, one_bits = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--self-test") return tp_self_test();
        if (arg == "--one" && i + 6 < argc) {
            one_n = std::atoi(argv[i + 1]);
            one_k = std::atoi(argv[i + 2]);
            one_bits = std::atoi(argv[i + 3]);
            only = Only{true, std::atoi(argv[i + 4]), std::atoi(argv[i + 5]), std::atoi(argv[i + 6])};
            i += 6;
            const bool m_ok = only.m == 1 || only.m == 2 || only.m == 4 || only.m == 8 || only.m == 16;
            if (one_n % kTileRows != 0 || one_n <= 0 || one_k % kTileChunk != 0 || one_k <= 0 ||
                (one_bits != 3 && one_bits != 4) || !m_ok || (only.warps != 4 && only.warps != 8) || only.depth < 2 ||
                only.depth > 4) {
                std::fprintf(stderr,
                             "--one N K BITS M WARPS DEPTH: N a multiple of 16, K of 256, BITS 3 or 4, "
                             "M 1/2/4/8/16, WARPS 4 or 8, DEPTH 2..4\n");
                return 2;
            }
            continue;
        }
        shape_count = static_cast<size_t>(std::atoi(argv[i]));
    }
    if (tp_self_test() != 0) return 1;
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t stream;
    CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const double copy_gbs = copy_bandwidth(stream);
    std::printf("%s, %d SMs, copy bandwidth %.0f GB/s\n", prop.name, prop.multiProcessorCount, copy_gbs);
    const int shapes[6][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {14336, 4096}, {4096, 14336}, {32000, 4096}};
    if (only.staged) {
        run_shape(one_n, one_k, one_bits, stream, prop, copy_gbs, only);
        return 0;
    }
    for (size_t s = 0; s < std::min<size_t>(6, shape_count); ++s)
        for (int bits : {3, 4}) run_shape(shapes[s][0], shapes[s][1], bits, stream, prop, copy_gbs, only);
    return 0;
}
