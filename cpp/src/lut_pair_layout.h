// The pair-tiled layout of LUT codes: the tiled layout's shape (src/lut_layout.h: tiles of 16 rows,
// units of 256 inputs, I32 [ceil(N/16), ceil(K/256), 128·bits], lane L = 4g + t holding rows g and
// g + 8 at inputs 32p + 8t + o, p = 0..7, o = 0..7), but each lane's words hold the indices of code
// PAIRS (inputs 2j, 2j + 1), which the pair-table GEMV (kernels/lut_pair_gemv.cu, staged beside the
// library's kernels until measured) looks up two weights at a time as one half2 A-fragment register.
// Plain host/device functions, so that the repack kernel, the kernels and the CPU test share them.
//
// A pair's index is e = code(first input) | code(second input) << bits (6 or 8 bits). Lane L's local
// pair j = 4p + q (j = 0..31) of row g + 8h covers inputs 32p + 8t + 2q and + 1 of the unit. mma
// 2p + u (u = 0, 1) takes, per lane, a0 = row g pair 4p + 2u, a1 = row g + 8 pair 4p + 2u, a2 = row g
// pair 4p + 2u + 1, a3 = row g + 8 pair 4p + 2u + 1: exactly the k slots (2t, 2t+1) and (2t+8, 2t+9)
// of the library's k order, so x's B fragments are loaded as the tiled GEMV loads them.
//
//   4 bits (16 words): word 8h + p, byte q = pair 4p + q of row g + 8h:
//       bit 31      24 23      16 15       8 7        0
//       | pair 4p+3 | pair 4p+2 | pair 4p+1 | pair 4p+0 |   (each: code(2q) | code(2q+1) << 4)
//   3 bits (12 words): the triple of words 6h + 3T, +1, +2 (a, b, c) holds the pairs 16T .. 16T + 15
//   of row g + 8h (jj = j − 16T):
//       bit 31 30 | 29 ..  0
//       a: e15[1:0] | e4 e3 e2 e1 e0     (6 bits each, e0 lowest)
//       b: e15[3:2] | e9 e8 e7 e6 e5
//       c: e15[5:4] | e14 e13 e12 e11 e10
//   (the 16th pair of a triple is split over the three words' spare top bits).
//
// Words are stored as in the tiled layout (lane_word): word w of lane L at unit word
// ((w / 4)·32 + L)·4 + w % 4, so each 16-byte load of a warp is one contiguous 512-byte block.
// Padding rows and inputs hold code 0.
#pragma once

#include "lut_layout.h"  // kTileRows, kUnitK, unit_words, tiles, units, lane_word

#include <cstdint>

namespace sn::lut_pair {

using lut::kTileRows;
using lut::kUnitK;
using lut::lane_word;
using lut::tiles;
using lut::unit_words;
using lut::units;

constexpr int kLanePairs = 32;  // pairs per row half (h) and lane in a unit

// The lane word holding local pair j of half h, and the field's lowest bit; for a split pair
// (3 bits, j % 16 == 15) the triple's first word (its fields are the three words' bits 30..31).
SN_LUT_HD constexpr int pair_word(int bits, int h, int j) {
    return bits == 4 ? 8 * h + j / 4 : 6 * h + 3 * (j / 16) + (j % 16 == 15 ? 0 : (j % 16) / 5);
}
SN_LUT_HD constexpr int pair_pos(int bits, int j) {
    return bits == 4 ? 8 * (j % 4) : (j % 16 == 15 ? 30 : 6 * ((j % 16) % 5));
}
SN_LUT_HD constexpr bool pair_split(int bits, int j) {
    return bits == 3 && j % 16 == 15;
}

// Lane, half and local pair of row r (0..15) of a tile at input kk (0..255) of a unit, and
// whether kk is the pair's second input.
struct PairOf {
    int lane, h, j, second;
};
SN_LUT_HD PairOf pair_of(int r, int kk) {
    const int p = kk / 32, t = (kk % 32) / 8, o = kk % 8;
    return PairOf{4 * (r % 8) + t, r / 8, 4 * p + o / 2, o % 2};
}

// Row (0..15) and first input (0..255, even) of lane L's local pair j of half h.
SN_LUT_HD void pair_input(int lane, int h, int j, int* r, int* kk) {
    const int g = lane / 4, t = lane % 4, p = j / 4, q = j % 4;
    *r = g + 8 * h;
    *kk = 32 * p + 8 * t + 2 * q;
}

// Puts pair index e (< 2^(2·bits)) of local pair j of half h into a lane's 4·bits words (cleared
// beforehand).
SN_LUT_HD void put_pair(uint32_t* words, int bits, int h, int j, uint32_t e) {
    const int w = pair_word(bits, h, j);
    if (pair_split(bits, j)) {
        words[w] |= (e & 3u) << 30;
        words[w + 1] |= ((e >> 2) & 3u) << 30;
        words[w + 2] |= ((e >> 4) & 3u) << 30;
    } else {
        words[w] |= e << pair_pos(bits, j);
    }
}

// The pair index of local pair j of half h from a lane's words (the inverse of put_pair; the
// kernels compute table addresses from the same fields directly).
SN_LUT_HD uint32_t get_pair(const uint32_t* words, int bits, int h, int j) {
    const int w = pair_word(bits, h, j);
    if (pair_split(bits, j)) {
        return (words[w] >> 30) | ((words[w + 1] >> 30) << 2) | ((words[w + 2] >> 30) << 4);
    }
    return (words[w] >> pair_pos(bits, j)) & ((1u << (2 * bits)) - 1u);
}

}  // namespace sn::lut_pair
