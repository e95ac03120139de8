// Context lifecycle, memory figures and the device description.
#include "backend.h"
#include "error.h"
#include "registry.h"
#include "validate.h"

#include <memory>
#include <omp.h>

extern "C" {

SN_API sn_status sn_context_create(const sn_context_options* options, sn_context** out_context) {
    return sn::guarded(__func__, [&]() -> sn_status {
        SN_TRY(sn::require_not_null(out_context, "out_context"));
        *out_context = nullptr;
        SN_TRY(sn::require_not_null(options, "options"));
        const int64_t kind = sn::raw_enum(options->backend);
        SN_CHECK(kind == SN_BACKEND_CPU || kind == SN_BACKEND_CUDA, SN_ERR_INVALID_ARGUMENT,
                 "options->backend: unknown backend kind %lld", static_cast<long long>(kind));
        SN_CHECK(options->num_threads >= 0, SN_ERR_INVALID_ARGUMENT,
                 "options->num_threads: must be >= 0 (0 = one per core), got %d", options->num_threads);
        // The device ordinal means nothing to the CPU backend, which ignores it (header contract).
        SN_CHECK(kind == SN_BACKEND_CPU || options->device >= 0, SN_ERR_INVALID_ARGUMENT,
                 "options->device: must be >= 0, got %d", options->device);

        SN_CHECK((options->flags & ~static_cast<uint32_t>(SN_CONTEXT_FLAG_DENSE_CUBLAS)) == 0, SN_ERR_INVALID_ARGUMENT,
                 "options->flags: unknown flag bits 0x%x (known: SN_CONTEXT_FLAG_DENSE_CUBLAS = 0x1)",
                 options->flags & ~static_cast<uint32_t>(SN_CONTEXT_FLAG_DENSE_CUBLAS));

        char reason[256] = "";
        const sn::Backend* backend = sn::find_backend(options->backend, reason, sizeof reason);
        SN_CHECK(backend != nullptr, SN_ERR_BACKEND_UNAVAILABLE, "options->backend: %s", reason);
        SN_CHECK(backend->available(reason, sizeof reason), SN_ERR_BACKEND_UNAVAILABLE,
                 "options->backend: the %s backend is unavailable: %s", backend->name, reason);

        auto context = std::make_unique<sn::Context>();
        context->backend = backend;
        context->device = options->device;
        context->flags = options->flags;
        context->num_threads = options->num_threads > 0 ? options->num_threads : omp_get_num_procs();
        if (context->num_threads < 1) context->num_threads = 1;
        SN_TRY(backend->init_context(*context));
        backend->describe_device(*context, context->device_name, sizeof context->device_name);

        try {
            *out_context = sn::registry::add_context(context.get());
        } catch (...) {
            backend->release_context(*context);
            throw;
        }
        context.release();  // owned through the handle now
        return SN_OK;
    });
}

SN_API sn_status sn_context_destroy(sn_context* context) {
    return sn::guarded(__func__, [&]() -> sn_status {
        if (context == nullptr) return SN_OK;
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_CHECK(!live->capturing.load(), SN_ERR_INVALID_ARGUMENT,
                 "context is capturing a graph; end the capture with sn_graph_end_capture first");
        const int64_t tensors = live->live_tensors.load();
        SN_CHECK(tensors == 0, SN_ERR_INVALID_ARGUMENT,
                 "context still has %lld live tensor(s); destroy every tensor and view first (the context stays alive)",
                 static_cast<long long>(tensors));
        const int64_t graphs = live->live_graphs.load();
        SN_CHECK(graphs == 0, SN_ERR_INVALID_ARGUMENT,
                 "context still has %lld live graph(s); destroy every graph first (the context stays alive)",
                 static_cast<long long>(graphs));
        // Only the caller that unregisters the handle frees it (two racing destroys: one wins).
        SN_CHECK(sn::registry::remove_context(context) == live, SN_ERR_INVALID_HANDLE,
                 "context was destroyed concurrently by another thread");
        live->backend->release_context(*live);
        delete live;
        return SN_OK;
    });
}

SN_API sn_status sn_context_get_backend(const sn_context* context, sn_backend_kind* out_backend) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::require_not_null(out_backend, "out_backend"));
        *out_backend = live->backend->kind;
        return SN_OK;
    });
}

SN_API sn_status sn_context_synchronize(sn_context* context) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_CHECK(!live->capturing.load(), SN_ERR_INVALID_ARGUMENT,
                 "context is capturing a graph: waiting for work is not possible until sn_graph_end_capture");
        return live->backend->synchronize(*live);
    });
}

SN_API sn_status sn_context_get_memory(const sn_context* context, sn_memory_info* out_info) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::require_not_null(out_info, "out_info"));
        int64_t free_bytes = 0, total_bytes = 0;
        SN_TRY(live->backend->device_memory(*live, &free_bytes, &total_bytes));
        out_info->allocated_bytes = live->allocated_bytes.load();
        out_info->peak_allocated_bytes = live->peak_allocated_bytes.load();
        out_info->device_free_bytes = free_bytes;
        out_info->device_total_bytes = total_bytes;
        return SN_OK;
    });
}

SN_API sn_status sn_context_reset_peak_memory(sn_context* context) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        live->peak_allocated_bytes.store(live->allocated_bytes.load());
        return SN_OK;
    });
}

// Returns a string, not a status: a dead handle gives "" with the reason in sn_last_error.
SN_API const char* sn_context_device_name(const sn_context* context) {
    const char* name = "";
    const sn_status status = sn::guarded(__func__, [&]() -> sn_status {
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        name = live->device_name;
        return SN_OK;
    });
    return status == SN_OK ? name : "";
}

}  // extern "C"
