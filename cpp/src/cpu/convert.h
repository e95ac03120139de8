// Element-type conversions on rows of values (vectorised; see src/half.h for the scalar rules).
#pragma once

#include "squeeze_native.h"

#include <cstdint>

namespace sn::cpu {

void f16_to_f32(const uint16_t* source, float* destination, int64_t count);
void bf16_to_f32(const uint16_t* source, float* destination, int64_t count);
// Round to nearest even; NaN stays NaN.
void f32_to_f16(const float* source, uint16_t* destination, int64_t count);
void f32_to_bf16(const float* source, uint16_t* destination, int64_t count);

// Widens `count` elements of a float dtype (F32, F16 or BF16) to F32.
void widen_to_f32(sn_dtype dtype, const void* source, float* destination, int64_t count);

// A float tensor's values as F32: the tensor's own data when it is F32, else widened into
// `buffer` (count floats). Used for small operands such as norm weights and biases.
const float* as_f32(sn_dtype dtype, const void* source, float* buffer, int64_t count);

}  // namespace sn::cpu
