// Host-side helpers of the tests that launch LUT kernels directly (test_cuda_lut_pair.cpp,
// test_cuda_lut_paths.cpp): F16-exact random values, uploads, and the float64 reference's
// tolerance for a SwiGLU epilogue (test_cuda_lut.cpp's reasoning).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace sn_test {

// `count` values uniform in [-scale, scale), each exactly representable in F16.
inline std::vector<float> f16_values(size_t count, float scale, std::mt19937& rng) {
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<float> v(count);
    for (float& value : v) value = __half2float(__float2half(scale * uniform(rng)));
    return v;
}

inline std::vector<__half> halves(const std::vector<float>& values) {
    std::vector<__half> h(values.size());
    for (size_t i = 0; i < values.size(); ++i) h[i] = __float2half(values[i]);
    return h;
}

// A device copy of `values`, or null (allocation or copy failed, or nothing to copy).
template <class T>
T* upload(const std::vector<T>& values) {
    T* device = nullptr;
    if (values.empty()) return nullptr;
    if (cudaMalloc(&device, values.size() * sizeof(T)) != cudaSuccess) return nullptr;
    if (cudaMemcpy(device, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess)
        return nullptr;
    return device;
}

// A random product's inputs: codes [n][k], LUT [n][2^bits] (scale 0.05), x [m][k], bias [n] and
// out's initial value [m][columns] (scale 0.5), drawn in this order from one generator.
struct LutInputs {
    std::vector<uint8_t> codes;
    std::vector<float> lut, x, bias, initial;
};
inline LutInputs random_lut_inputs(int bits, int64_t m, int64_t n, int64_t k, int64_t columns, uint32_t seed) {
    const int levels = 1 << bits;
    std::mt19937 rng(seed);
    LutInputs in;
    in.codes.resize(static_cast<size_t>(n * k));
    for (uint8_t& code : in.codes) code = static_cast<uint8_t>(rng() % levels);
    in.lut = f16_values(static_cast<size_t>(n * levels), 0.05f, rng);
    in.x = f16_values(static_cast<size_t>(m * k), 1.0f, rng);
    in.bias = f16_values(static_cast<size_t>(n), 0.5f, rng);
    in.initial = f16_values(static_cast<size_t>(m * columns), 0.5f, rng);
    return in;
}

// silu(g16)·u16 from the float64 gate and up sums (g16, u16: what the kernel rounds them to) and the
// bound on the kernel's result: the F16 rounding of g and u may differ by one step from the
// reference's and the sums by the summation order (2e-5 of Σ|w|, mag_*), carried through with
// |silu'| <= 1.1, plus the F16 rounding of the result.
inline double swiglu_reference(double gate, double up, double mag_gate, double mag_up, double* bound) {
    const double gate16 = __half2float(__float2half(static_cast<float>(gate)));
    const double up16 = __half2float(__float2half(static_cast<float>(up)));
    const double silu = gate16 / (1.0 + std::exp(-gate16));
    const double expected = silu * up16;
    const double eg = 2e-5 * mag_gate + std::ldexp(std::fabs(gate), -10);
    const double eu = 2e-5 * mag_up + std::ldexp(std::fabs(up), -10);
    *bound = 2e-3 * std::fabs(expected) + 1.1 * std::fabs(up16) * eg + std::fabs(silu) * eu + 1e-5;
    return expected;
}

}  // namespace sn_test
