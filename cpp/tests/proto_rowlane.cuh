// Shared by the row-lane LUT prototypes (proto_rowlane_gemv.cu, proto_rowlane_gemm.cu): the
// layout, its host packer and self-test, the pair table, and the timing harness. Standalone, not
// part of the library: these measure a design before the library's kernels change.
//
// Pair table. Lane l of a warp serves one row of W. Entry e of that row's pair table is
// half2(lut[e & (L−1)], lut[e >> bits]) (L = 2^bits levels), stored at word e·32 + l, so a warp's 32
// lookups always hit 32 different banks whatever the codes (conflict-free): 64 entries (3 bits,
// 8 KB per 32 rows) or 256 (4 bits, 32 KB).
//
// Layout ("row-lane"), per group of 32 rows and chunk of 128 inputs, `bits` 16-byte slabs of 32
// lanes (slab s of lane l at uint4 ((group·chunks + chunk)·bits + s)·32 + l: each warp load is one
// contiguous 512-byte block); lane l's words w = 0 .. 4·bits−1 (slab w/4, component w%4) hold row
// (32·group + l)'s codes of the chunk's inputs, as pair indices (a pair = inputs 2j, 2j+1 of the
// chunk, index code(2j) | code(2j+1) << bits):
//   4 bits: word w byte j = pair 4w+j (inputs 8w+2j, 8w+2j+1).
//   3 bits: words 3t, 3t+1, 3t+2 (a, b, c) hold pairs 16t .. 16t+15 (inputs 32t .. 32t+31):
//       bit 31 30 | 29 ..  0
//       a: e15[1:0] | e4 e3 e2 e1 e0   (6 bits each, e0 lowest)
//       b: e15[3:2] | e9 e8 e7 e6 e5
//       c: e15[5:4] | e14 e13 e12 e11 e10
//   (pair 15 of a triple is split over the three words' spare top bits).
#pragma once

