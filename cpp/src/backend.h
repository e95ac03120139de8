// Backends behind one op table.
//
// SN_OP_LIST is the single list of operations. From it derive:
//   - OpId and op_name()            (identity and messages),
//   - OpTable                       (one OpImpl per op: the function and the dtypes it accepts),
//   - backend_implements()          (the "supports" query),
// so adding an op is one line here, one Args struct, one public function in api_ops.cpp and one
// entry per backend; nothing is kept in sync by hand.
//
// Graph capture is a mode of the context, not an op: while the context captures, run_op() hands
// each call to the capture (capture_call below) after the same checks as always.
//
// Calling convention: every op function is `sn_status fn(Context&, const XxxArgs&)`. The public
// sn_* function (api_ops.cpp) has already checked handles, contexts, dtypes against the API
// contract, shapes and aliasing; run_op() then checks the dtypes against what the backend
// accepts (SN_ERR_UNSUPPORTED) and calls the backend. A backend function only re-checks what
// depends on the data (token ids, targets).
#pragma once

#include "error.h"
#include "objects.h"
#include "backend_quant_backward.h"  // LutMatmulArgs and the backward ops' Args

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace sn {

//   name           argument struct
#define SN_OP_LIST(X)                                 \
    X(copy, CopyArgs)                                 \
    X(matmul, MatmulArgs)                             \
    X(matmul_add, MatmulArgs)                         \
    X(matmul_swiglu, MatmulArgs)                      \
    X(add, BinaryArgs)                                \
    X(mul, BinaryArgs)                                \
    X(rms_norm, NormArgs)                             \
    X(layer_norm, NormArgs)                           \
    X(silu, UnaryArgs)                                \
    X(relu, UnaryArgs)                                \
    X(gelu, GeluArgs)                                 \
    X(swiglu, SwigluArgs)                             \
    X(softmax, UnaryArgs)                             \
    X(rope, RopeArgs)                                 \
    X(embedding, EmbeddingArgs)                       \
    X(kv_write, KvWriteArgs)                          \
    X(rope_kv_write, RopeKvWriteArgs)                 \
    X(attention, AttentionArgs)                       \
    X(cross_entropy, CrossEntropyArgs)                \
    X(fill_random, FillRandomArgs)                    \
    X(lut_matmul, LutMatmulArgs)                      \
    X(lut_matmul_swiglu, LutMatmulArgs)               \
    X(lut_repack, LutRepackArgs)                      \
    X(kmeans_rows, KmeansRowsArgs)                    \
    X(matmul_backward_input, MatmulBackwardInputArgs) \
    X(fisher_accumulate, FisherAccumulateArgs)        \
    X(rms_norm_backward, NormBackwardArgs)            \
    X(layer_norm_backward, NormBackwardArgs)          \
    X(swiglu_backward, SwigluBackwardArgs)            \
    X(activation_backward, ActivationBackwardArgs)    \
    X(rope_backward, RopeBackwardArgs)                \
    X(attention_backward, AttentionBackwardArgs)      \
    X(cross_entropy_backward, CrossEntropyBackwardArgs)

// Each Args struct lists its tensors in API argument order with their role names (used in
// messages and matched index by index with OpImpl::accepts). Optional tensors may be null.
// remap_tensors(f) replaces every tensor pointer p by f(p): a recorded call (CPU graphs) points
// its arguments at its own copies of the tensors, so replay never follows a destroyed handle.

struct CopyArgs {
    static constexpr std::array<const char*, 2> kRoles{"src", "dst"};
    const Tensor* src;
    Tensor* dst;
    std::array<const Tensor*, 2> tensors() const { return {src, dst}; }
    template <class F>
    void remap_tensors(F&& f) {
        src = f(src);
        dst = f(dst);
    }
};

// matmul: out = x·Wᵀ (+ bias); matmul_add: out += x·Wᵀ (+ bias); matmul_swiglu: out[M, N/2] =
// silu(g)·u with g | u = x·Wᵀ (+ bias) split at column N/2 (gate rows stacked over up rows).
struct MatmulArgs {
    static constexpr std::array<const char*, 4> kRoles{"x", "weight", "bias", "out"};
    const Tensor* x;       // [M, K] (rows flattened)
    const Tensor* weight;  // [N, K]
    const Tensor* bias;    // [N] or null
    Tensor* out;           // [M, N]
    std::array<const Tensor*, 4> tensors() const { return {x, weight, bias, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        weight = f(weight);
        bias = f(bias);
        out = f(out);
    }
};

// add and mul: b has a's shape, or is [D] with D = a's last dimension (broadcast over rows).
struct BinaryArgs {
    static constexpr std::array<const char*, 3> kRoles{"a", "b", "out"};
    const Tensor* a;
    const Tensor* b;
    Tensor* out;
    std::array<const Tensor*, 3> tensors() const { return {a, b, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        a = f(a);
        b = f(b);
        out = f(out);
    }
};

// rms_norm (bias always null) and layer_norm over the last dimension D.
struct NormArgs {
    static constexpr std::array<const char*, 4> kRoles{"x", "weight", "bias", "out"};
    const Tensor* x;
    const Tensor* weight;  // [D]
    const Tensor* bias;    // [D] or null
    float eps;
    Tensor* out;
    std::array<const Tensor*, 4> tensors() const { return {x, weight, bias, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        weight = f(weight);
        bias = f(bias);
        out = f(out);
    }
};

struct UnaryArgs {
    static constexpr std::array<const char*, 2> kRoles{"x", "out"};
    const Tensor* x;
    Tensor* out;
    std::array<const Tensor*, 2> tensors() const { return {x, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        out = f(out);
    }
};

struct GeluArgs {
    static constexpr std::array<const char*, 2> kRoles{"x", "out"};
    const Tensor* x;
    bool tanh_approximation;
    Tensor* out;
    std::array<const Tensor*, 2> tensors() const { return {x, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        out = f(out);
    }
};

struct SwigluArgs {
    static constexpr std::array<const char*, 3> kRoles{"gate", "up", "out"};
    const Tensor* gate;
    const Tensor* up;
    Tensor* out;
    std::array<const Tensor*, 3> tensors() const { return {gate, up, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        gate = f(gate);
        up = f(up);
        out = f(out);
    }
};

struct RopeArgs {
    static constexpr std::array<const char*, 3> kRoles{"x", "positions", "out"};
    const Tensor* x;          // [T, H, Dh]
    const Tensor* positions;  // I32 [T]
    float theta;
    Tensor* out;  // [T, H, Dh]
    std::array<const Tensor*, 3> tensors() const { return {x, positions, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        positions = f(positions);
        out = f(out);
    }
};

struct EmbeddingArgs {
    static constexpr std::array<const char*, 3> kRoles{"table", "ids", "out"};
    const Tensor* table;  // [V, D]
    const Tensor* ids;    // I32 [T]
    Tensor* out;          // [T, D]
    std::array<const Tensor*, 3> tensors() const { return {table, ids, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        table = f(table);
        ids = f(ids);
        out = f(out);
    }
};

// cache[positions[t]] = src[t] for t < T.
struct KvWriteArgs {
    static constexpr std::array<const char*, 3> kRoles{"src", "positions", "cache"};
    const Tensor* src;        // [T, Hkv, Dh]
    const Tensor* positions;  // I32 [T]
    Tensor* cache;            // [S, Hkv, Dh]
    std::array<const Tensor*, 3> tensors() const { return {src, positions, cache}; }
    template <class F>
    void remap_tensors(F&& f) {
        src = f(src);
        positions = f(positions);
        cache = f(cache);
    }
};

// RoPE on q and k (in place; theta = 0: none), then k_cache[positions[t]] = k[t] and
// v_cache[positions[t]] = v[t]: sn_rope ×2 + sn_kv_write ×2 in one op.
struct RopeKvWriteArgs {
    static constexpr std::array<const char*, 6> kRoles{"q", "k", "v", "positions", "k_cache", "v_cache"};
    Tensor* q;                // [T, Hq, Dh]
    Tensor* k;                // [T, Hkv, Dh]
    const Tensor* v;          // [T, Hkv, Dh]
    const Tensor* positions;  // I32 [T]
    float theta;              // 0: no rotation
    Tensor* k_cache;          // [S, Hkv, Dh]
    Tensor* v_cache;          // [S, Hkv, Dh]
    std::array<const Tensor*, 6> tensors() const { return {q, k, v, positions, k_cache, v_cache}; }
    template <class F>
    void remap_tensors(F&& f) {
        q = f(q);
        k = f(k);
        v = f(v);
        positions = f(positions);
        k_cache = f(k_cache);
        v_cache = f(v_cache);
    }
};

// Query row t sits at position p = positions[t] and sees keys j with j <= p and, when
// window > 0, p − j < window.
struct AttentionArgs {
    static constexpr std::array<const char*, 5> kRoles{"q", "positions", "k_cache", "v_cache", "out"};
    const Tensor* q;          // [T, Hq, Dh]
    const Tensor* positions;  // I32 [T]
    const Tensor* k_cache;    // [S, Hkv, Dh]
    const Tensor* v_cache;    // [S, Hkv, Dh]
    int32_t window;           // 0: no sliding window
    float scale;
    Tensor* out;  // [T, Hq, Dh]
    std::array<const Tensor*, 5> tensors() const { return {q, positions, k_cache, v_cache, out}; }
    template <class F>
    void remap_tensors(F&& f) {
        q = f(q);
        positions = f(positions);
        k_cache = f(k_cache);
        v_cache = f(v_cache);
        out = f(out);
    }
};

struct CrossEntropyArgs {
    static constexpr std::array<const char*, 3> kRoles{"logits", "targets", "losses"};
    const Tensor* logits;   // [T, V]
    const Tensor* targets;  // I32 [T]
    Tensor* losses;         // [T]
    std::array<const Tensor*, 3> tensors() const { return {logits, targets, losses}; }
    template <class F>
    void remap_tensors(F&& f) {
        logits = f(logits);
        targets = f(targets);
        losses = f(losses);
    }
};

// tensor[i] = scale·(2u − 1) with u from SplitMix64 (random_value() below).
struct FillRandomArgs {
    static constexpr std::array<const char*, 1> kRoles{"tensor"};
    Tensor* tensor;
    uint64_t seed;
    float scale;
    std::array<const Tensor*, 1> tensors() const { return {tensor}; }
    template <class F>
    void remap_tensors(F&& f) {
        tensor = f(tensor);
    }
};

// sn_fill_random's generator, shared by every backend (host and device code): element `index`
// of a tensor filled with `seed` and `scale`, before rounding to the tensor's dtype. The F32
// product is correctly rounded on every backend (2u − 1 is exact), so all agree bit for bit.
#if defined(__CUDACC__)
#define SN_HOST_DEVICE __host__ __device__
#else
#define SN_HOST_DEVICE
#endif
SN_HOST_DEVICE inline float random_value(uint64_t seed, uint64_t index, float scale) {
    uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u = static_cast<float>(z >> 40) * 0x1.0p-24f;
    return scale * (2.0f * u - 1.0f);
}
// ---- dtype sets ---------------------------------------------------------------------------------

using DtypeMask = uint32_t;

constexpr DtypeMask dtype_bit(sn_dtype dtype) {
    return 1u << static_cast<unsigned>(dtype);
}
constexpr DtypeMask kMaskF32 = dtype_bit(SN_DTYPE_F32);
constexpr DtypeMask kMaskI32 = dtype_bit(SN_DTYPE_I32);
constexpr DtypeMask kMaskFloat = dtype_bit(SN_DTYPE_F32) | dtype_bit(SN_DTYPE_F16) | dtype_bit(SN_DTYPE_BF16);
constexpr DtypeMask kMaskAny = kMaskFloat | kMaskI32 | dtype_bit(SN_DTYPE_U8);

// ---- the op table -------------------------------------------------------------------------------

enum class OpId {
#define SN_OP_ID(name, Args) name,
    SN_OP_LIST(SN_OP_ID)
#undef SN_OP_ID
        count
};

const char* op_name(OpId op);

// One backend's implementation of one op. A null `run` means the backend lacks the op.
template <class Args>
struct OpImpl {
    sn_status (*run)(Context& context, const Args& args) = nullptr;
    // accepts[i]: the dtypes this backend takes for tensor Args::kRoles[i].
    std::array<DtypeMask, std::tuple_size<decltype(Args::kRoles)>::value> accepts{};
};

struct OpTable {
#define SN_OP_ENTRY(name, Args) OpImpl<Args> name;
    SN_OP_LIST(SN_OP_ENTRY)
#undef SN_OP_ENTRY
};

// A backend: storage primitives plus the op table. Instances are immutable singletons.
struct Backend {
    sn_backend_kind kind;
    const char* name;
    // Whether contexts can be created on this machine; on false, `reason` receives why.
    bool (*available)(char* reason, size_t reason_capacity);
    sn_status (*init_context)(Context& context);
    void (*release_context)(Context& context) noexcept;
    // Allocates nbytes (> 0) of zero-filled storage.
    sn_status (*allocate)(Context& context, size_t nbytes, void** out_data);
    void (*release)(Context& context, void* data) noexcept;
    // Host -> storage and storage -> host copies; complete when they return.
    sn_status (*upload)(Context& context, void* dst, const void* host_src, size_t nbytes);
    sn_status (*download)(Context& context, void* host_dst, const void* src, size_t nbytes);
    sn_status (*synchronize)(Context& context);
    // Writes a short description of the context's device into `buffer` (sn_context_device_name).
    void (*describe_device)(const Context& context, char* buffer, size_t capacity);
    // Device memory free and total in bytes (0, 0 where the backend does not report them).
    sn_status (*device_memory)(const Context& context, int64_t* out_free, int64_t* out_total);

    // Graph capture through the device runtime (CUDA graphs). A backend without one leaves all
    // four null: its ops are then recorded while capturing (Capture::ops) and replayed in order.
    //   begin_capture   start capturing the context's work
    //   end_capture     stop; when `keep` is false (an op failed) discard what was captured, else
    //                   return the executable graph and its node count
    //   launch_graph    replay on the context's stream, asynchronously
    //   destroy_graph   free a graph end_capture returned
    sn_status (*begin_capture)(Context& context);
    sn_status (*end_capture)(Context& context, bool keep, void** out_graph, int64_t* out_node_count);
    sn_status (*launch_graph)(Context& context, void* graph);
    void (*destroy_graph)(Context& context, void* graph) noexcept;

    OpTable ops;
};

// The compiled-in backend of that kind, or null with the reason in `reason`.
const Backend* find_backend(sn_backend_kind kind, char* reason, size_t reason_capacity);

// The "supports" query derived from the op table: whether `backend` implements `op` at all.
bool backend_implements(const Backend& backend, OpId op);

// The full "supports" check of one call: the op is implemented (backend_implements) and every
// tensor's dtype is in the backend's accepts mask for its role. SN_ERR_UNSUPPORTED otherwise,
// naming the backend, the op and every dtype of the call.
sn_status check_supported(const Context& context, OpId op, const char* const* roles, const Tensor* const* tensors,
                          const DtypeMask* accepts, size_t count);

// One call made while the context captures (the lock on context.capture_mutex is held): its
// storages join the capture; a backend with native graphs runs it (the device runtime records
// the launches), any other backend records it for replay. A call that finds the capture already
// ended (a racing sn_graph_end_capture) runs normally.
template <class Args>
sn_status capture_call(Context& context, sn_status (*run)(Context&, const Args&), const Args& args) {
    std::unique_lock<std::mutex> lock(context.capture_mutex);
    Capture* capture = context.capture.get();
    if (capture == nullptr) {
        lock.unlock();
        return run(context, args);
    }
    for (const Tensor* tensor : args.tensors()) {
        if (tensor != nullptr) capture->storages.push_back(tensor->storage);
    }
    if (context.backend->begin_capture != nullptr) return run(context, args);

    // Own copies of the tensors (shape, dtype, offset, storage) that the recorded arguments
    // point at: the call replays the same memory even after the caller destroys a handle.
    struct Recorded {
        Args args;
        std::array<Tensor, std::tuple_size<decltype(Args::kRoles)>::value> tensors;
    };
    auto recorded = std::make_shared<Recorded>();
    recorded->args = args;
    size_t next = 0;
    recorded->args.remap_tensors([&](const Tensor* tensor) -> Tensor* {
        if (tensor == nullptr) return nullptr;
        Tensor* copy = &recorded->tensors[next++];
        *copy = *tensor;
        return copy;
    });
    capture->ops.push_back([run, recorded](Context& replay_context) { return run(replay_context, recorded->args); });
    return SN_OK;
}

// Whether an operation that may still be running when the next op's kernels start may have
// written `tensor` (see Context::recent_ops): the op run last, and before it every op back to the
// first one that does not release early; true when one of them touched the same storage, is
// unknown, or lies beyond the ops tracked.
inline bool earlier_op_may_have_written(const Context& context, const Tensor* tensor) {
    if (tensor == nullptr) return false;
    for (const Context::OpRecord& op : context.recent_ops) {
        if (op.count < 0) return true;
        for (int i = 0; i < op.count; ++i) {
            if (op.storages[i] == tensor->storage.get()) return true;
        }
        if (!op.releases_early) return false;
    }
    return true;
}

template <class Args>
sn_status run_op(Context& context, OpId op, OpImpl<Args> OpTable::*entry, const Args& args) {
    const OpImpl<Args>& impl = context.backend->ops.*entry;
    const auto tensors = args.tensors();
    SN_TRY(check_supported(context, op, Args::kRoles.data(), tensors.data(), impl.accepts.data(), tensors.size()));
    context.op_releases_early = false;
    const sn_status status = context.capturing.load(std::memory_order_acquire) ? capture_call(context, impl.run, args)
                                                                               : impl.run(context, args);
    // This op is now the last one (unknown if it failed part-way or touched too many storages).
    Context::OpRecord& record = context.push_op();
    int count = 0;
    for (const Tensor* tensor : tensors) {
        if (tensor == nullptr) continue;
        if (count == Context::kTrackedStorages) {
            count = -1;
            break;
        }
        record.storages[count++] = tensor->storage.get();
    }
    record.count = status == SN_OK ? count : -1;
    record.releases_early = status == SN_OK && context.op_releases_early;
    return status;
}

// Runs the body of an op export like guarded(), and records a failure in the context's capture
// when it is capturing, so that sn_graph_end_capture reports it instead of returning a graph
// that silently lacks the operation.
void note_op_failure(const sn_context* context, sn_status status) noexcept;

template <class Body>
sn_status guarded_op(const char* api_name, const sn_context* context, Body&& body) noexcept {
    const sn_status status = guarded(api_name, std::forward<Body>(body));
    if (status != SN_OK) note_op_failure(context, status);
    return status;
}

}  // namespace sn

// Runs op `name` of the context's backend: SN_RUN_OP(*context, matmul, args).
#define SN_RUN_OP(context, name, args) ::sn::run_op((context), ::sn::OpId::name, &::sn::OpTable::name, (args))
