// Tensor lifecycle, views and host transfers.
#include "backend.h"
#include "error.h"
#include "registry.h"
#include "validate.h"

#include <limits>
#include <memory>

namespace sn {

Storage::~Storage() {
    context->backend->release(*context, data);
    context->count_release(static_cast<int64_t>(nbytes));
}

namespace {

// Validates dims/ndim and computes the element count, guarding against overflow of the byte size.
sn_status checked_shape(const int64_t* dims, int32_t ndim, sn_dtype dtype, int64_t* out_numel) {
    SN_TRY(require_not_null(dims, "dims"));
    SN_CHECK(ndim >= 1 && ndim <= SN_MAX_DIMS, SN_ERR_INVALID_ARGUMENT, "ndim: must be 1..%d, got %d", SN_MAX_DIMS,
             ndim);
    const int64_t max_bytes = std::numeric_limits<int64_t>::max() / 2;
    int64_t numel = 1;
    for (int32_t i = 0; i < ndim; ++i) {
        SN_CHECK(dims[i] >= 1, SN_ERR_INVALID_ARGUMENT, "dims[%d]: every dimension must be >= 1, got %lld (shape %s)",
                 i, static_cast<long long>(dims[i]), shape_text(dims, ndim).text);
        SN_CHECK(!__builtin_mul_overflow(numel, dims[i], &numel), SN_ERR_INVALID_ARGUMENT,
                 "dims: the element count of shape %s overflows", shape_text(dims, ndim).text);
    }
    SN_CHECK(numel <= max_bytes / static_cast<int64_t>(sn_dtype_size(dtype)), SN_ERR_INVALID_ARGUMENT,
             "dims: shape %s is too large", shape_text(dims, ndim).text);
    *out_numel = numel;
    return SN_OK;
}

// Transfers and allocations wait for or disturb the device, which a capture cannot record.
sn_status require_not_capturing(const Context& context, const char* what) {
    SN_CHECK(
        !context.capturing.load(), SN_ERR_INVALID_ARGUMENT,
        "the tensor's context is capturing a graph: %s is not allowed until sn_graph_end_capture (keep values that "
        "change per replay in tensors and upload them before sn_graph_launch)",
        what);
    return SN_OK;
}

void set_shape(Tensor& tensor, const int64_t* dims, int32_t ndim, int64_t numel) {
    tensor.ndim = ndim;
    for (int32_t i = 0; i < SN_MAX_DIMS; ++i) tensor.dims[i] = i < ndim ? dims[i] : 1;
    tensor.numel = numel;
}

// Registers a fully built tensor and hands it to the caller.
void publish(std::unique_ptr<Tensor> tensor, sn_tensor** out_tensor) {
    sn_tensor* handle = registry::add_tensor(tensor.get());  // may throw: nothing counted yet
    tensor->context->live_tensors.fetch_add(1);
    *out_tensor = handle;
    tensor.release();  // owned through the handle now
}

}  // namespace
}  // namespace sn

