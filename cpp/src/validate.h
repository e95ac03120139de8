// Argument validation shared by the exported functions. Each check records a message naming
// the argument (by its parameter name in squeeze_native.h) and returns the status the header
// documents; callers chain them with SN_TRY.
#pragma once

#include "backend.h"
#include "objects.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sn {

// The integer a caller passed for an enum. C callers and P/Invoke may pass any int; in C++ a
// value outside the enum's range must not even be read through the enum type (undefined
// behaviour, which UBSan reports), so enum arguments are copied out as raw bits, validated, and
// only then used as enums.
template <class Enum>
int64_t raw_enum(const Enum& value) {
    std::underlying_type_t<Enum> raw;
    std::memcpy(&raw, &value, sizeof raw);
    return static_cast<int64_t>(raw);
}

const char* dtype_name(sn_dtype dtype);
bool is_valid_dtype(int64_t dtype);

// "F32, F16 or BF16" for a mask (into a caller buffer, returned for convenience).
const char* describe_dtypes(DtypeMask mask, char* buffer, size_t capacity);

// "[3, 4, 5]" for a tensor's shape.
struct ShapeText {
    char text[96];
};
ShapeText shape_text(const Tensor& tensor);
ShapeText shape_text(const int64_t* dims, int32_t ndim);

// A null handle is SN_ERR_NULL_ARGUMENT; one that is not live is SN_ERR_INVALID_HANDLE.
sn_status resolve_context(const sn_context* handle, const char* arg, Context** out_context);
sn_status resolve_tensor(const sn_tensor* handle, const char* arg, Tensor** out_tensor);

// Like resolve_tensor, and the tensor must belong to `context` (else SN_ERR_CONTEXT_MISMATCH).
sn_status resolve_tensor_in(const Context& context, const sn_tensor* handle, const char* arg, Tensor** out_tensor);
// The same for an optional tensor: null is accepted and gives null.
sn_status resolve_optional_tensor_in(const Context& context, const sn_tensor* handle, const char* arg,
                                     Tensor** out_tensor);

sn_status require_not_null(const void* pointer, const char* arg);
sn_status require_dtype(const Tensor& tensor, const char* arg, DtypeMask allowed);
sn_status require_same_dtype(const Tensor& tensor, const char* arg, const Tensor& reference, const char* reference_arg);
sn_status require_ndim(const Tensor& tensor, const char* arg, int32_t ndim, const char* layout);
// Identical ndim and dims.
sn_status require_same_shape(const Tensor& tensor, const char* arg, const Tensor& reference, const char* reference_arg);
// 1-D of the given length.
sn_status require_vector(const Tensor& tensor, const char* arg, int64_t length, const char* length_name);

// Whether the byte ranges of two tensors intersect / are exactly the same.
bool overlaps(const Tensor& a, const Tensor& b);
bool same_memory(const Tensor& a, const Tensor& b);

// `out` must not share any byte with `input`.
sn_status require_no_overlap(const Tensor& out, const char* out_arg, const Tensor& input, const char* input_arg);
// `out` may be exactly `input` (in-place) but must not partially overlap it.
sn_status require_no_partial_overlap(const Tensor& out, const char* out_arg, const Tensor& input,
                                     const char* input_arg);

}  // namespace sn
