// Exact scalar conversions between binary32 and the two 16-bit float formats.
//
//   binary16 (F16):  s eeeee mmmmmmmmmm          bias 15, subnormals, inf/NaN at e = 31
//   bfloat16 (BF16): s eeeeeeee mmmmmmm          the upper 16 bits of a binary32
//
// Narrowing rounds to nearest, ties to even (as torch .half()/.bfloat16() and F16C's vcvtps2ph
// with _MM_FROUND_TO_NEAREST_INT do); NaN stays NaN with its sign and top payload bits, and the
// quiet bit set. Widening is exact. These are the reference the vectorised paths
// (src/cpu/convert.cpp) are tested against.
#pragma once

#include <cstdint>
#include <cstring>

namespace sn {

inline uint32_t float_bits(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

inline float bits_float(uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

inline float f16_to_f32(uint16_t half) {
    const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
    const uint32_t exponent = (half >> 10) & 0x1Fu;
    const uint32_t mantissa = half & 0x3FFu;
    if (exponent == 0) {
        // Zero or subnormal: mantissa * 2^-24, exact in binary32 (a 10-bit integer times a power of two).
        const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
        return bits_float(sign | float_bits(magnitude));
    }
    if (exponent == 31) return bits_float(sign | 0x7F800000u | (mantissa << 13));  // inf / NaN
    return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));        // rebias 15 -> 127
}

inline uint16_t f32_to_f16(float value) {
    const uint32_t bits = float_bits(value);
    const uint32_t sign = (bits >> 16) & 0x8000u;
    const uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude >= 0x7F800000u) {  // inf or NaN
        const uint32_t nan_payload = magnitude > 0x7F800000u ? 0x200u | ((magnitude >> 13) & 0x3FFu) : 0u;
        return static_cast<uint16_t>(sign | 0x7C00u | nan_payload);
    }
    if (magnitude >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to inf
    if (magnitude < 0x38800000u) {
        // Below 2^-14: the result is a subnormal (or zero) in units of 2^-24.
        if (magnitude < 0x33000000u) return static_cast<uint16_t>(sign);   // < 2^-25 rounds to zero
        const uint32_t exponent = magnitude >> 23;                         // 102 .. 112
        const uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;  // 24 bits
        const uint32_t shift = 126u - exponent;                            // 14 .. 24
        uint32_t result = significand >> shift;
        const uint32_t remainder = significand & ((1u << shift) - 1u);
        const uint32_t halfway = 1u << (shift - 1u);
        if (remainder > halfway || (remainder == halfway && (result & 1u))) ++result;
        return static_cast<uint16_t>(sign | result);  // a carry into 0x400 is the smallest normal
    }
    uint32_t result = (magnitude - 0x38000000u) >> 13;  // rebias 127 -> 15, keep 10 mantissa bits
    const uint32_t remainder = magnitude & 0x1FFFu;
    if (remainder > 0x1000u || (remainder == 0x1000u && (result & 1u))) ++result;
    return static_cast<uint16_t>(sign | result);
}

inline float bf16_to_f32(uint16_t value) {
    return bits_float(static_cast<uint32_t>(value) << 16);
}

inline uint16_t f32_to_bf16(float value) {
    const uint32_t bits = float_bits(value);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
    const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace sn
