// Standalone prototype, measured before any library change: a LUT-GEMM (M = 16 .. 256 rows of x)
// on the row-lane layout of proto_rowlane.cuh, for the question whether one layout can serve both
// the pair-table GEMV (proto_rowlane_gemv.cu) and prefill.
//
// Why this shape. The library's LUT-GEMM (kernels/lut_gemm.cu) decodes every weight in registers
// into mma A fragments once per 64 rows of x, about 18 instructions per fragment beside 8 mma;
// it runs at about 215 TFLOPS of mma.sync whatever the shape (0.64-0.91x cuBLAS fp16 at M = 128).
// Here each block decodes its 64 rows of W once per 128-input chunk into an F16 tile in shared
// memory (the pair table: one LDS per two weights, four pairs per 16-byte store), and its warps
// then multiply that tile with x's tile (ldmatrix + mma.m16n8k16), so the decode costs per weight
// about 1/2 LDS + 1/8 STS.128 per block instead of per fragment and warp.
//
// Block (bx, by, bz): x rows kXRows·bx .., W rows 64·by .. +63 (row-lane groups 2by, 2by+1: the
// blocks of one W tile are consecutive, so its codes come from DRAM once and then from L2),
// the chunks [bz·chunks/splits, (bz+1)·chunks/splits) of K. 2·kWarpsX warps:
//   decode: warp w decodes group h = w & 1 (row 32h + lane), pairs seg·P .. seg·P + P − 1 of
//     each chunk (seg = w >> 1, P = 64 / kWarpsX), from its lane's codes (kBits 16-byte loads per
//     chunk, two chunks ahead in registers; the kWarpsX warps of a group read the same loads
//     through L1), into the F16 tile W_s[buf][row][unit], 16 units of 8 inputs per row.
//   multiply: warp w takes W rows 32·(w & 1) .. +31 (two m-tiles) and x rows (w >> 1)·kXRows/kWarpsX
//     .. (kNT n-tiles of 8); per 16 inputs 2 ldmatrix.x4 for A, kNT/2 for B, 2·kNT mma.
// Shared-memory tiles are rows of 16 units of 16 bytes, unit u of row r stored at u ^ (r & 7), so
// that both the decode's 16-byte stores (32 rows, one unit each) and ldmatrix (8 rows, one unit
// each) touch 8 different unit columns per 128 bytes: conflict-free.
// Pipeline per chunk i: decode(i) into W_s[i & 1]; wait for x(i) (cp.async, kXStages stages);
// barrier; request x(i + kXStages − 1); multiply. One barrier per chunk: W_s[i & 1] was last read
// by multiply(i − 2) and the x stage refilled by multiply(i − 1), both before every warp's
// decode(i), which precedes the barrier.
// Splits of K meet in F32 partials; the last block of a tile (ticket) sums them in split order.
//
// `run-gpu.sh RES build proto-rowlane-gemm` runs it: M = 16, 40, 64, 128, 256 for the issue's six
// products, every launch shape checked against float64 on a sample of W rows, timed beside
// cuBLAS fp16 GEMM of the same shape in the same run.
#include "bench_stream_read.h"
#include "kernels/lut_decode.cuh"  // commit_copies, wait_copies
#include "proto_rowlane.cuh"

#include <cublas_v2.h>

namespace {

using namespace proto;
using sn::cuda::commit_copies;
using sn::cuda::wait_copies;

constexpr int kBlockRows = 64;      // W rows per block (two row-lane groups)
constexpr int kUnits = kChunk / 8;  // 16-byte units of 8 inputs per tile row

__device__ __forceinline__ uint32_t shared_address(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void copy_16(void* shared_slot, const void* global, bool inside) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(shared_slot)), "l"(global),
                 "r"(inside ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(p)));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(shared_address(p)));
}
// Unit u of tile row r (rows of kUnits 16-byte units, swizzled).
__device__ __forceinline__ uint4* tile_unit(uint4* tile, int r, int u) {
    return tile + r * kUnits + (u ^ (r & 7));
}

