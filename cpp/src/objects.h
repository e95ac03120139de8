// The objects behind the opaque handles of squeeze_native.h.
//
// Handles are not pointers to these objects: they are never-reused IDs that the registry
// (registry.h) maps to objects, so a stale handle stays invalid even after its memory is reused.
//
// Ownership:
//   Context  owns its backend state; it may only be destroyed when live_tensors == 0.
//   Tensor   holds a shared reference to a Storage; a view holds the same Storage at an offset,
//            so the bytes stay alive until the last tensor (base or view) is destroyed.
//   Storage  owns one backend allocation and frees it through its context's backend.
// Every tensor counts once in its context's live_tensors, so a context outlives its storages.
#pragma once

#include "squeeze_native.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace sn {

struct Backend;

struct Context {
    const Backend* backend = nullptr;
    int32_t device = 0;
    // Worker threads for CPU kernels, resolved at creation (>= 1).
    int32_t num_threads = 1;
    // Tensors and views created in this context and not yet destroyed.
    std::atomic<int64_t> live_tensors{0};
    // Backend-owned per-context state (a CUDA stream, a device handle), or null.
    void* backend_state = nullptr;
};

struct Storage {
    Context* context;
    void* data;
    size_t nbytes;

    Storage(Context* owner, void* bytes, size_t size) : context(owner), data(bytes), nbytes(size) {}
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
};

struct Tensor {
    Context* context = nullptr;
    sn_dtype dtype = SN_DTYPE_F32;
    int32_t ndim = 0;
    // Extents; entries at and after ndim are 1 (as sn_tensor_info reports them).
    int64_t dims[SN_MAX_DIMS] = {1, 1, 1, 1};
    int64_t numel = 0;
    std::shared_ptr<Storage> storage;
    // Where this tensor's first element lies inside storage (non-zero only for views).
    size_t byte_offset = 0;
    bool is_view = false;

    size_t element_size() const { return sn_dtype_size(dtype); }
    size_t nbytes() const { return static_cast<size_t>(numel) * element_size(); }
    void* data() const { return static_cast<char*>(storage->data) + byte_offset; }
    template <class T>
    T* data_as() const {
        return static_cast<T*>(data());
    }
    // Extent of the last dimension, and the number of rows (all leading dimensions flattened).
    int64_t last_dim() const { return dims[ndim - 1]; }
    int64_t rows() const { return numel / last_dim(); }
};

}  // namespace sn
