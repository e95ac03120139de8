// Standalone prototype, measured before any library change: a LUT-GEMV (M = 1 .. 8) that looks
// codes up in a shared-memory table of code PAIRS, one output row per lane (layout and table:
// proto_rowlane.cuh), instead of the library's register-table lookup (prmt) feeding mma
// (kernels/lut_gemv.cu).
//
// Why: the library's M = 1 kernel is bound by the integer ALU pipe (about 1.5 ALU instructions per
// weight: 1 prmt + selector masks and shifts; 2 warp-instructions per clock per SM), so its decode
// barely fits under the transfer and does not overlap it. Here a lookup costs, per PAIR of weights:
//   1 LDS.32 (the pair's two fp16 values as one half2; MIO pipe, 1 warp-instruction per clock),
//   1 shift + 1 LOP3 (the pair's 6- or 8-bit index moved to bits 7.. of a shared-memory address;
//   ALU), 1 HFMA2 per row of x (FMA pipe), plus a quarter of a broadcast x load per row of x;
//   spreading the decode over three pipes, each under the transfer time at M = 1.
// All warps of a block serve the same 32 rows, so one pair table serves the block.
//
#include "bench_stream_read.h"
#include "proto_rowlane.cuh"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace proto;

#if defined(__CUDACC__)
__device__ __forceinline__ __half2 x_pair(const uint4& v, int j) {
    const uint32_t bits = j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
    return *reinterpret_cast<const __half2*>(&bits);
}

struct Acc {
    float lo = 0.f, hi = 0.f;
    __device__ __forceinline__ void add(__half2 h) {
        const float2 f = __half22float2(h);
        lo += f.x;
        hi += f.y;
    }
};

// One chunk (128 inputs) of a lane's row for kRows rows of x (x rows `x_stride` uint4 apart): 64
// lookups, each used by every row of x; fp16 partial sums over 8 pairs, then F32 — or, kF32 (the
// issue's "F32 accumulation"), every product in F32 (both halves widened, two FFMA per pair: four
// more FMA-pipe instructions per pair, whose cost this variant measures).
template <int kBits, int kRows, bool kF32>
__device__ __forceinline__ void consume_chunk(const uint4 (&slabs)[kBits], const uint4* xv, int64_t x_stride,
                                              const char* table, uint32_t lane_bytes, Acc (&acc)[kRows]) {
    uint32_t w[4 * kBits];
    sn::cuda::unpack_slabs<kBits>(slabs, w);
#pragma unroll
    for (int h = 0; h < 8; ++h) {  // 8 pairs (16 inputs, two uint4 of x per row) per partial sum
        uint4 xq[kRows][2];
#pragma unroll
        for (int m = 0; m < kRows; ++m)
#pragma unroll
            for (int u = 0; u < 2; ++u) xq[m][u] = __ldg(xv + m * x_stride + 2 * h + u);
        __half2 part[kRows];
#pragma unroll
        for (int m = 0; m < kRows; ++m) part[m] = __float2half2_rn(0.f);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const uint32_t address = pair_address<kBits>(w, 8 * h + i, lane_bytes);
            const __half2 v = lookup(table, address);
#pragma unroll
            for (int m = 0; m < kRows; ++m) {
                if constexpr (kF32) {
                    const float2 fv = __half22float2(v), fx = __half22float2(x_pair(xq[m][i / 4], i % 4));
                    acc[m].lo = fmaf(fv.x, fx.x, acc[m].lo);
                    acc[m].hi = fmaf(fv.y, fx.y, acc[m].hi);
                } else {
                    part[m] = __hfma2(v, x_pair(xq[m][i / 4], i % 4), part[m]);
                }
            }
        }
        if constexpr (!kF32) {
#pragma unroll
            for (int m = 0; m < kRows; ++m) acc[m].add(part[m]);
        }
    }
}