// Decodes pairs kFirst .. kFirst + kCount − 1 of one lane's chunk (codes: its kBits loads) into
// tile row `row`: four pairs (8 inputs) per 16-byte store.
template <int kBits, int kFirst, int kCount>
__device__ __forceinline__ void decode_pairs(const uint4 (&codes)[kBits], const char* table, uint32_t lane_bytes,
                                             uint4* tile, int row) {
    uint32_t w[4 * kBits];
    sn::cuda::unpack_slabs<kBits>(codes, w);
#pragma unroll
    for (int q = 0; q < kCount / 4; ++q) {
        uint32_t v[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int j = kFirst + 4 * q + i;
            v[i] = *reinterpret_cast<const uint32_t*>(table + pair_address<kBits>(w, j, lane_bytes));
        }
        *tile_unit(tile, row, kFirst / 4 + q) = make_uint4(v[0], v[1], v[2], v[3]);
    }
}

template <int kBits, int kSegments>
__device__ __forceinline__ void decode_segment(int segment, const uint4 (&codes)[kBits], const char* table,
                                               uint32_t lane_bytes, uint4* tile, int row) {
    constexpr int kCount = 64 / kSegments;
    // segment is uniform over the warp: one branch per warp, each with constant word indices.
    switch (segment) {
        case 0:
            decode_pairs<kBits, 0, kCount>(codes, table, lane_bytes, tile, row);
            break;
        case 1:
            if constexpr (kSegments > 1) decode_pairs<kBits, kCount, kCount>(codes, table, lane_bytes, tile, row);
            break;
        case 2:
            if constexpr (kSegments > 2) decode_pairs<kBits, 2 * kCount, kCount>(codes, table, lane_bytes, tile, row);
            break;
        default:
            if constexpr (kSegments > 3) decode_pairs<kBits, 3 * kCount, kCount>(codes, table, lane_bytes, tile, row);
            break;
    }
}

template <int kXRows>
__host__ __device__ constexpr int x_stages() {
    return kXRows >= 128 ? 2 : 3;
}

template <int kBits, int kXRows, int kWarpsX>
constexpr size_t gemm_shared_bytes() {
    return static_cast<size_t>(2) * (1 << (2 * kBits)) * 32 * 4               // pair tables of the two groups
           + static_cast<size_t>(2) * kBlockRows * kUnits * 16                // W tiles, double-buffered
           + static_cast<size_t>(x_stages<kXRows>()) * kXRows * kUnits * 16;  // x stages
}

