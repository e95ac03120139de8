// Instruction-set selection for the CPU kernels.
//
// Hot kernels are compiled three times in the same translation unit, for
//   avx512    x86-64-v4 (AVX-512 F/BW/DQ/VL + everything in v3)
//   avx2      x86-64-v3 (AVX2, FMA, F16C, BMI2, ...)
//   baseline  x86-64 (SSE2)
// through per-function target attributes (never per-file flags: an inline function emitted by
// an AVX-512 file could be picked by the linker for the whole library and crash older CPUs).
// host_isa() picks the best level the CPU and OS support, once. The environment variable
// SN_CPU_MAX_ISA=avx2|baseline caps it (like oneDNN's ONEDNN_MAX_CPU_ISA); the tests use it to
// run every code path on one machine.
//
// Two ways to write a multi-versioned kernel:
//   - SN_MULTIVERSION(name, params, args): a plain loop in an always-inline `name_body`, which the
//     compiler auto-vectorises once per level, plus a dispatcher `name`;
//   - templates over the vector width W using vec<W> below (matmul, attention), instantiated in
//     functions marked SN_TARGET_AVX512 / SN_TARGET_AVX2 and chosen with host_isa().
// OpenMP parallel regions stay outside multi-versioned functions: GCC outlines a region before
// it inlines, so a region's body would not get the caller's target.
#pragma once

#include <cstdint>
#include <cstring>

#define SN_TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#define SN_TARGET_AVX2 __attribute__((target("arch=x86-64-v3")))
#define SN_ALWAYS_INLINE inline __attribute__((always_inline))

namespace sn::cpu {

enum class Isa { baseline = 0, avx2 = 1, avx512 = 2 };

Isa host_isa();
const char* isa_name(Isa isa);

// W floats in one SIMD register: 16 for AVX-512, 8 for AVX2, 4 for SSE2.
template <int W>
struct vec {
    typedef float f32 __attribute__((vector_size(W * sizeof(float))));
    typedef int32_t i32 __attribute__((vector_size(W * sizeof(int32_t))));
};

template <class V>
SN_ALWAYS_INLINE V load_vec(const float* source) {
    V value;
    std::memcpy(&value, source, sizeof value);
    return value;
}

template <class V>
SN_ALWAYS_INLINE void store_vec(float* destination, V value) {
    std::memcpy(destination, &value, sizeof value);
}

template <class V>
SN_ALWAYS_INLINE V splat(float value) {
    return V{} + value;
}

}  // namespace sn::cpu

// Defines `name_avx512`, `name_avx2`, `name_baseline` wrapping the always-inline `name_body`, and
// a dispatcher `name` with the same parameters. Use it inside an anonymous namespace.
// clang-format off
#define SN_MULTIVERSION(name, params, args)                              \
    SN_TARGET_AVX512 void name##_avx512 params { name##_body args; }     \
    SN_TARGET_AVX2 void name##_avx2 params { name##_body args; }         \
    void name##_baseline params { name##_body args; }                    \
    void name params {                                                   \
        switch (::sn::cpu::host_isa()) {                                 \
            case ::sn::cpu::Isa::avx512: name##_avx512 args; return;     \
            case ::sn::cpu::Isa::avx2: name##_avx2 args; return;         \
            case ::sn::cpu::Isa::baseline: break;                        \
        }                                                                \
        name##_baseline args;                                            \
    }
// clang-format on
