// The objects behind the opaque handles of squeeze_native.h.
//
// Handles are not pointers to these objects: they are never-reused IDs that the registry
// (registry.h) maps to objects, so a stale handle stays invalid even after its memory is reused.
//
// Ownership:
//   Context  owns its backend state; it may only be destroyed when no tensor and no graph of it
//            is live (live_tensors == 0 and live_graphs == 0).
//   Tensor   holds a shared reference to a Storage; a view holds the same Storage at an offset,
//            so the bytes stay alive until the last tensor (base or view) is destroyed.
//   Storage  owns one backend allocation and frees it through its context's backend; while it
//            lives its bytes count in the context's allocated_bytes.
//   Graph    holds every Storage its recorded operations touch (replaying never reads freed
//            memory, even if the caller destroyed a tensor first) and, on the CPU, copies of the
//            recorded operations' tensors.
// Every tensor and graph counts once in its context, so a context outlives its storages.
#pragma once

#include "squeeze_native.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sn {

struct Backend;
struct Context;
struct Storage;

// An operation recorded by a backend without a native graph mechanism (the CPU): the op
// function bound to its arguments, replayed by sn_graph_launch.
using RecordedOp = std::function<sn_status(Context&)>;

// What sn_graph_begin_capture starts collecting; sn_graph_end_capture moves it into a Graph.
struct Capture {
    // The first operation that failed while capturing (SN_OK if none) and its message.
    sn_status failure = SN_OK;
    std::string failure_message;
    std::vector<RecordedOp> ops;                     // CPU: the calls to replay, in order
    std::vector<std::shared_ptr<Storage>> storages;  // every storage an operation touched
};

struct Context {
    const Backend* backend = nullptr;
    int32_t device = 0;
    // sn_context_options::flags (sn_context_flags), fixed at creation.
    uint32_t flags = 0;
    // Worker threads for CPU kernels, resolved at creation (>= 1).
    int32_t num_threads = 1;
    // Tensors, views and graphs created in this context and not yet destroyed.
    std::atomic<int64_t> live_tensors{0};
    std::atomic<int64_t> live_graphs{0};
    // Bytes of live tensor storage (views add nothing) and the largest value since the last reset.
    std::atomic<int64_t> allocated_bytes{0};
    std::atomic<int64_t> peak_allocated_bytes{0};
    // sn_context_device_name's text, written once by the backend at creation.
    char device_name[192] = "";
    // Backend-owned per-context state (a CUDA stream, a device handle), or null.
    void* backend_state = nullptr;

    // The operations run last on this context, newest first: the storages of every tensor (read or
    // written) of each, `count` of them or -1 when unknown (none yet, a failed op, a graph launch),
    // identity only, never dereferenced; and whether the op's kernels let the next op's kernels
    // start before they wait for the op before them (releases_early: the CUDA backend's small
    // chained kernels, kernels/chained_launch.h), so that the next op may run beside that one too.
    // A backend may read an op's constant operands ahead of the kernels before it when none of
    // those that may still be running can have written them (the CUDA LUT-GEMV,
    // kernels/lut_gemv.h): earlier_op_may_have_written tells.
    static constexpr int kTrackedStorages = 16;
    static constexpr int kTrackedOps = 4;
    struct OpRecord {
        std::array<const Storage*, kTrackedStorages> storages{};
        int count = -1;
        bool releases_early = false;
    };
    std::array<OpRecord, kTrackedOps> recent_ops{};
    // Makes room for the op run now at recent_ops[0] (the oldest record drops out) and returns it.
    OpRecord& push_op() {
        for (size_t i = recent_ops.size() - 1; i > 0; --i) recent_ops[i] = recent_ops[i - 1];
        return recent_ops[0];
    }
    // Set by a backend's op while it runs (run_op clears it before and records it after).
    bool op_releases_early = false;

    // Graph capture: `capturing` is read without the lock on every op; `capture` is guarded by
    // capture_mutex and non-null exactly while capturing.
    std::atomic<bool> capturing{false};
    std::mutex capture_mutex;
    std::unique_ptr<Capture> capture;

    void count_allocation(int64_t bytes) {
        const int64_t now = allocated_bytes.fetch_add(bytes) + bytes;
        int64_t peak = peak_allocated_bytes.load();
        while (now > peak && !peak_allocated_bytes.compare_exchange_weak(peak, now)) {
        }
    }
    void count_release(int64_t bytes) { allocated_bytes.fetch_sub(bytes); }
};

struct Storage {
    Context* context;
    void* data;
    size_t nbytes;

    Storage(Context* owner, void* bytes, size_t size) : context(owner), data(bytes), nbytes(size) {
        context->count_allocation(static_cast<int64_t>(nbytes));
    }
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

struct Graph {
    Context* context = nullptr;
    // Operations (kernel launches on CUDA) one replay performs.
    int64_t node_count = 0;
    // CPU: the recorded calls. CUDA: empty; backend_graph is the instantiated graph.
    std::vector<RecordedOp> ops;
    void* backend_graph = nullptr;
    std::vector<std::shared_ptr<Storage>> storages;
};

}  // namespace sn
