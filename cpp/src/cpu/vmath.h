// exp for the kernels: Cephes' expf scheme (range reduction x = n·ln2 + r with ln2 split in two,
// degree-5 polynomial for e^r, 2^n by building the exponent bits). Relative error about 2 ulp
// on [-87.3, 88.7]; below that the result is 0 (denormal results are flushed), above it +inf.
// exp_scalar is written so loops auto-vectorise it; exp_vec is the same computation on vec<W>.
#pragma once

#include "cpu/isa.h"

#include <cstdint>
#include <cstring>

namespace sn::cpu::exp_constants {
constexpr float kLowest = -87.33654475f;  // ln(2^-126): smaller inputs underflow to 0
constexpr float kHighest = 88.72283905f;  // ln(FLT_MAX)
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;  // ln2 = kLn2High + kLn2Low, kLn2High exact in 9 bits
constexpr float kLn2Low = -2.12194440e-4f;
constexpr float kRoundShifter = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer in the low bits
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f;
constexpr float kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;
}  // namespace sn::cpu::exp_constants

namespace sn::cpu {

SN_ALWAYS_INLINE float exp_scalar(float x) {
    using namespace exp_constants;
    const float clamped = x < kLowest ? kLowest : (x > kHighest ? kHighest : x);
    const float shifted = clamped * kLog2e + kRoundShifter;
    const float n = shifted - kRoundShifter;
    uint32_t shifted_bits;
    std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    const uint32_t scale_bits = (shifted_bits - 0x4B400000u + 127u) << 23;  // 2^n
    float scale;
    std::memcpy(&scale, &scale_bits, sizeof scale);
    float r = clamped - n * kLn2High;
    r = r - n * kLn2Low;
    float p = kP0;
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    const float y = (p * r * r + r + 1.0f) * scale;
    return x < kLowest ? 0.0f : (x > kHighest ? __builtin_inff() : y);
}

template <int W>
SN_ALWAYS_INLINE typename vec<W>::f32 exp_vec(typename vec<W>::f32 x) {
    using namespace exp_constants;
    using V = typename vec<W>::f32;
    using I = typename vec<W>::i32;
    const V lowest = splat<V>(kLowest);
    const V highest = splat<V>(kHighest);
    V clamped = x < lowest ? lowest : x;
    clamped = clamped > highest ? highest : clamped;
    const V shifted = clamped * kLog2e + kRoundShifter;
    const V n = shifted - kRoundShifter;
    const I scale_bits = ((I)shifted - 0x4B400000 + 127) << 23;  // (I) and (V) casts reinterpret bits
    V r = clamped - n * kLn2High;
    r = r - n * kLn2Low;
    V p = splat<V>(kP0);
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    V y = (p * r * r + r + 1.0f) * (V)scale_bits;
    y = x < lowest ? V{} : y;
    return x > highest ? splat<V>(__builtin_inff()) : y;
}

}  // namespace sn::cpu