#include "kernels/chained_launch.h"
#include "kernels/lut_pair_table.cuh"  // unpack_slabs

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define CHECK(call)                                                                                    \
    do {                                                                                               \
        cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess) {                                                                       \
            std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

namespace proto {

constexpr int kChunk = 128;  // inputs per lane and chunk

#if defined(__CUDACC__)
#define SN_HD __host__ __device__ __forceinline__
#else
#define SN_HD inline
#endif

// Where pair j (0 .. 63) of a lane's chunk lives: its word (0 .. 4·bits−1) and the field's lowest
// bit; pair 15 of each 3-bit triple (j % 16 == 15) is split over the triple's top bits instead
// (pair15_address).
SN_HD constexpr int pair_word(int bits, int j) {
    return bits == 4 ? j / 4 : 3 * (j / 16) + (j % 16) / 5;
}
SN_HD constexpr int pair_pos(int bits, int j) {
    return bits == 4 ? 8 * (j % 4) : 6 * ((j % 16) % 5);
}
SN_HD constexpr bool pair_split(int bits, int j) {
    return bits == 3 && j % 16 == 15;
}

// Byte address of pair j's table entry: the field moved to bits 7.. and masked, plus the lane's
// bank (lane_bytes = 4·lane). j is a constant once the callers' loops are unrolled, so the word
// index and the shifts fold: one shift and one LOP3 (mask | lane) per pair, three of each for the
// split pair.
SN_HD uint32_t pair15_address(uint32_t a, uint32_t b, uint32_t c, uint32_t lane_bytes) {
    return ((a >> 23) & 0x180u) | ((b >> 21) & 0x600u) | ((c >> 19) & 0x1800u) | lane_bytes;
}
template <int kBits>
SN_HD uint32_t pair_address(const uint32_t* w, int j, uint32_t lane_bytes) {
    if (pair_split(kBits, j)) {
        const int t = j / 16;
        return pair15_address(w[3 * t], w[3 * t + 1], w[3 * t + 2], lane_bytes);
    }
    const int pos = pair_pos(kBits, j);
    const uint32_t v = w[pair_word(kBits, j)];
    const uint32_t moved = pos >= 7 ? (v >> (pos - 7)) : (v << (7 - pos));
    return (moved & (((1u << (2 * kBits)) - 1u) << 7)) | lane_bytes;
}

#if defined(__CUDACC__)
__device__ __forceinline__ uint32_t half_bits_at(const uint32_t* words, int count, int i) {
    uint32_t w = 0;
    for (int j = 0; j < count; ++j) w = (j == (i >> 1)) ? words[j] : w;
    return (i & 1) ? (w >> 16) : (w & 0xFFFFu);
}

// The pair table of 32 rows (lane l: row row_of_lane) into table[L²][32], written by `warps` warps
// (warp w the entries whose second code is w, w + warps, ...); the caller synchronizes.
template <int kBits>
__device__ __forceinline__ void build_pair_table(uint32_t* table, const __half* lut, int64_t row_of_lane, int lane,
                                                 int warp, int warps) {
    constexpr int kLevels = 1 << kBits;
    uint32_t words[kLevels / 2];
    const uint4* lut_row = reinterpret_cast<const uint4*>(lut + row_of_lane * kLevels);
#pragma unroll
    for (int i = 0; i < kLevels / 8; ++i) {
        const uint4 v = __ldg(lut_row + i);
        words[4 * i] = v.x;
        words[4 * i + 1] = v.y;
        words[4 * i + 2] = v.z;
        words[4 * i + 3] = v.w;
    }
    for (int hi = warp; hi < kLevels; hi += warps) {
        const uint32_t high = half_bits_at(words, kLevels / 2, hi) << 16;
#pragma unroll
        for (int lo = 0; lo < kLevels; ++lo) {
            const uint32_t low = (lo & 1) ? (words[lo / 2] >> 16) : (words[lo / 2] & 0xFFFFu);
            table[(hi * kLevels + lo) * 32 + lane] = high | low;
        }
    }
}

__device__ __forceinline__ __half2 lookup(const char* table, uint32_t address) {
    return *reinterpret_cast<const __half2*>(table + address);
}

#endif

// Deterministic host random numbers (splitmix64), uniform and roughly normal.
struct Rng {
    uint64_t state;
    uint32_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return static_cast<uint32_t>((z ^ (z >> 31)) >> 32);
    }
    float uniform() { return (next() + 0.5f) / 4294967296.f; }
    float normal() {  // sum of 4 uniforms, scaled to unit variance
        return (uniform() + uniform() + uniform() + uniform() - 2.f) * 1.7320508f;
    }
};

// Packs codes[n][k] (values 0 .. 2^bits − 1) into the row-lane layout (the comment at the top).
inline std::vector<uint32_t> pack_rowlane(const std::vector<uint8_t>& codes, int n, int k, int bits) {
    const int groups = n / 32, chunks = k / kChunk;
    std::vector<uint32_t> words(static_cast<size_t>(groups) * chunks * bits * 32 * 4, 0u);
    for (int g = 0; g < groups; ++g)
        for (int c = 0; c < chunks; ++c)
            for (int l = 0; l < 32; ++l) {
                const uint8_t* cd = &codes[static_cast<size_t>(g * 32 + l) * k + c * kChunk];
                uint32_t w[16] = {};
                if (bits == 4) {
                    for (int i = 0; i < 16; ++i)
                        for (int j = 0; j < 4; ++j)
                            w[i] |= static_cast<uint32_t>(cd[8 * i + 2 * j] | (cd[8 * i + 2 * j + 1] << 4)) << (8 * j);
                } else {
                    for (int t = 0; t < 4; ++t) {
                        uint32_t e[16];
                        for (int j = 0; j < 16; ++j) e[j] = cd[32 * t + 2 * j] | (cd[32 * t + 2 * j + 1] << 3);
                        uint32_t a = 0, b = 0, cc = 0;
                        for (int j = 0; j < 5; ++j) {
                            a |= e[j] << (6 * j);
                            b |= e[5 + j] << (6 * j);
                            cc |= e[10 + j] << (6 * j);
                        }
                        a |= (e[15] & 3u) << 30;
                        b |= ((e[15] >> 2) & 3u) << 30;
                        cc |= ((e[15] >> 4) & 3u) << 30;
                        w[3 * t] = a;
                        w[3 * t + 1] = b;
                        w[3 * t + 2] = cc;
                    }
                }
                for (int i = 0; i < 4 * bits; ++i) {
                    const size_t slab = ((static_cast<size_t>(g) * chunks + c) * bits + i / 4) * 32 + l;
                    words[slab * 4 + i % 4] = w[i];
                }
            }
    return words;
}

static __global__ void fill_random(uint32_t* p, size_t count, uint32_t seed) {
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
        h ^= h >> 16;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        h *= 0xc2b2ae35u;
        h ^= h >> 16;
        p[i] = h;
    }
}

