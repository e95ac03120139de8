// Library information and backend availability.
#include "backend.h"
#include "error.h"
#include "validate.h"

extern "C" {

SN_API const char* sn_version(void) {
    return SN_VERSION_STRING;
}

SN_API const char* sn_status_name(sn_status status) {
    switch (sn::raw_enum(status)) {
        case SN_OK:
            return "SN_OK";
        case SN_ERR_INVALID_ARGUMENT:
            return "SN_ERR_INVALID_ARGUMENT";
        case SN_ERR_NULL_ARGUMENT:
            return "SN_ERR_NULL_ARGUMENT";
        case SN_ERR_INVALID_HANDLE:
            return "SN_ERR_INVALID_HANDLE";
        case SN_ERR_DTYPE_MISMATCH:
            return "SN_ERR_DTYPE_MISMATCH";
        case SN_ERR_SHAPE_MISMATCH:
            return "SN_ERR_SHAPE_MISMATCH";
        case SN_ERR_OUT_OF_MEMORY:
            return "SN_ERR_OUT_OF_MEMORY";
        case SN_ERR_BACKEND_UNAVAILABLE:
            return "SN_ERR_BACKEND_UNAVAILABLE";
        case SN_ERR_UNSUPPORTED:
            return "SN_ERR_UNSUPPORTED";
        case SN_ERR_CUDA:
            return "SN_ERR_CUDA";
        case SN_ERR_CONTEXT_MISMATCH:
            return "SN_ERR_CONTEXT_MISMATCH";
        case SN_ERR_INTERNAL:
            return "SN_ERR_INTERNAL";
    }
    return "SN_ERR_UNKNOWN_STATUS";
}

SN_API size_t sn_dtype_size(sn_dtype dtype) {
    switch (sn::raw_enum(dtype)) {
        case SN_DTYPE_F32:
            return 4;
        case SN_DTYPE_F16:
            return 2;
        case SN_DTYPE_BF16:
            return 2;
        case SN_DTYPE_I32:
            return 4;
        case SN_DTYPE_U8:
            return 1;
    }
    return 0;
}

SN_API sn_status sn_backend_available(sn_backend_kind backend, int32_t* out_available) {
    return sn::guarded(__func__, [&]() -> sn_status {
        SN_TRY(sn::require_not_null(out_available, "out_available"));
        *out_available = 0;
        const int64_t kind = sn::raw_enum(backend);
        SN_CHECK(kind == SN_BACKEND_CPU || kind == SN_BACKEND_CUDA, SN_ERR_INVALID_ARGUMENT,
                 "backend: unknown backend kind %lld", static_cast<long long>(kind));
        char reason[256] = "";
        const sn::Backend* found = sn::find_backend(backend, reason, sizeof reason);
        if (found != nullptr && found->available(reason, sizeof reason)) {
            *out_available = 1;
            return SN_OK;
        }
        // Not an error: the documented answer is 0 with the reason readable from sn_last_error.
        sn::record_note(__FILE__, __LINE__, "backend %s is unavailable: %s", kind == SN_BACKEND_CUDA ? "CUDA" : "CPU",
                        reason);
        return SN_OK;
    });
}

}  // extern "C"