// out[m][row] = Σ_k lut[row][code(row, k)] · x[m][k] for kRows rows of x. Block (group, split): the
// 32 rows of `group`, the chunks [split·chunks/splits, (split+1)·chunks/splits), warp w taking every
// kWarps-th of them; kDepth chunks of codes in flight per warp (registers). Split sums meet in
// `partials` and the last block of a group (ticket) adds them in split order (deterministic).
template <int kBits, int kRows, int kWarps, int kDepth, bool kF32 = false>
__global__ void __launch_bounds__(kWarps * 32)
    rowlane_gemv(const uint4* __restrict__ packed, const __half* __restrict__ lut, const __half* __restrict__ x,
                 __half* __restrict__ out, float* __restrict__ partials, unsigned* __restrict__ tickets, int n, int k) {
    extern __shared__ uint32_t table[];  // [L²][32], L = 2^kBits
    __shared__ float warp_sums[kWarps][kRows][32];
    __shared__ bool last_block;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int group = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    const int chunks = k / kChunk;
    const int c_begin = static_cast<int>(static_cast<int64_t>(split) * chunks / splits);
    const int c_end = static_cast<int>(static_cast<int64_t>(split + 1) * chunks / splits);
    const int first = c_begin + warp;
    const int count = first < c_end ? (c_end - first + kWarps - 1) / kWarps : 0;
    const uint4* lane_codes = packed + static_cast<int64_t>(group) * chunks * kBits * 32 + lane;

    // The first kDepth chunks are requested before anything else (weights: settled).
    uint4 buf[kDepth][kBits];
#pragma unroll
    for (int d = 0; d < kDepth; ++d)
        if (d < count) {
            const uint4* src = lane_codes + static_cast<int64_t>(first + d * kWarps) * kBits * 32;
#pragma unroll
            for (int s = 0; s < kBits; ++s) buf[d][s] = __ldcs(src + s * 32);
        }

    // The pair table of the block's 32 rows, while the first chunks are in flight.
    build_pair_table<kBits>(table, lut, static_cast<int64_t>(group) * 32 + lane, lane, warp, kWarps);
    __syncthreads();
    sn::cuda::wait_for_previous_grid();
    // Released after the wait, as the library's kernels do (moved here from the kernel's start on
    // 2026-12-08; the GEMV prototypes' times on an H100 did not change measurably).
    sn::cuda::allow_next_grid();

    const char* table_bytes = reinterpret_cast<const char*>(table);
    const uint32_t lane_bytes = static_cast<uint32_t>(lane) * 4u;
    const uint4* xv = reinterpret_cast<const uint4*>(x);
    const int64_t x_stride = k / 8;
    Acc acc[kRows];
    for (int i = 0; i < count; i += kDepth) {
#pragma unroll
        for (int d = 0; d < kDepth; ++d) {
            if (i + d < count) {
                const int chunk = first + (i + d) * kWarps;
                consume_chunk<kBits, kRows, kF32>(buf[d], xv + static_cast<int64_t>(chunk) * (kChunk / 8), x_stride,
                                                  table_bytes, lane_bytes, acc);
                if (i + d + kDepth < count) {
                    const uint4* src = lane_codes + static_cast<int64_t>(chunk + kDepth * kWarps) * kBits * 32;
#pragma unroll
                    for (int s = 0; s < kBits; ++s) buf[d][s] = __ldcs(src + s * 32);
                }
            }
        }
    }
#pragma unroll
    for (int m = 0; m < kRows; ++m) warp_sums[warp][m][lane] = acc[m].lo + acc[m].hi;
    __syncthreads();
    if (warp != 0) return;
    const int row = group * 32 + lane;
    float total[kRows];
#pragma unroll
    for (int m = 0; m < kRows; ++m) {
        total[m] = 0.f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) total[m] += warp_sums[w][m][lane];
    }
    if (splits == 1) {
#pragma unroll
        for (int m = 0; m < kRows; ++m) out[static_cast<int64_t>(m) * n + row] = __float2half_rn(total[m]);
        return;
    }
#pragma unroll
    for (int m = 0; m < kRows; ++m) partials[(static_cast<int64_t>(split) * kRows + m) * n + row] = total[m];
    __threadfence();
    __syncwarp();
    if (lane == 0) last_block = atomicAdd(tickets + group, 1u) == static_cast<unsigned>(splits - 1);
    __syncwarp();
    if (!last_block) return;
    __threadfence();