// The layout's host half against its device half, without a GPU: pack random codes, then decode
// every pair of every lane and chunk with the kernel's own pair_address and compare.
inline int self_test() {
    int failures = 0;
    for (int bits : {3, 4}) {
        const int n = 64, k = 512, levels = 1 << bits;
        Rng rng{static_cast<uint64_t>(99 + bits)};
        std::vector<uint8_t> codes(static_cast<size_t>(n) * k);
        for (auto& c : codes) c = static_cast<uint8_t>(rng.next() % levels);
        const std::vector<uint32_t> words = pack_rowlane(codes, n, k, bits);
        const int chunks = k / kChunk;
        for (int g = 0; g < n / 32; ++g)
            for (int c = 0; c < chunks; ++c)
                for (int l = 0; l < 32; ++l) {
                    uint32_t w[16];
                    for (int i = 0; i < 4 * bits; ++i)
                        w[i] = words[(((static_cast<size_t>(g) * chunks + c) * bits + i / 4) * 32 + l) * 4 + i % 4];
                    for (int j = 0; j < 64; ++j) {
                        const uint32_t address =
                            bits == 3 ? pair_address<3>(w, j, 4u * l) : pair_address<4>(w, j, 4u * l);
                        const int entry = static_cast<int>(address >> 7);
                        const uint8_t* cd = &codes[static_cast<size_t>(g * 32 + l) * k + c * kChunk + 2 * j];
                        const bool ok =
                            (address & 127u) == 4u * l && entry == (cd[0] | (cd[1] << bits)) && entry < levels * levels;
                        if (!ok && failures++ < 10)
                            std::printf("self-test %d-bit: group %d chunk %d lane %d pair %d: entry %d, codes %d %d\n",
                                        bits, g, c, l, j, entry, cd[0], cd[1]);
                    }
                }
    }
    std::printf("self-test: %s\n", failures == 0 ? "layout and decode agree (3 and 4 bits)" : "FAILED");
    return failures == 0 ? 0 : 1;
}

inline float median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Median µs per launch of `launches` back-to-back chained launches, graph-replayed (15 replays).
// Median µs per launch of `launches` back-to-back launches, graph-replayed (15 replays); a
// negative value when the launches cannot be captured (the caller may time them unreplayed).
template <class Launch>
float try_time_graph(cudaStream_t stream, int launches, Launch&& launch) {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    bool captured = true;
    for (int i = 0; i < launches && captured; ++i) captured = launch(i) == cudaSuccess;
    const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
    if (!captured || ended != cudaSuccess) {
        (void)cudaGetLastError();
        if (graph != nullptr) (void)cudaGraphDestroy(graph);
        return -1.0f;
    }
#if CUDART_VERSION >= 12000
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
#else
    CHECK(cudaGraphInstantiate(&exec, graph, nullptr, nullptr, 0));
#endif
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    for (int i = 0; i < 3; ++i) CHECK(cudaGraphLaunch(exec, stream));
    std::vector<float> times;
    for (int r = 0; r < 15; ++r) {
        CHECK(cudaEventRecord(e0, stream));
        CHECK(cudaGraphLaunch(exec, stream));
        CHECK(cudaEventRecord(e1, stream));
        CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        times.push_back(ms * 1000.f / launches);
    }
    CHECK(cudaGraphExecDestroy(exec));
    CHECK(cudaGraphDestroy(graph));
    CHECK(cudaEventDestroy(e0));
    CHECK(cudaEventDestroy(e1));
    return median(times);
}

// The same, fatal when the capture fails (the prototypes' own kernels).
template <class Launch>
float time_graph(cudaStream_t stream, int launches, Launch&& launch) {
    const float us = try_time_graph(stream, launches, launch);
    if (us < 0) {
        std::fprintf(stderr, "graph capture of the timed launches failed\n");
        std::exit(1);
    }
    return us;
}

// Relative L2 error of the first `count` halves of `out` (device) against ref; 1e30 when one is not
// finite.
inline double relative_error(const __half* out, const double* ref, size_t count) {
    std::vector<__half> got(count);
    CHECK(cudaMemcpy(got.data(), out, got.size() * sizeof(__half), cudaMemcpyDeviceToHost));
    double err = 0, norm = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double v = __half2float(got[i]);
        if (!std::isfinite(v)) return 1e30;
        err += (v - ref[i]) * (v - ref[i]);
        norm += ref[i] * ref[i];
    }
    return std::sqrt(err / norm);
}

struct Measured {
    float us;    // median µs per launch, graph-replayed
    double rel;  // worst relative error of copy 0's output
};

// One launch shape: launch(0) (copy 0, its `count` outputs `out` poisoned first) compared with ref,
// then the timed graph of `launches` chained launches, after which copy 0's output (written behind
// others, PDL overlapping them) is compared again.
template <class Launch>
Measured check_and_time(cudaStream_t stream, int launches, __half* out, const double* ref, size_t count,
                        Launch&& launch) {
    CHECK(cudaMemsetAsync(out, 0xFF, count * sizeof(__half), stream));
    CHECK(launch(0));
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    const double rel_single = relative_error(out, ref, count);
    CHECK(cudaMemsetAsync(out, 0xFF, count * sizeof(__half), stream));
    const float us = time_graph(stream, launches, launch);
    CHECK(cudaDeviceSynchronize());
    return Measured{us, std::max(rel_single, relative_error(out, ref, count))};
}

