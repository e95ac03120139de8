#include "cpu/convert.h"

#include "cpu/isa.h"
#include "half.h"

#include <cstring>
#include <immintrin.h>

namespace sn::cpu {
namespace {

// ---- F16: F16C instructions where present (exact, RNE like src/half.h), else scalar. ----------

SN_TARGET_AVX2 void f16_to_f32_f16c(const uint16_t* source, float* destination, int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(source + i));
        _mm256_storeu_ps(destination + i, _mm256_cvtph_ps(halves));
    }
    for (; i < count; ++i) destination[i] = ::sn::f16_to_f32(source[i]);
}

// 16 at a time: a following AVX-512 dot product then reads each converted vector with one load
// that matches one store (store-to-load forwarding works).
SN_TARGET_AVX512 void f16_to_f32_avx512(const uint16_t* source, float* destination, int64_t count) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const __m256i halves = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(source + i));
        // The masked form: GCC 12 warns (falsely) about the unmasked one's undefined pass-through.
        _mm512_storeu_ps(destination + i, _mm512_mask_cvtph_ps(_mm512_setzero_ps(), 0xFFFF, halves));
    }
    for (; i < count; ++i) destination[i] = ::sn::f16_to_f32(source[i]);
}

SN_TARGET_AVX2 void f32_to_f16_f16c(const float* source, uint16_t* destination, int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m128i halves =
            _mm256_cvtps_ph(_mm256_loadu_ps(source + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(destination + i), halves);
    }
    for (; i < count; ++i) destination[i] = ::sn::f32_to_f16(source[i]);
}

void f16_to_f32_scalar(const uint16_t* source, float* destination, int64_t count) {
    for (int64_t i = 0; i < count; ++i) destination[i] = ::sn::f16_to_f32(source[i]);
}

void f32_to_f16_scalar(const float* source, uint16_t* destination, int64_t count) {
    for (int64_t i = 0; i < count; ++i) destination[i] = ::sn::f32_to_f16(source[i]);
}

// ---- BF16: plain integer code that vectorises at every level. -----------------------------------

SN_ALWAYS_INLINE void bf16_widen_body(const uint16_t* source, float* destination, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) destination[i] = ::sn::bf16_to_f32(source[i]);
}
SN_MULTIVERSION(bf16_widen, (const uint16_t* source, float* destination, int64_t count), (source, destination, count))

SN_ALWAYS_INLINE void bf16_narrow_body(const float* source, uint16_t* destination, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) destination[i] = ::sn::f32_to_bf16(source[i]);
}
SN_MULTIVERSION(bf16_narrow, (const float* source, uint16_t* destination, int64_t count), (source, destination, count))

}  // namespace

void f16_to_f32(const uint16_t* source, float* destination, int64_t count) {
    if (host_isa() == Isa::avx512) {
        f16_to_f32_avx512(source, destination, count);
    } else if (host_isa() >= Isa::avx2) {
        f16_to_f32_f16c(source, destination, count);
    } else {
        f16_to_f32_scalar(source, destination, count);
    }
}

void f32_to_f16(const float* source, uint16_t* destination, int64_t count) {
    if (host_isa() >= Isa::avx2) {
        f32_to_f16_f16c(source, destination, count);
    } else {
        f32_to_f16_scalar(source, destination, count);
    }
}

void bf16_to_f32(const uint16_t* source, float* destination, int64_t count) {
    bf16_widen(source, destination, count);
}

void f32_to_bf16(const float* source, uint16_t* destination, int64_t count) {
    bf16_narrow(source, destination, count);
}

void widen_to_f32(sn_dtype dtype, const void* source, float* destination, int64_t count) {
    switch (dtype) {
        case SN_DTYPE_F16:
            f16_to_f32(static_cast<const uint16_t*>(source), destination, count);
            return;
        case SN_DTYPE_BF16:
            bf16_to_f32(static_cast<const uint16_t*>(source), destination, count);
            return;
        default:
            std::memcpy(destination, source, static_cast<size_t>(count) * sizeof(float));
            return;
    }
}

const float* as_f32(sn_dtype dtype, const void* source, float* buffer, int64_t count) {
    if (dtype == SN_DTYPE_F32) return static_cast<const float*>(source);
    widen_to_f32(dtype, source, buffer, count);
    return buffer;
}

}  // namespace sn::cpu