#pragma unroll
    for (int m = 0; m < kRows; ++m) {
        float sum = 0.f;
        for (int s = 0; s < splits; ++s) sum += __ldcg(partials + (static_cast<int64_t>(s) * kRows + m) * n + row);
        out[static_cast<int64_t>(m) * n + row] = __float2half_rn(sum);
    }
    if (lane == 0) tickets[group] = 0;
}
#endif

// ---- host side ----------------------------------------------------------------------------------

struct Config {
    int warps, splits, depth;
};

using KernelFn = void (*)(const uint4*, const __half*, const __half*, __half*, float*, unsigned*, int, int);

template <int kBits, int kRows>
KernelFn kernel_for(int warps, int depth) {
#define SN_CASE(W, D) \
    if (warps == W && depth == D) return rowlane_gemv<kBits, kRows, W, D>;
    if constexpr (kRows == 0) {  // one row of x, F32 accumulation
        if (warps == 8 && depth == 2) return rowlane_gemv<kBits, 1, 8, 2, true>;
        if (warps == 16 && depth == 2) return rowlane_gemv<kBits, 1, 16, 2, true>;
    } else if constexpr (kRows == 1) {
        SN_CASE(4, 2) SN_CASE(4, 3) SN_CASE(8, 2) SN_CASE(8, 3) SN_CASE(16, 2) SN_CASE(16, 3)
    } else {
        SN_CASE(8, 2) SN_CASE(16, 2)
    }
#undef SN_CASE
    return nullptr;
}

KernelFn kernel_for(int bits, int rows, int warps, int depth) {
    switch (rows * 10 + bits) {  // rows 0: one row of x, F32 accumulation
        case 3:
            return kernel_for<3, 0>(warps, depth);
        case 4:
            return kernel_for<4, 0>(warps, depth);
        case 13:
            return kernel_for<3, 1>(warps, depth);
        case 14:
            return kernel_for<4, 1>(warps, depth);
        case 23:
            return kernel_for<3, 2>(warps, depth);
        case 24:
            return kernel_for<4, 2>(warps, depth);
        case 43:
            return kernel_for<3, 4>(warps, depth);
        case 44:
            return kernel_for<4, 4>(warps, depth);
        case 83:
            return kernel_for<3, 8>(warps, depth);
        case 84:
            return kernel_for<4, 8>(warps, depth);
        default:
            return nullptr;
    }
}

struct Shape {
    int n, k;
};

constexpr int kMaxRows = 8, kMaxSplits = 8;

