// Where each code of a LUT-quantized weight lives in the CUDA backend's tiled layout (what
// sn_lut_repack writes and kernels/lut_gemv.cu reads), as plain host/device functions so that the
// repack kernel, the API's shape checks and the tests share one definition.
//
// Why a layout of our own: the checkpoint packs codes along K for one output row per 32-bit
// column (qweight [K·bits/32, N]), so a warp reading it sees one row per lane and must look every
// code up in a per-row table. The GEMV instead multiplies on the tensor cores (mma.m16n8k16 with
// W as the A operand): lane (g, t) of a warp needs, per mma, four codes of W row g and the same
// four k of row g + 8. The tiled layout stores exactly those codes in the order the lane consumes
// them, so one warp's loads are contiguous 512-byte blocks and decoding needs no shuffles.
//
// Tiles and units. W [N, K] is cut into tiles of 16 rows; K into units of 256 inputs; rows past N
// and inputs past K are padding with code 0 (the kernel multiplies them by x = 0). One
// (tile, unit) holds 16·256 codes = 128·bits words, stored at
//     packed[tile][unit][0 .. 128·bits),   i.e. I32 [ceil(N/16), ceil(K/256), 128·bits].
// Inside it, lane L = 4g + t (g = 0..7, t = 0..3) owns bits·4 words, read as bits (3) or 4
// 16-byte loads; load j of all 32 lanes is one contiguous 512-byte block:
//     word w of lane L  →  unit word ((w / 4)·32 + L)·4 + w % 4.
//
// Which k a lane covers. The unit's 256 inputs form 8 pairs of mmas (32 inputs each). In pair p,
// lane (g, t) covers inputs 32p + 8t + o, o = 0..7: o = 0..3 feed mma 2p, o = 4..7 mma 2p + 1,
// so one 16-byte load of x (8 halves) serves both. Inside an mma, the lane's fragment slots
// (2t, 2t+1, 2t+8, 2t+9) stand for o % 4 = 0, 1, 2, 3 (A and B agree, so the order of k inside
// the mma does not matter). Row r of the tile belongs to lane g = r % 8, half h = r / 8.
//
// The 8 codes lane (g, t) needs for mma i form a "selector": nibble h·4 + o%4 holds the code of
// row g + 8h at that input, so the low 16 bits index row g's table and the high 16 bits row g+8's
// (the kernel looks codes up with prmt, which reads 4 nibbles at a time).
//
//   4 bits: word w = i is mma i's selector as it is (16 words):
//       bit 31                                                     bit 0
//       | g+8:o3 | g+8:o2 | g+8:o1 | g+8:o0 | g:o3 | g:o2 | g:o1 | g:o0 |   (4 bits each)
//
//   3 bits: mmas 4s .. 4s+3 share words 3s (L0), 3s+1 (L1), 3s+2 (H) (12 words): the low two
//   bits of each code in L0 / L1, the high bit in H, placed so that a selector is two masks away:
//       mma 4s+0:  low bits = L0 bits 4q..4q+1,    high bit = H bit 4q
//       mma 4s+1:  low bits = L0 bits 4q+2..4q+3,  high bit = H bit 4q+2
//       mma 4s+2:  low bits = L1 bits 4q..4q+1,    high bit = H bit 4q+3
//       mma 4s+3:  low bits = L1 bits 4q+2..4q+3,  high bit = H bit 4q+1
//   for selector nibble q = h·4 + o%4, e.g. selector(4s+1) = ((L0 >> 2) & 0x33333333) |
//   (H & 0x44444444).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SN_LUT_HD __host__ __device__ __forceinline__
#else
#define SN_LUT_HD inline
#endif

namespace sn::lut {

constexpr int64_t kTileRows = 16;   // rows of W per tile (the m of mma.m16n8k16)
constexpr int64_t kUnitK = 256;     // inputs per unit
constexpr int kLanes = 32;

// Words of one (tile, unit): 16·256·bits / 32.
SN_LUT_HD constexpr int64_t unit_words(int bits) {
    return kTileRows * kUnitK * bits / 32;
}
SN_LUT_HD constexpr int64_t tiles(int64_t n) {
    return (n + kTileRows - 1) / kTileRows;
}
SN_LUT_HD constexpr int64_t units(int64_t k) {
    return (k + kUnitK - 1) / kUnitK;
}

// Word index inside a unit of word w of lane L.
SN_LUT_HD constexpr int64_t lane_word(int lane, int w) {
    return (static_cast<int64_t>(w / 4) * kLanes + lane) * 4 + w % 4;
}

// A code's place: its lane, the lane word (0 .. 4·bits) holding its (low) bits and their shift;
// for 3 bits also the lane word and bit of its high bit. The unit word is lane_word(lane, word).
struct CodePlace {
    int lane;
    int word;
    int shift;
    int high_word;  // 3 bits only
    int high_bit;
};

// Place of the code of row r (0..15) of a tile at input kk (0..255) of a unit.
SN_LUT_HD CodePlace code_place(int bits, int r, int kk) {
    const int p = kk / 32, t = (kk % 32) / 8, o = kk % 8;
    const int mma = 2 * p + o / 4;
    const int g = r % 8, h = r / 8;
    const int nibble = h * 4 + o % 4;
    CodePlace place{};
    place.lane = 4 * g + t;
    if (bits == 4) {
        place.word = mma;
        place.shift = 4 * nibble;
        place.high_word = -1;
        place.high_bit = 0;
    } else {
        const int s = mma / 4, v = mma % 4;
        place.word = 3 * s + v / 2;
        place.shift = 4 * nibble + 2 * (v % 2);
        place.high_word = 3 * s + 2;
        place.high_bit = 4 * nibble + (v == 0 ? 0 : v == 1 ? 2 : v == 2 ? 3 : 1);
    }
    return place;
}

// The input kk (0..255) of a unit and row r (0..15) of a tile that lane L's code number c
// (0..127) stands for: the inverse walk the repack uses, visiting each of the lane's codes once.
// c = (pair p)·16 + h·8 + o: rows g and g + 8, inputs 32p + 8t + o.
SN_LUT_HD void lane_code(int lane, int c, int* r, int* kk) {
    const int g = lane / 4, t = lane % 4;
    const int p = c / 16, h = (c / 8) % 2, o = c % 8;
    *r = g + 8 * h;
    *kk = 32 * p + 8 * t + o;
}

}  // namespace sn::lut
