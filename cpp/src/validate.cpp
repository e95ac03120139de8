#include "validate.h"

#include "error.h"
#include "registry.h"

#include <cstdio>
#include <cstring>

namespace sn {

const char* dtype_name(sn_dtype dtype) {
    switch (raw_enum(dtype)) {
        case SN_DTYPE_F32:
            return "F32";
        case SN_DTYPE_F16:
            return "F16";
        case SN_DTYPE_BF16:
            return "BF16";
        case SN_DTYPE_I32:
            return "I32";
        case SN_DTYPE_U8:
            return "U8";
    }
    return "unknown";
}

bool is_valid_dtype(int64_t dtype) {
    return dtype >= SN_DTYPE_F32 && dtype <= SN_DTYPE_U8;
}

const char* describe_dtypes(DtypeMask mask, char* buffer, size_t capacity) {
    if (capacity == 0) return buffer;
    buffer[0] = '\0';
    int total = 0;
    for (int dtype = SN_DTYPE_F32; dtype <= SN_DTYPE_U8; ++dtype) total += (mask >> dtype) & 1u;
    if (total == 0) {
        std::snprintf(buffer, capacity, "none");
        return buffer;
    }
    int listed = 0;
    size_t used = 0;
    for (int dtype = SN_DTYPE_F32; dtype <= SN_DTYPE_U8 && used < capacity; ++dtype) {
        if (((mask >> dtype) & 1u) == 0) continue;
        const char* separator = listed == 0 ? "" : (listed == total - 1 ? " or " : ", ");
        const int written =
            std::snprintf(buffer + used, capacity - used, "%s%s", separator, dtype_name(static_cast<sn_dtype>(dtype)));
        used += written > 0 ? static_cast<size_t>(written) : 0;
        ++listed;
    }
    return buffer;
}

ShapeText shape_text(const int64_t* dims, int32_t ndim) {
    ShapeText shape{};
    size_t used = static_cast<size_t>(std::snprintf(shape.text, sizeof shape.text, "["));
    for (int32_t i = 0; i < ndim && used < sizeof shape.text; ++i) {
        const int written = std::snprintf(shape.text + used, sizeof shape.text - used, i == 0 ? "%lld" : ", %lld",
                                          static_cast<long long>(dims[i]));
        used += written > 0 ? static_cast<size_t>(written) : 0;
    }
    if (used < sizeof shape.text) std::snprintf(shape.text + used, sizeof shape.text - used, "]");
    return shape;
}

ShapeText shape_text(const Tensor& tensor) {
    return shape_text(tensor.dims, tensor.ndim);
}

sn_status resolve_context(const sn_context* handle, const char* arg, Context** out_context) {
    SN_CHECK(handle != nullptr, SN_ERR_NULL_ARGUMENT, "%s is NULL", arg);
    *out_context = registry::find_context(handle);
    SN_CHECK(*out_context != nullptr, SN_ERR_INVALID_HANDLE,
             "%s (%p) is not a live context: destroyed, never created, or another kind of handle", arg,
             static_cast<const void*>(handle));
    return SN_OK;
}

sn_status resolve_tensor(const sn_tensor* handle, const char* arg, Tensor** out_tensor) {
    SN_CHECK(handle != nullptr, SN_ERR_NULL_ARGUMENT, "%s is NULL", arg);
    *out_tensor = registry::find_tensor(handle);
    SN_CHECK(*out_tensor != nullptr, SN_ERR_INVALID_HANDLE,
             "%s (%p) is not a live tensor: destroyed, never created, or another kind of handle", arg,
             static_cast<const void*>(handle));
    return SN_OK;
}

sn_status resolve_tensor_in(const Context& context, const sn_tensor* handle, const char* arg, Tensor** out_tensor) {
    SN_TRY(resolve_tensor(handle, arg, out_tensor));
    SN_CHECK((*out_tensor)->context == &context, SN_ERR_CONTEXT_MISMATCH,
             "%s belongs to another context than the one the call runs on", arg);
    return SN_OK;
}

sn_status resolve_optional_tensor_in(const Context& context, const sn_tensor* handle, const char* arg,
                                     Tensor** out_tensor) {
    *out_tensor = nullptr;
    if (handle == nullptr) return SN_OK;
    return resolve_tensor_in(context, handle, arg, out_tensor);
}

sn_status require_not_null(const void* pointer, const char* arg) {
    SN_CHECK(pointer != nullptr, SN_ERR_NULL_ARGUMENT, "%s is NULL", arg);
    return SN_OK;
}

sn_status require_dtype(const Tensor& tensor, const char* arg, DtypeMask allowed) {
    if ((allowed & dtype_bit(tensor.dtype)) != 0) return SN_OK;
    char expected[64];
    SN_FAIL(SN_ERR_DTYPE_MISMATCH, "%s: expected dtype %s, got %s", arg,
            describe_dtypes(allowed, expected, sizeof expected), dtype_name(tensor.dtype));
}

sn_status require_same_dtype(const Tensor& tensor, const char* arg, const Tensor& reference,
                             const char* reference_arg) {
    SN_CHECK(tensor.dtype == reference.dtype, SN_ERR_DTYPE_MISMATCH, "%s has dtype %s but %s has %s", arg,
             dtype_name(tensor.dtype), reference_arg, dtype_name(reference.dtype));
    return SN_OK;
}

sn_status require_ndim(const Tensor& tensor, const char* arg, int32_t ndim, const char* layout) {
    SN_CHECK(tensor.ndim == ndim, SN_ERR_SHAPE_MISMATCH, "%s: expected %d-D %s, got %s", arg, ndim, layout,
             shape_text(tensor).text);
    return SN_OK;
}

sn_status require_same_shape(const Tensor& tensor, const char* arg, const Tensor& reference,
                             const char* reference_arg) {
    bool same = tensor.ndim == reference.ndim;
    for (int32_t i = 0; same && i < tensor.ndim; ++i) same = tensor.dims[i] == reference.dims[i];
    SN_CHECK(same, SN_ERR_SHAPE_MISMATCH, "%s has shape %s but %s has %s", arg, shape_text(tensor).text, reference_arg,
             shape_text(reference).text);
    return SN_OK;
}

sn_status require_vector(const Tensor& tensor, const char* arg, int64_t length, const char* length_name) {
    SN_CHECK(tensor.ndim == 1 && tensor.dims[0] == length, SN_ERR_SHAPE_MISMATCH,
             "%s: expected 1-D [%s] = [%lld], got %s", arg, length_name, static_cast<long long>(length),
             shape_text(tensor).text);
    return SN_OK;
}

bool overlaps(const Tensor& a, const Tensor& b) {
    if (a.storage != b.storage) return false;
    const size_t a_end = a.byte_offset + a.nbytes();
    const size_t b_end = b.byte_offset + b.nbytes();
    return a.byte_offset < b_end && b.byte_offset < a_end;
}

bool same_memory(const Tensor& a, const Tensor& b) {
    return a.storage == b.storage && a.byte_offset == b.byte_offset && a.nbytes() == b.nbytes();
}

sn_status require_no_overlap(const Tensor& out, const char* out_arg, const Tensor& input, const char* input_arg) {
    SN_CHECK(!overlaps(out, input), SN_ERR_INVALID_ARGUMENT, "%s must not alias %s (their memory overlaps)", out_arg,
             input_arg);
    return SN_OK;
}

sn_status require_no_partial_overlap(const Tensor& out, const char* out_arg, const Tensor& input,
                                     const char* input_arg) {
    SN_CHECK(!overlaps(out, input) || (same_memory(out, input) && out.dtype == input.dtype), SN_ERR_INVALID_ARGUMENT,
             "%s partially overlaps %s (it may only be exactly the same memory, for in-place use)", out_arg, input_arg);
    return SN_OK;
}

}  // namespace sn