void run_shape(const Shape& shape, int bits, cudaStream_t stream, const cudaDeviceProp& prop, double copy_gbs,
               bool all_configs) {
    const int n = shape.n, k = shape.k, levels = 1 << bits;
    const Weights weights(n, k, bits, kMaxRows, 1234 + n + k + bits, 77u);
    const size_t code_bytes = weights.code_bytes;
    const int copies = weights.copies;
    const std::vector<uint32_t*>& packed = weights.packed;
    const std::vector<__half*>& luts = weights.luts;
    const __half* x = weights.x_device;
    std::vector<__half*> outs(copies);
    for (__half*& o : outs) CHECK(cudaMalloc(&o, static_cast<size_t>(kMaxRows) * n * sizeof(__half)));
    float* partials;
    unsigned* tickets;
    unsigned* sink;
    CHECK(cudaMalloc(&partials, static_cast<size_t>(kMaxSplits) * kMaxRows * n * sizeof(float)));
    CHECK(cudaMalloc(&tickets, (n / 32) * sizeof(unsigned)));
    CHECK(cudaMemsetAsync(tickets, 0, (n / 32) * sizeof(unsigned), stream));
    CHECK(cudaMalloc(&sink, sizeof(unsigned)));
    CHECK(cudaDeviceSynchronize());

    // Reference (double) of copy 0 for every row of x.
    std::vector<double> ref(static_cast<size_t>(kMaxRows) * n);
    for (int m = 0; m < kMaxRows; ++m)
        for (int r = 0; r < n; ++r) ref[static_cast<size_t>(m) * n + r] = weights.reference(r, m);

    const int launches = std::max(copies, 24);
    const float read_us = time_graph(stream, launches, [&](int i) {
        return sn_bench::launch_stream_read(packed[i % copies], code_bytes, sink, sn_bench::stream_read_blocks(prop),
                                            stream);
    });
    std::printf("%5dx%-5d %d-bit  %.2f MB  read-only %.2f us (%.0f%% of copy)\n", n, k, bits, code_bytes / 1e6, read_us,
                100.0 * code_bytes / (read_us * 1e3) / copy_gbs);

    const int groups = n / 32;
    const size_t table_bytes = static_cast<size_t>(levels) * levels * 32 * 4;
    for (int variant : {1, 0, 2, 4, 8}) {  // 0: one row of x with F32 accumulation
        const int rows = variant == 0 ? 1 : variant;
        float best = 1e30f;
        Config best_config{};
        for (int warps : {4, 8, 16})
            for (int splits : {1, 2, 4, 8})
                for (int depth : {2, 3}) {
                    if (variant != 1 && (warps == 4 || depth == 3 || splits == 8)) continue;
                    if (!all_configs && rows == 1 && splits == 8) continue;
                    KernelFn fn = kernel_for(bits, variant, warps, depth);
                    if (fn == nullptr) continue;
                    CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(table_bytes)));
                    auto launch = [&](int i) {
                        const int c = i % copies;
                        return sn::cuda::launch_chained(stream, true, fn, dim3(groups, splits), dim3(warps * 32),
                                                        table_bytes, reinterpret_cast<const uint4*>(packed[c]), luts[c],
                                                        x, outs[c], partials, tickets, n, k);
                    };
                    // Correctness on copy 0: poison, run, compare every row of x; again after the timed
                    // graph (its launches of copy 0 ran chained behind others, PDL overlapping them).
                    const Measured measured =
                        check_and_time(stream, launches, outs[0], ref.data(), static_cast<size_t>(rows) * n, launch);
                    const float us = measured.us;
                    const double rel = measured.rel;
                    const bool ok = rel < 2e-3;  // 1e30: not finite
                    std::printf("   M %d%s warps %2d splits %d depth %d: %7.2f us  %4.0f%% of copy  rel.err %.2e %s\n",
                                rows, variant == 0 ? " f32" : "", warps, splits, depth, us,
                                100.0 * code_bytes / (us * 1e3) / copy_gbs, rel, ok ? "ok" : "WRONG");
                    if (ok && us < best) {
                        best = us;
                        best_config = Config{warps, splits, depth};
                    }
                }
        std::printf(
            "BEST %5dx%-5d %d-bit M %d%s: %.2f us (%.0f%% of copy; read-only %.2f us) warps %d splits %d depth %d\n", n,
            k, bits, rows, variant == 0 ? " f32" : "", best, 100.0 * code_bytes / (best * 1e3) / copy_gbs, read_us,
            best_config.warps, best_config.splits, best_config.depth);
    }
    for (__half* o : outs) CHECK(cudaFree(o));
    CHECK(cudaFree(partials));
    CHECK(cudaFree(tickets));
    CHECK(cudaFree(sink));
}

}  // namespace

// proto [--self-test] [--all] [SHAPES]: SHAPES = how many of the issue's shapes (default all six).
int main(int argc, char** argv) {
    bool all_configs = false;
    size_t shape_count = 6;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--self-test") return self_test();
        if (arg == "--all") {
            all_configs = true;
        } else {
            shape_count = static_cast<size_t>(std::atoi(argv[i]));
        }
    }
    if (self_test() != 0) return 1;
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t stream;
    CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const double copy_gbs = copy_bandwidth(stream);
    std::printf("%s, %d SMs, copy bandwidth %.0f GB/s\n", prop.name, prop.multiProcessorCount, copy_gbs);
    std::vector<Shape> shapes = {{4096, 4096},  {11008, 4096}, {4096, 11008},
                                 {14336, 4096}, {4096, 14336}, {32000, 4096}};
    shapes.resize(std::min(shapes.size(), shape_count));
    for (const Shape& s : shapes)
        for (int bits : {3, 4}) run_shape(s, bits, stream, prop, copy_gbs, all_configs);
    return 0;
}
