// The pieces of sn_kmeans_rows that the CPU (src/cpu/kmeans.cpp) and CUDA (kernels/kmeans.cu)
// backends must do identically, as host+device inline functions: the sort key of a (value,
// weight) point, the cost of a group, and the nearest-entry code. The algorithm is the C# solver's
// (src/SqueezeNative.Runtime/Quantization/KMeansRowSolver.cs, method Exact); these are its rules.
#pragma once

#include "backend.h"  // SN_HOST_DEVICE

#include <cstdint>
#include <cstring>

namespace sn::kmeans {

// ---- the sort key ----------------------------------------------------------------------------
//
// A row's points are sorted by value, and equal values are merged by summing their weights in
// sorted order. So that both backends sum in the same order, the key orders by value and then
// by weight (the weight is > 0, so its bits order like the weight):
//
//   bit 63               32 31                0
//      [ ordered(value)    | bits(weight)      ]
//
// ordered(v) flips a float's bits so that unsigned order is numeric order (-0 just below +0;
// they still merge, being equal as floats). kNoPoint (all ones) marks a position that is not a
// point (excluded, weight 0, padding); it sorts after every point.
constexpr uint64_t kNoPoint = ~uint64_t{0};

SN_HOST_DEVICE inline uint32_t float_to_bits(float value) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(value);
#else
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
#endif
}

SN_HOST_DEVICE inline float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(bits);
#else
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
#endif
}

SN_HOST_DEVICE inline uint64_t sort_key(float value, float weight) {
    const uint32_t bits = float_to_bits(value);
    const uint32_t ordered = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
    return static_cast<uint64_t>(ordered) << 32 | float_to_bits(weight);
}

SN_HOST_DEVICE inline float key_value(uint64_t key) {
    const uint32_t ordered = static_cast<uint32_t>(key >> 32);
    return bits_to_float((ordered & 0x80000000u) != 0 ? ordered & 0x7FFFFFFFu : ~ordered);
}

SN_HOST_DEVICE inline float key_weight(uint64_t key) {
    return bits_to_float(static_cast<uint32_t>(key));
}

// ---- the cost of a group -----------------------------------------------------------------------

// C − B²/A from a group's (normalised) weight A, centred moment B and centred second moment C,
// all differences of prefix sums; clamped at 0. A group whose weight vanishes in the prefix sums
// costs (almost) nothing. No multiply feeds an add here, so no compiler may fuse it (an FMA would
// change the rounding against the C# solver).
SN_HOST_DEVICE inline double segment_cost(double weight, double moment, double squares) {
    const double v = weight > 0 ? squares - moment * moment / weight : squares;
    return v > 0 ? v : 0;
}

// ---- coding --------------------------------------------------------------------------------------

// Number of the `count` ascending midpoints strictly below x: the index of the nearest LUT entry,
// the lower one when x is exactly halfway (midpoints of two floats are exact in double).
SN_HOST_DEVICE inline int count_below(const double* midpoints, int count, double x) {
    int lo = 0, hi = count;
    while (lo < hi) {
        const int mid = (lo + hi) >> 1;
        if (midpoints[mid] < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

}  // namespace sn::kmeans