extern "C" {

SN_API sn_status sn_tensor_create(sn_context* context, sn_dtype dtype, const int64_t* dims, int32_t ndim,
                                  sn_tensor** out_tensor) {
    return sn::guarded(__func__, [&]() -> sn_status {
        SN_TRY(sn::require_not_null(out_tensor, "out_tensor"));
        *out_tensor = nullptr;
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_CHECK(!live->capturing.load(), SN_ERR_INVALID_ARGUMENT,
                 "context is capturing a graph: create tensors before sn_graph_begin_capture (views are allowed)");
        SN_CHECK(sn::is_valid_dtype(sn::raw_enum(dtype)), SN_ERR_INVALID_ARGUMENT, "dtype: unknown dtype %lld",
                 static_cast<long long>(sn::raw_enum(dtype)));
        int64_t numel = 0;
        SN_TRY(sn::checked_shape(dims, ndim, dtype, &numel));

        auto tensor = std::make_unique<sn::Tensor>();
        tensor->context = live;
        tensor->dtype = dtype;
        sn::set_shape(*tensor, dims, ndim, numel);
        void* data = nullptr;
        SN_TRY(live->backend->allocate(*live, tensor->nbytes(), &data));
        try {
            tensor->storage = std::make_shared<sn::Storage>(live, data, tensor->nbytes());
        } catch (...) {
            live->backend->release(*live, data);
            throw;
        }
        sn::publish(std::move(tensor), out_tensor);
        return SN_OK;
    });
}

SN_API sn_status sn_tensor_view(sn_tensor* base, int64_t offset_elements, const int64_t* dims, int32_t ndim,
                                sn_tensor** out_view) {
    return sn::guarded(__func__, [&]() -> sn_status {
        SN_TRY(sn::require_not_null(out_view, "out_view"));
        *out_view = nullptr;
        sn::Tensor* live = nullptr;
        SN_TRY(sn::resolve_tensor(base, "base", &live));
        int64_t numel = 0;
        SN_TRY(sn::checked_shape(dims, ndim, live->dtype, &numel));
        SN_CHECK(offset_elements >= 0 && offset_elements < live->numel, SN_ERR_INVALID_ARGUMENT,
                 "offset_elements: %lld is outside base %s (%lld elements)", static_cast<long long>(offset_elements),
                 sn::shape_text(*live).text, static_cast<long long>(live->numel));
        SN_CHECK(numel <= live->numel - offset_elements, SN_ERR_INVALID_ARGUMENT,
                 "dims: a view of shape %s (%lld elements) at offset %lld does not fit in base %s (%lld elements)",
                 sn::shape_text(dims, ndim).text, static_cast<long long>(numel),
                 static_cast<long long>(offset_elements), sn::shape_text(*live).text,
                 static_cast<long long>(live->numel));

        auto view = std::make_unique<sn::Tensor>();
        view->context = live->context;
        view->dtype = live->dtype;
        sn::set_shape(*view, dims, ndim, numel);
        view->storage = live->storage;
        view->byte_offset = live->byte_offset + static_cast<size_t>(offset_elements) * live->element_size();
        view->is_view = true;
        sn::publish(std::move(view), out_view);
        return SN_OK;
    });
}

SN_API sn_status sn_tensor_destroy(sn_tensor* tensor) {
    return sn::guarded(__func__, [&]() -> sn_status {
        if (tensor == nullptr) return SN_OK;
        // Unregistering is the validity check, so of two racing destroys only one frees.
        sn::Tensor* live = sn::registry::remove_tensor(tensor);
        SN_CHECK(live != nullptr, SN_ERR_INVALID_HANDLE,
                 "tensor (%p) is not a live tensor: destroyed, never created, or another kind of handle",
                 static_cast<const void*>(tensor));
        sn::Context* context = live->context;
        delete live;  // frees the storage when this was its last tensor
        context->live_tensors.fetch_sub(1);
        return SN_OK;
    });
}

SN_API sn_status sn_tensor_get_info(const sn_tensor* tensor, sn_tensor_info* out_info) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Tensor* live = nullptr;
        SN_TRY(sn::resolve_tensor(tensor, "tensor", &live));
        SN_TRY(sn::require_not_null(out_info, "out_info"));
        out_info->dtype = live->dtype;
        out_info->ndim = live->ndim;
        for (int i = 0; i < SN_MAX_DIMS; ++i) out_info->dims[i] = live->dims[i];
        out_info->numel = live->numel;
        out_info->nbytes = static_cast<int64_t>(live->nbytes());
        out_info->is_view = live->is_view ? 1 : 0;
        return SN_OK;
    });
}

SN_API sn_status sn_tensor_upload(sn_tensor* tensor, const void* src, size_t nbytes) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Tensor* live = nullptr;
        SN_TRY(sn::resolve_tensor(tensor, "tensor", &live));
        SN_TRY(sn::require_not_null(src, "src"));
        SN_CHECK(nbytes == live->nbytes(), SN_ERR_INVALID_ARGUMENT,
                 "nbytes: %zu does not match the tensor's size, %zu bytes (%s %s)", nbytes, live->nbytes(),
                 sn::dtype_name(live->dtype), sn::shape_text(*live).text);
        SN_TRY(sn::require_not_capturing(*live->context, "an upload"));
        return live->context->backend->upload(*live->context, live->data(), src, nbytes);
    });
}

SN_API sn_status sn_tensor_download(const sn_tensor* tensor, void* dst, size_t nbytes) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Tensor* live = nullptr;
        SN_TRY(sn::resolve_tensor(tensor, "tensor", &live));
        SN_TRY(sn::require_not_null(dst, "dst"));
        SN_CHECK(nbytes == live->nbytes(), SN_ERR_INVALID_ARGUMENT,
                 "nbytes: %zu does not match the tensor's size, %zu bytes (%s %s)", nbytes, live->nbytes(),
                 sn::dtype_name(live->dtype), sn::shape_text(*live).text);
        SN_TRY(sn::require_not_capturing(*live->context, "a download"));
        SN_TRY(live->context->backend->synchronize(*live->context));
        return live->context->backend->download(*live->context, dst, live->data(), nbytes);
    });
}

}  // extern "C"