template <int kBits, int kXRows, int kWarpsX>
__global__ void __launch_bounds__(64 * kWarpsX)
    rowlane_gemm(const uint4* __restrict__ packed, const __half* __restrict__ lut, const __half* __restrict__ x,
                 __half* __restrict__ out, float* __restrict__ partials, unsigned* __restrict__ tickets, int m, int n,
                 int k) {
    constexpr int kWarps = 2 * kWarpsX, kThreads = 32 * kWarps;
    constexpr int kEntries = 1 << (2 * kBits);
    constexpr int kXStages = x_stages<kXRows>();
    constexpr int kWarpXRows = kXRows / kWarpsX;  // x rows of a warp's tile
    constexpr int kNT = kWarpXRows / 8;           // its n-tiles
    static_assert(kNT >= 1 && (kNT == 1 || kNT % 2 == 0), "a warp takes 8 x rows or an even number of n-tiles");
    extern __shared__ uint4 shared[];
    uint32_t* tables = reinterpret_cast<uint32_t*>(shared);  // [2][kEntries][32]
    uint4* w_tiles = shared + 2 * kEntries * 32 * 4 / 16;    // [2][64][16]
    uint4* x_tiles = w_tiles + 2 * kBlockRows * kUnits;      // [kXStages][kXRows][16]
    __shared__ bool last_block;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int h = warp & 1, segment = warp >> 1;
    const int n0 = blockIdx.y * kBlockRows, m0 = blockIdx.x * kXRows;
    const int split = blockIdx.z, splits = gridDim.z;
    const int chunks = k / kChunk;
    const int c_begin = static_cast<int>(static_cast<int64_t>(split) * chunks / splits);
    const int c_end = static_cast<int>(static_cast<int64_t>(split + 1) * chunks / splits);
    const int count = c_end - c_begin;
    const int group = blockIdx.y * 2 + h;
    const uint4* lane_codes = packed + static_cast<int64_t>(group) * chunks * kBits * 32 + lane;

    uint4 codes[2][kBits];
#pragma unroll
    for (int d = 0; d < 2; ++d)
        if (d < count) {
#pragma unroll
            for (int s = 0; s < kBits; ++s) codes[d][s] = __ldcg(lane_codes + (int64_t(c_begin + d) * kBits + s) * 32);
        }
    build_pair_table<kBits>(tables + h * kEntries * 32, lut, static_cast<int64_t>(n0) + 32 * h + lane, lane, segment,
                            kWarpsX);
    sn::cuda::wait_for_previous_grid();
    // Released after the wait, as the library's kernels do (moved here from the kernel's start on
    // 2026-12-08; the GEMV prototypes' times on an H100 did not change measurably).
    sn::cuda::allow_next_grid();

    auto request_x = [&](int i) {  // x rows m0 .. of chunk c_begin + i into stage i % kXStages
        if (i < count) {
            uint4* stage = x_tiles + (i % kXStages) * kXRows * kUnits;
            const int c = c_begin + i;
#pragma unroll
            for (int j = 0; j < kXRows * kUnits / kThreads; ++j) {
                const int unit = threadIdx.x + j * kThreads, r = unit / kUnits, u = unit % kUnits;
                const bool inside = m0 + r < m;
                const __half* src = x + static_cast<int64_t>(inside ? m0 + r : 0) * k + c * kChunk + 8 * u;
                copy_16(tile_unit(stage, r, u), src, inside);
            }
        }
        commit_copies();  // one group per chunk, empty ones included: wait_copies counts them
    };
#pragma unroll
    for (int i = 0; i < kXStages - 1; ++i) request_x(i);
    __syncthreads();  // the pair tables

    float acc[2][kNT][4] = {};
    const char* table = reinterpret_cast<const char*>(tables + h * kEntries * 32);
    const uint32_t lane_bytes = 4u * lane;
    const int wr = warp & 1, wc = warp >> 1;

    auto step = [&](int i, const uint4(&chunk_codes)[kBits], uint4(&refill)[kBits]) {
        uint4* w_tile = w_tiles + (i & 1) * kBlockRows * kUnits;
        decode_segment<kBits, kWarpsX>(segment, chunk_codes, table, lane_bytes, w_tile, 32 * h + lane);
        if (i + 2 < count) {
#pragma unroll
            for (int s = 0; s < kBits; ++s)
                refill[s] = __ldcg(lane_codes + (int64_t(c_begin + i + 2) * kBits + s) * 32);
        }
        wait_copies<kXStages - 2>();
        __syncthreads();
        request_x(i + kXStages - 1);
        const uint4* x_tile = x_tiles + (i % kXStages) * kXRows * kUnits;
#pragma unroll
        for (int ks = 0; ks < kChunk / 16; ++ks) {
            uint32_t a[2][4];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) {
                const int r = 32 * wr + 16 * mt + (lane & 7) + ((lane >> 3) & 1) * 8;
                ldmatrix_x4(a[mt], tile_unit(w_tile, r, 2 * ks + (lane >> 4)));
            }
            uint32_t b[kNT][2];
            if constexpr (kNT == 1) {
                const int r = kWarpXRows * wc + (lane & 7);
                ldmatrix_x2(b[0], tile_unit(const_cast<uint4*>(x_tile), r, 2 * ks + ((lane >> 3) & 1)));
            } else {
#pragma unroll
                for (int nt = 0; nt < kNT; nt += 2) {
                    uint32_t r4[4];
                    const int r = kWarpXRows * wc + 8 * nt + (lane & 7) + (lane >> 4) * 8;
                    ldmatrix_x4(r4, tile_unit(const_cast<uint4*>(x_tile), r, 2 * ks + ((lane >> 3) & 1)));
                    b[nt][0] = r4[0];
                    b[nt][1] = r4[1];
                    b[nt + 1][0] = r4[2];
                    b[nt + 1][1] = r4[3];
                }
            }
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int nt = 0; nt < kNT; ++nt) sn::cuda::mma_w_by_x(acc[mt][nt], a[mt], b[nt][0], b[nt][1]);
        }
    };
    for (int i = 0; i < count; i += 2) {
        step(i, codes[0], codes[0]);
        if (i + 1 < count) step(i + 1, codes[1], codes[1]);
    }

    // C fragment (m16n8): c0, c1 = W row g, x rows 2t, 2t+1; c2, c3 = W row g + 8.
    const int g = lane >> 2, t = lane & 3;
    auto for_each_output = [&](auto&& f) {
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int wrow = 32 * wr + 16 * mt + g + (e >> 1) * 8;
                    const int xrow = kWarpXRows * wc + 8 * nt + 2 * t + (e & 1);
                    f(wrow, xrow, acc[mt][nt][e]);
                }
    };
    if (splits == 1) {
        for_each_output([&](int wrow, int xrow, float v) {
            if (m0 + xrow < m) out[static_cast<int64_t>(m0 + xrow) * n + n0 + wrow] = __float2half_rn(v);
        });
        return;
    }
    const int64_t tile = static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x;  // (W block, x block)
    float* tile_partials = partials + tile * splits * kBlockRows * kXRows;
    for_each_output([&](int wrow, int xrow, float v) {
        tile_partials[(static_cast<int64_t>(split) * kXRows + xrow) * kBlockRows + wrow] = v;
    });
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last_block = atomicAdd(tickets + tile, 1u) == static_cast<unsigned>(splits - 1);
    __syncthreads();
    if (!last_block) return;
    __threadfence();
    for (int i = threadIdx.x; i < kBlockRows * kXRows; i += kThreads) {
        const int xrow = i / kBlockRows, wrow = i % kBlockRows;
        float sum = 0.f;
        for (int s = 0; s < splits; ++s)
            sum += __ldcg(tile_partials + static_cast<int64_t>(s) * kXRows * kBlockRows + i);
        if (m0 + xrow < m) out[static_cast<int64_t>(m0 + xrow) * n + n0 + wrow] = __float2half_rn(sum);
    }
    if (threadIdx.x == 0) tickets[tile] = 0;
}