// The test problem of one shape: random codes, LUT and x_rows rows of x (F16 values, and their
// floats for the reference), and enough device copies of the packed codes and LUT to pass the
// L2 when rotated: copy 0 holds the known codes, the others random bits.
struct Weights {
    int n = 0, k = 0, bits = 0, copies = 0;
    size_t code_bytes = 0;
    std::vector<uint8_t> codes;
    std::vector<float> lut, x;  // [n][2^bits], [x_rows][k]
    std::vector<uint32_t*> packed;
    std::vector<__half*> luts;
    __half* x_device = nullptr;

    // pack: codes [n][k] → the layout's words (pack_rowlane, or another prototype's packer).
    using Packer = std::vector<uint32_t> (*)(const std::vector<uint8_t>&, int, int, int);
    Weights(int n_, int k_, int bits_, int x_rows, uint64_t seed, uint32_t fill_seed, Packer pack = pack_rowlane)
        : n(n_), k(k_), bits(bits_) {
        const int levels = 1 << bits;
        code_bytes = static_cast<size_t>(n) * k * bits / 8;
        copies = static_cast<int>(std::max<size_t>(2, (256ull << 20) / code_bytes + 1));
        Rng rng{seed};
        codes.resize(static_cast<size_t>(n) * k);
        for (auto& c : codes) c = static_cast<uint8_t>(rng.next() % levels);
        std::vector<__half> lut_h(static_cast<size_t>(n) * levels), x_h(static_cast<size_t>(x_rows) * k);
        lut.resize(lut_h.size());
        x.resize(x_h.size());
        for (size_t i = 0; i < lut_h.size(); ++i) {
            lut_h[i] = __float2half(0.02f * rng.normal());
            lut[i] = __half2float(lut_h[i]);
        }
        for (size_t i = 0; i < x_h.size(); ++i) {
            x_h[i] = __float2half(rng.normal());
            x[i] = __half2float(x_h[i]);
        }
        const std::vector<uint32_t> words = pack(codes, n, k, bits);
        packed.resize(copies);
        luts.resize(copies);
        for (int c = 0; c < copies; ++c) {
            CHECK(cudaMalloc(&packed[c], code_bytes));
            CHECK(cudaMalloc(&luts[c], lut_h.size() * sizeof(__half)));
            if (c == 0) {
                CHECK(cudaMemcpy(packed[c], words.data(), code_bytes, cudaMemcpyHostToDevice));
            } else {
                fill_random<<<1024, 256>>>(packed[c], code_bytes / 4, fill_seed * c);
                CHECK(cudaGetLastError());
            }
            CHECK(cudaMemcpy(luts[c], lut_h.data(), lut_h.size() * sizeof(__half), cudaMemcpyHostToDevice));
        }
        CHECK(cudaMalloc(&x_device, x_h.size() * sizeof(__half)));
        CHECK(cudaMemcpy(x_device, x_h.data(), x_h.size() * sizeof(__half), cudaMemcpyHostToDevice));
    }
    Weights(const Weights&) = delete;
    Weights& operator=(const Weights&) = delete;
    ~Weights() {
        for (uint32_t* p : packed) (void)cudaFree(p);
        for (__half* p : luts) (void)cudaFree(p);
        (void)cudaFree(x_device);
    }
    // Σ_k lut[row][code(row, k)] · x[m][k] in double.
    double reference(int row, int m) const {
        const int levels = 1 << bits;
        double s = 0;
        for (int i = 0; i < k; ++i)
            s += static_cast<double>(lut[static_cast<size_t>(row) * levels + codes[static_cast<size_t>(row) * k + i]]) *
                 x[static_cast<size_t>(m) * k + i];
        return s;
    }
};

// Device copy bandwidth (GB/s, bytes read + written): a 1 GiB device-to-device copy, median of 9.
inline double copy_bandwidth(cudaStream_t stream) {
    const size_t bytes = 1ull << 30;
    void *a, *b;
    CHECK(cudaMalloc(&a, bytes));
    CHECK(cudaMalloc(&b, bytes));
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    std::vector<float> t;
    for (int i = 0; i < 10; ++i) {
        CHECK(cudaEventRecord(e0, stream));
        CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, stream));
        CHECK(cudaEventRecord(e1, stream));
        CHECK(cudaEventSynchronize(e1));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (i) t.push_back(ms);
    }
    CHECK(cudaFree(a));
    CHECK(cudaFree(b));
    CHECK(cudaEventDestroy(e0));
    CHECK(cudaEventDestroy(e1));
    return 2.0 * bytes / (median(t) * 1e-3) / 1e9;
}

}  // namespace proto
