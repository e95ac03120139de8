// The compiled-in backends and the op-table queries derived from SN_OP_LIST.
#include "backend.h"

#include "cpu/cpu_backend.h"
#include "error.h"
#include "registry.h"
#include "validate.h"

#include <cstdio>

#ifdef SN_WITH_CUDA_BACKEND
#include "cuda/cuda_backend.h"
#endif

namespace sn {

const char* op_name(OpId op) {
    switch (op) {
#define SN_OP_NAME(name, Args) \
    case OpId::name:           \
        return #name;
        SN_OP_LIST(SN_OP_NAME)
#undef SN_OP_NAME
        case OpId::count:
            break;
    }
    return "unknown op";
}

bool backend_implements(const Backend& backend, OpId op) {
    switch (op) {
#define SN_OP_IMPLEMENTED(name, Args) \
    case OpId::name:                  \
        return backend.ops.name.run != nullptr;
        SN_OP_LIST(SN_OP_IMPLEMENTED)
#undef SN_OP_IMPLEMENTED
        case OpId::count:
            break;
    }
    return false;
}

const Backend* find_backend(sn_backend_kind kind, char* reason, size_t reason_capacity) {
    switch (raw_enum(kind)) {
        case SN_BACKEND_CPU:
            return &cpu::backend();
        case SN_BACKEND_CUDA:
#ifdef SN_WITH_CUDA_BACKEND
            return &cuda::backend();
#else
            std::snprintf(reason, reason_capacity,
                          "built without CUDA: this libsqueezenative has only the CPU backend");
            return nullptr;
#endif
    }
    std::snprintf(reason, reason_capacity, "unknown backend kind %lld", static_cast<long long>(raw_enum(kind)));
    return nullptr;
}

sn_status check_supported(const Context& context, OpId op, const char* const* roles, const Tensor* const* tensors,
                          const DtypeMask* accepts, size_t count) {
    SN_CHECK(backend_implements(*context.backend, op), SN_ERR_UNSUPPORTED, "the %s backend does not implement %s",
             context.backend->name, op_name(op));
    size_t rejected = count;
    for (size_t i = 0; i < count && rejected == count; ++i) {
        if (tensors[i] != nullptr && (accepts[i] & dtype_bit(tensors[i]->dtype)) == 0) rejected = i;
    }
    if (rejected == count) return SN_OK;

    // Name the op and every dtype of the call, then what the backend takes for the rejected one.
    char call[160];
    size_t used = 0;
    for (size_t i = 0; i < count && used < sizeof call; ++i) {
        const char* dtype = tensors[i] != nullptr ? dtype_name(tensors[i]->dtype) : "none";
        const int written =
            std::snprintf(call + used, sizeof call - used, "%s%s=%s", i == 0 ? "" : ", ", roles[i], dtype);
        used += written > 0 ? static_cast<size_t>(written) : 0;
    }
    char accepted[64];
    SN_FAIL(SN_ERR_UNSUPPORTED, "the %s backend does not implement %s for dtypes (%s); %s must be %s",
            context.backend->name, op_name(op), call, roles[rejected],
            describe_dtypes(accepts[rejected], accepted, sizeof accepted));
}

void note_op_failure(const sn_context* context, sn_status status) noexcept {
    try {
        Context* live = context != nullptr ? registry::find_context(context) : nullptr;
        if (live == nullptr || !live->capturing.load(std::memory_order_acquire)) return;
        std::lock_guard<std::mutex> lock(live->capture_mutex);
        if (live->capture != nullptr && live->capture->failure == SN_OK) {
            live->capture->failure = status;
            live->capture->failure_message = sn_last_error();
        }
    } catch (...) {
        // Out of memory while noting the failure: the op's own status already reports it.
    }
}

}  // namespace sn