using KernelFn = void (*)(const uint4*, const __half*, const __half*, __half*, float*, unsigned*, int, int, int);

struct Variant {
    int x_rows, warps_x;
    KernelFn fn3, fn4;
    size_t shared3, shared4;
};

template <int kXRows, int kWarpsX>
Variant variant() {
    return Variant{kXRows,
                   kWarpsX,
                   rowlane_gemm<3, kXRows, kWarpsX>,
                   rowlane_gemm<4, kXRows, kWarpsX>,
                   gemm_shared_bytes<3, kXRows, kWarpsX>(),
                   gemm_shared_bytes<4, kXRows, kWarpsX>()};
}

const std::vector<Variant>& variants() {
    static const std::vector<Variant> all = {variant<16, 1>(),  variant<16, 2>(), variant<32, 1>(), variant<32, 2>(),
                                             variant<32, 4>(),  variant<64, 1>(), variant<64, 2>(), variant<64, 4>(),
                                             variant<128, 2>(), variant<128, 4>()};
    return all;
}

__global__ void dequantize_rowlane_reference(const uint8_t* codes, const __half* lut, __half* w, int64_t count,
                                             int levels, int k) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        w[i] = lut[(i / k) * levels + codes[i]];
}

#define CUBLAS_CHECK(call)                                                                                  \
    do {                                                                                                    \
        cublasStatus_t s_ = (call);                                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                  \
            std::fprintf(stderr, "%s:%d %s: cuBLAS %d\n", __FILE__, __LINE__, #call, static_cast<int>(s_)); \
            std::exit(1);                                                                                   \
        }                                                                                                   \
    } while (0)

struct Shape {
    int n, k;
};

// Median µs of `reps` back-to-back calls between two events (9 batches); for cuBLAS.
template <class Call>
float time_loop(cudaStream_t stream, int reps, Call&& call) {
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    for (int i = 0; i < reps; ++i) call(i);
    std::vector<float> t;
    for (int b = 0; b < 9; ++b) {
        CHECK(cudaEventRecord(e0, stream));
        for (int i = 0; i < reps; ++i) call(i);
        CHECK(cudaEventRecord(e1, stream));
        CHECK(cudaEventSynchronize(e1));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1000.f / reps);
    }
    CHECK(cudaEventDestroy(e0));
    CHECK(cudaEventDestroy(e1));
    return median(t);
}

constexpr int kMaxM = 256, kMaxSplits = 4;

