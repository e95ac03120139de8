// Reading one code out of the checkpoint layout of LUT codes (qweight I32 [K·bits/32, N], drawn in
// src/cpu/lut_matmul.cpp), for the kernels that repack it into a layout of their own
// (kernels/lut_gemv.cu, kernels/lut_pair_gemv.cu).
#pragma once

#include <cstdint>

namespace sn::cuda {

// Code of row n at input k: the 32-input group's `bits` words (one per row of qweight, in column n)
// form a little-endian bit stream, code t at bits bits·t .. bits·t + bits − 1.
__device__ __forceinline__ uint32_t checkpoint_code(const int32_t* qweight, int64_t n_total, int64_t n, int64_t k,
                                                    int bits) {
    const int64_t group = k / 32;
    const int offset = bits * static_cast<int>(k % 32);
    const int64_t row = bits * group + offset / 32;
    const int shift = offset % 32;
    uint32_t value = static_cast<uint32_t>(qweight[row * n_total + n]) >> shift;
    if (shift + bits > 32) value |= static_cast<uint32_t>(qweight[(row + 1) * n_total + n]) << (32 - shift);
    return value & ((1u << bits) - 1u);
}

}  // namespace sn::cuda
