// The LUT decoding the LUT-GEMV (kernels/lut_gemv.cu) and the LUT-GEMM (kernels/lut_gemm.cu)
// share: codes of the tiled layout (src/lut_layout.h) looked up in per-row tables held in registers
// and multiplied on the tensor cores, plus the cp.async helpers both use to stream codes.
//
// Lookup. A row's LUT (8 or 16 F16 entries) is split once into two byte planes held in registers:
// lo = the low bytes of all entries, hi = the high bytes (3 bits: 2 + 2 registers; 4 bits: 4 + 4).
// prmt (byte permute) picks 4 bytes out of 8 by 4 selector nibbles, so with 4 codes as the
// selector, prmt(lo0, lo1, codes) gives the low bytes of 4 table entries at once and the same on
// the hi plane the high bytes; two more prmt interleave them into two half2 (the A-fragment
// registers). 3 bits: 4 instructions per 4 weights. 4 bits: the 16 entries span 4 registers per
// plane, so each plane is looked up twice (entries 0-7 and 8-15) and merged by a byte mask made
// from bit 3 of each code (prmt's sign-replicate mode turns a bit into a 0x00/0xFF byte).
//
// Multiply. mma.m16n8k16 (F16 in, F32 accumulate) with W as A (16 rows of W × 16 k) and x as B
// (16 k × 8 rows of x): C[16 × 8] += W_tile · x_tileᵀ. The tiled layout (src/lut_layout.h, drawn
// there) stores, for every lane, exactly the codes of its A fragment in consumption order, so
// decoding needs no shuffles and one warp's code loads are contiguous 512-byte blocks. One
// decoded fragment serves every n-tile of x (M up to 32 as 4 n-tiles), which is why 16 rows of x
// cost little more than one.
#pragma once

#include "lut_layout.h"

#include <cuda_fp16.h>

#include <cstdint>

namespace sn::cuda {

__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t selector) {
    uint32_t d;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(selector));
    return d;
}

// 16 bytes of codes into this lane's slot of shared memory, asynchronously (read once: L2
// evict-first). Each lane copies only what it will decode itself, so a lane's own
// cp.async.wait_group is all the synchronisation its slots need.
__device__ __forceinline__ void copy_codes_async(uint4* shared_slot, const int32_t* address, uint64_t policy) {
    const uint32_t slot = static_cast<uint32_t>(__cvta_generic_to_shared(shared_slot));
    asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2;" ::"r"(slot), "l"(address), "l"(policy)
                 : "memory");
}
__device__ __forceinline__ void commit_copies() {
    asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void wait_copies() {
    asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

// A lane's 4·kBits words of one unit from its kBits 16-byte pieces, 32 pieces apart (the tiled
// layout's order, src/lut_layout.h), e.g. from its slot of a ring in shared memory.
template <int kBits>
__device__ __forceinline__ void load_lane_words(const uint4* first_piece, uint32_t (&words)[4 * kBits]) {
#pragma unroll
    for (int j = 0; j < kBits; ++j) {
        const uint4 v = first_piece[j * 32];
        words[4 * j] = v.x;
        words[4 * j + 1] = v.y;
        words[4 * j + 2] = v.z;
        words[4 * j + 3] = v.w;
    }
}

// A row's LUT as byte planes: lo[i] byte j = low byte of entry 4i + j, hi[i] the high bytes.
template <int kBits>
struct RowTable {
    static constexpr int kRegisters = (1 << kBits) / 4;
    uint32_t lo[kRegisters], hi[kRegisters];

    // The row's entries as loaded (zeros for a row past N): issued early, split by build().
    __device__ __forceinline__ static void fetch(const __half* row, bool live, uint4 (&raw)[kRegisters / 2]) {
#pragma unroll
        for (int i = 0; i < kRegisters / 2; ++i) {
            raw[i] = live ? __ldg(reinterpret_cast<const uint4*>(row) + i) : make_uint4(0u, 0u, 0u, 0u);
        }
    }
    __device__ __forceinline__ void build(const uint4 (&raw)[kRegisters / 2]) {
#pragma unroll
        for (int i = 0; i < kRegisters / 2; ++i) {
            const uint4 v = raw[i];
            lo[2 * i] = prmt(v.x, v.y, 0x6420);
            hi[2 * i] = prmt(v.x, v.y, 0x7531);
            lo[2 * i + 1] = prmt(v.z, v.w, 0x6420);
            hi[2 * i + 1] = prmt(v.z, v.w, 0x7531);
        }
    }
    __device__ __forceinline__ void load(const __half* row, bool live) {
        uint4 raw[kRegisters / 2];
        fetch(row, live, raw);
        build(raw);
    }

    // Entries of the 4 codes in the selector's low nibbles (bit 3 of each clear) → half2 of
    // codes 0, 1 and half2 of codes 2, 3. For 4 bits, `upper` has byte j = 0xFF where code j >= 8.
    __device__ __forceinline__ void lookup(uint32_t selector, uint32_t upper, uint32_t& first, uint32_t& second) const {
        uint32_t l = prmt(lo[0], lo[1], selector), h = prmt(hi[0], hi[1], selector);
        if constexpr (kBits == 4) {
            l = (l & ~upper) | (prmt(lo[2], lo[3], selector) & upper);
            h = (h & ~upper) | (prmt(hi[2], hi[3], selector) & upper);
        }
        first = prmt(l, h, 0x5140);
        second = prmt(l, h, 0x7362);
    }
};

// The A fragment of mma i of a unit from the lane's words (src/lut_layout.h):
//   a0 = row g, k slots 2t, 2t+1;  a1 = row g+8, same;  a2 = row g, slots 2t+8, 2t+9;  a3 = row g+8.
template <int kBits>
__device__ __forceinline__ void decode_fragment(const uint32_t (&words)[4 * kBits], int i, const RowTable<kBits>& row_g,
                                                const RowTable<kBits>& row_g8, uint32_t (&a)[4]) {
    if constexpr (kBits == 3) {
        const int s = i / 4, v = i % 4;
        const uint32_t low = words[3 * s + v / 2], high = words[3 * s + 2];
        const uint32_t low_bits = (v % 2 == 0 ? low : low >> 2) & 0x33333333u;
        const uint32_t high_bits = (v == 0 ? high << 2 : v == 1 ? high : v == 2 ? high >> 1 : high << 1) & 0x44444444u;
        const uint32_t selector = low_bits | high_bits;
        row_g.lookup(selector, 0u, a[0], a[2]);
        row_g8.lookup(selector >> 16, 0u, a[1], a[3]);
    } else {
        const uint32_t w = words[i];
        const uint32_t selector = w & 0x77777777u;
        const uint32_t shifted = w << 4;  // bit 3 of the even nibbles at the top of each byte
        row_g.lookup(selector, prmt(shifted, w, 0xD9C8), a[0], a[2]);
        row_g8.lookup(selector >> 16, prmt(shifted, w, 0xFBEA), a[1], a[3]);
    }
}

__device__ __forceinline__ void mma_w_by_x(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

}  // namespace sn::cuda
