// The shared-memory table of code pairs that the staged pair-table LUT-GEMV (kernels/lut_pair_gemv.cu)
// and the tile-pair prototype (cpp/tests/proto_tilepair_gemv.cu) look codes up in, and the table
// address of a pair in a lane's words of the pair-tiled layout (src/lut_pair_layout.h).
//
// Per tile of 16 rows: entry e of row r for lane copy t (the 4 lanes t of a row read different
// entries of it, so each has its own copy) is the word e·64 + 4r + t = half2(lut[r][e & (L−1)],
// lut[r][e >> bits]) (L = 2^bits levels). Lane L = 4g + t reading row g + 8h looks at byte
// (e << 8) | (4L + 128h): 32 lanes, 32 banks whatever the codes. 16 KB at 3 bits, 64 KB at 4.
#pragma once

#include "lut_pair_layout.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sn::cuda {

template <int kBits>
__host__ __device__ constexpr size_t pair_table_bytes() {
    return static_cast<size_t>(1) << (2 * kBits) << 8;  // entries × 64 words × 4 bytes
}

// Byte offset in a tile's table of local pair j of half h of a lane's words w (slot = 4L + 128h in
// bits 0..7). j and h are constants once the callers' loops are unrolled, so the word and shifts
// fold: 4 bits one PRMT, 3 bits one shift and one LOP3 (the split pair more). Host and device, so
// that the prototype's CPU self-test checks the kernels' own decode.
template <int kBits>
SN_LUT_HD uint32_t pair_table_address(const uint32_t* w, int h, int j, uint32_t slot) {
    namespace lp = sn::lut_pair;
    const int word = lp::pair_word(kBits, h, j);
    if constexpr (kBits == 4) {
#if defined(__CUDA_ARCH__)
        // result byte 0 = slot (byte 4 of the pair {word, slot}), byte 1 = the pair's byte, bytes
        // 2 and 3 = slot's byte 1 (zero).
        return __byte_perm(w[word], slot, 0x5504u | ((j % 4) << 4));
#else
        return ((w[word] >> (8 * (j % 4))) & 0xFFu) << 8 | slot;
#endif
    } else {
        if (lp::pair_split(3, j)) {
            return ((w[word] >> 22) & 0x300u) | ((w[word + 1] >> 20) & 0xC00u) | ((w[word + 2] >> 18) & 0x3000u) | slot;
        }
        const int pos = lp::pair_pos(3, j);
        const uint32_t moved = pos >= 8 ? (w[word] >> (pos - 8)) : (w[word] << (8 - pos));
        return (moved & 0x3F00u) | slot;
    }
}

#if defined(__CUDACC__)
__device__ __forceinline__ uint32_t pair_table_word(const char* table, uint32_t address) {
    return *reinterpret_cast<const uint32_t*>(table + address);
}

// A lane's 4·kBits words from its kBits 16-byte loads (slab s = words 4s .. 4s + 3).
template <int kBits>
__device__ __forceinline__ void unpack_slabs(const uint4 (&slabs)[kBits], uint32_t (&w)[4 * kBits]) {
#pragma unroll
    for (int s = 0; s < kBits; ++s) {
        w[4 * s] = slabs[s].x;
        w[4 * s + 1] = slabs[s].y;
        w[4 * s + 2] = slabs[s].z;
        w[4 * s + 3] = slabs[s].w;
    }
}

// The pair table of one tile (rows n0 .. n0 + 15): thread q = tid % 64 fills copy q (row q / 4,
// lane copy q % 4) for the entries whose second code hi ≡ tid / 64 (mod threads / 64). The caller
// synchronizes.
template <int kBits, int kThreads>
__device__ __forceinline__ void build_pair_table(uint32_t* table, const __half* lut, int64_t n0, int64_t n) {
    constexpr int kLevels = 1 << kBits;
    static_assert(kThreads % 64 == 0, "whole copies of a row per thread group");
    const int q = threadIdx.x % 64;
    const int64_t row = n0 + q / 4;
    uint32_t words[kLevels / 2];
    const uint4* lut_row = reinterpret_cast<const uint4*>(lut + row * kLevels);
#pragma unroll
    for (int i = 0; i < kLevels / 8; ++i) {
        const uint4 v = row < n ? __ldg(lut_row + i) : make_uint4(0u, 0u, 0u, 0u);
        words[4 * i] = v.x;
        words[4 * i + 1] = v.y;
        words[4 * i + 2] = v.z;
        words[4 * i + 3] = v.w;
    }
    for (int hi = static_cast<int>(threadIdx.x) / 64; hi < kLevels; hi += kThreads / 64) {
        uint32_t pair_high = 0;  // words[hi / 2] selected without dynamic register indexing
#pragma unroll
        for (int i = 0; i < kLevels / 2; ++i) pair_high = i == hi / 2 ? words[i] : pair_high;
        const uint32_t high = (hi & 1) ? (pair_high & 0xFFFF0000u) : (pair_high << 16);
#pragma unroll
        for (int lo = 0; lo < kLevels; ++lo) {
            const uint32_t low = (lo & 1) ? (words[lo / 2] >> 16) : (words[lo / 2] & 0xFFFFu);
            table[(hi * kLevels + lo) * 64 + q] = high | low;
        }
    }
}
#endif

}  // namespace sn::cuda