void run_shape(const Shape& shape, int bits, cudaStream_t stream, cublasHandle_t cublas, double copy_gbs) {
    const int n = shape.n, k = shape.k, levels = 1 << bits;
    const Weights weights(n, k, bits, kMaxM, 4321 + n + k + bits, 91u);
    const size_t code_bytes = weights.code_bytes;
    const int copies = weights.copies;
    const std::vector<uint32_t*>& packed = weights.packed;
    const std::vector<__half*>& luts = weights.luts;
    const std::vector<uint8_t>& codes = weights.codes;
    const __half* x = weights.x_device;
    // cuBLAS's weight: the same W in F16 (copy 0 dequantized; enough copies to pass the L2).
    const size_t f16_bytes = static_cast<size_t>(n) * k * 2;
    const int f16_copies = static_cast<int>(std::max<size_t>(2, (256ull << 20) / f16_bytes + 1));
    std::vector<__half*> w16(f16_copies);
    {
        uint8_t* codes_d;
        CHECK(cudaMalloc(&codes_d, codes.size()));
        CHECK(cudaMemcpy(codes_d, codes.data(), codes.size(), cudaMemcpyHostToDevice));
        for (int c = 0; c < f16_copies; ++c) {
            CHECK(cudaMalloc(&w16[c], f16_bytes));
            dequantize_rowlane_reference<<<2048, 256>>>(codes_d, luts[0], w16[c], static_cast<int64_t>(n) * k, levels,
                                                        k);
            CHECK(cudaGetLastError());
        }
        CHECK(cudaDeviceSynchronize());
        CHECK(cudaFree(codes_d));
    }
    __half *out, *out0;
    float* partials;
    unsigned* tickets;
    CHECK(cudaMalloc(&out, static_cast<size_t>(kMaxM) * n * sizeof(__half)));
    CHECK(cudaMalloc(&out0, static_cast<size_t>(kMaxM) * n * sizeof(__half)));
    CHECK(cudaMalloc(&partials, static_cast<size_t>(kMaxSplits) * kMaxM * n * sizeof(float)));
    const int max_tiles = (n / kBlockRows) * (kMaxM / 16);
    CHECK(cudaMalloc(&tickets, max_tiles * sizeof(unsigned)));
    CHECK(cudaMemsetAsync(tickets, 0, max_tiles * sizeof(unsigned), stream));

    // Sampled reference rows of W (every 61st and the last), all rows of x.
    std::vector<int> sample;
    for (int r = 0; r < n; r += 61) sample.push_back(r);
    sample.push_back(n - 1);
    std::vector<double> ref(sample.size() * kMaxM);
    for (size_t si = 0; si < sample.size(); ++si)
        for (int mm = 0; mm < kMaxM; ++mm) ref[si * kMaxM + mm] = weights.reference(sample[si], mm);

    std::printf("%5dx%-5d %d-bit  %.2f MB of codes\n", n, k, bits, code_bytes / 1e6);
    // M = 40: not a multiple of the row blocks (rows past M zero-filled, never stored).
    for (int m : {16, 40, 64, 128, 256}) {
        const float alpha = 1.f, beta = 0.f;
        auto cublas_call = [&](int i) {
            return cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w16[i % f16_copies], CUDA_R_16F, k,
                                x, CUDA_R_16F, k, &beta, out, CUDA_R_16F, n, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS
                       ? cudaSuccess
                       : cudaErrorUnknown;
        };
        // cuBLAS graph-replayed like the prototype (no PDL); unreplayed if its capture fails.
        float cublas_us = try_time_graph(stream, 24, cublas_call);
        const bool cublas_graph = cublas_us >= 0;
        if (!cublas_graph) cublas_us = time_loop(stream, 20, [&](int i) { CHECK(cublas_call(i)); });
        float best = 1e30f;
        std::string best_name;
        for (const Variant& v : variants()) {
            if (v.x_rows > m) continue;
            KernelFn fn = bits == 3 ? v.fn3 : v.fn4;
            const size_t shared_bytes = bits == 3 ? v.shared3 : v.shared4;
            if (shared_bytes > 227 * 1024) continue;
            CHECK(
                cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)));
            for (int splits : {1, 2, 4}) {
                const dim3 grid((m + v.x_rows - 1) / v.x_rows, n / kBlockRows, splits);
                // copy 0 writes its own output (checked before and after the timed graph), the others `out`
                auto launch = [&](int i) {
                    const int c = i % copies;
                    return sn::cuda::launch_chained(stream, true, fn, grid, dim3(64 * v.warps_x), shared_bytes,
                                                    reinterpret_cast<const uint4*>(packed[c]), luts[c], x,
                                                    c == 0 ? out0 : out, partials, tickets, m, n, k);
                };
                auto check = [&](size_t* unwritten) {
                    std::vector<__half> got(static_cast<size_t>(m) * n);
                    CHECK(cudaMemcpy(got.data(), out0, got.size() * sizeof(__half), cudaMemcpyDeviceToHost));
                    double err = 0, norm = 0;
                    bool finite = true;
                    for (size_t si = 0; si < sample.size(); ++si)
                        for (int mm = 0; mm < m; ++mm) {
                            const double gv = __half2float(got[static_cast<size_t>(mm) * n + sample[si]]);
                            const double rv = ref[si * kMaxM + mm];
                            if (!std::isfinite(gv)) finite = false;
                            err += (gv - rv) * (gv - rv);
                            norm += rv * rv;
                        }
                    for (const __half& hv : got)  // poison (0xFFFF is a NaN) left anywhere
                        if (!std::isfinite(__half2float(hv))) ++*unwritten;
                    return finite ? std::sqrt(err / norm) : 1e30;
                };
                size_t unwritten = 0;
                CHECK(cudaMemsetAsync(out0, 0xFF, static_cast<size_t>(m) * n * sizeof(__half), stream));
                CHECK(launch(0));
                CHECK(cudaGetLastError());
                CHECK(cudaDeviceSynchronize());
                double rel = check(&unwritten);
                CHECK(cudaMemsetAsync(out0, 0xFF, static_cast<size_t>(m) * n * sizeof(__half), stream));
                const float us = time_graph(stream, std::max(copies, 24), launch);
                CHECK(cudaDeviceSynchronize());
                rel = std::max(rel, check(&unwritten));
                const bool ok = rel < 2e-3 && unwritten == 0;
                char name[64];
                std::snprintf(name, sizeof name, "rows %d warps %d splits %d", v.x_rows, 2 * v.warps_x, splits);
                std::printf("   M %3d %-28s %8.2f us  %5.2fx cuBLAS  rel.err %.2e %s\n", m, name, us, cublas_us / us,
                            rel, ok ? "ok" : (unwritten ? "UNWRITTEN" : "WRONG"));
                if (ok && us < best) {
                    best = us;
                    best_name = name;
                }
            }
        }
        if (!cublas_graph) std::printf("   (cuBLAS timed unreplayed: its graph capture failed)\n");
        std::printf("BEST %5dx%-5d %d-bit M %3d: %.2f us (%s), cuBLAS fp16 %.2f us: %.2fx; codes at %.0f%% of copy\n",
                    n, k, bits, m, best, best_name.c_str(), cublas_us, cublas_us / best,
                    100.0 * code_bytes / (best * 1e3) / copy_gbs);
    }
    for (__half* p : w16) CHECK(cudaFree(p));
    CHECK(cudaFree(out));
    CHECK(cudaFree(out0));
    CHECK(cudaFree(partials));
    CHECK(cudaFree(tickets));
}

}  // namespace

// proto_gemm [SHAPES]: how many of the issue's shapes (default all six).
int main(int argc, char** argv) {
    if (self_test() != 0) return 1;
    size_t shape_count = argc > 1 ? static_cast<size_t>(std::atoi(argv[1])) : 6;
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t stream;
    CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cublasHandle_t cublas;
    CUBLAS_CHECK(cublasCreate(&cublas));
    CUBLAS_CHECK(cublasSetStream(cublas, stream));
    const double copy_gbs = copy_bandwidth(stream);
    std::printf("%s, %d SMs, copy bandwidth %.0f GB/s\n", prop.name, prop.multiProcessorCount, copy_gbs);
    std::vector<Shape> shapes = {{4096, 4096},  {11008, 4096}, {4096, 11008},
                                 {14336, 4096}, {4096, 14336}, {32000, 4096}};
    shapes.resize(std::min(shapes.size(), shape_count));
    for (const Shape& s : shapes)
        for (int bits : {3, 4}) run_shape(s, bits, stream, cublas, copy_gbs);
    CUBLAS_CHECK(cublasDestroy(cublas));
    return 0;
}
