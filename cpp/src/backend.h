// Backends behind one op table.
//
// SN_OP_LIST is the single list of operations. From it derive:
//   - OpId and op_name()            (identity and messages),
//   - OpTable                       (one OpImpl per op: the function and the dtypes it accepts),
//   - backend_implements()          (the "supports" query),
// so adding an op is one line here, one Args struct, one public function in api_ops.cpp and one
// entry per backend; nothing is kept in sync by hand.
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

namespace sn {

//   name           argument struct
#define SN_OP_LIST(X)                                 \
    X(copy, CopyArgs)                                 \
    X(matmul, MatmulArgs)                             \
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
    X(attention, AttentionArgs)                       \
    X(cross_entropy, CrossEntropyArgs)                \
    X(lut_matmul, LutMatmulArgs)                      \
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

struct CopyArgs {
    static constexpr std::array<const char*, 2> kRoles{"src", "dst"};
    const Tensor* src;
    Tensor* dst;
    std::array<const Tensor*, 2> tensors() const { return {src, dst}; }
};

struct MatmulArgs {
    static constexpr std::array<const char*, 4> kRoles{"x", "weight", "bias", "out"};
    const Tensor* x;       // [M, K] (rows flattened)
    const Tensor* weight;  // [N, K]
    const Tensor* bias;    // [N] or null
    Tensor* out;           // [M, N]
    std::array<const Tensor*, 4> tensors() const { return {x, weight, bias, out}; }
};

// add and mul: b has a's shape, or is [D] with D = a's last dimension (broadcast over rows).
struct BinaryArgs {
    static constexpr std::array<const char*, 3> kRoles{"a", "b", "out"};
    const Tensor* a;
    const Tensor* b;
    Tensor* out;
    std::array<const Tensor*, 3> tensors() const { return {a, b, out}; }
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
};

struct UnaryArgs {
    static constexpr std::array<const char*, 2> kRoles{"x", "out"};
    const Tensor* x;
    Tensor* out;
    std::array<const Tensor*, 2> tensors() const { return {x, out}; }
};

struct GeluArgs {
    static constexpr std::array<const char*, 2> kRoles{"x", "out"};
    const Tensor* x;
    bool tanh_approximation;
    Tensor* out;
    std::array<const Tensor*, 2> tensors() const { return {x, out}; }
};

struct SwigluArgs {
    static constexpr std::array<const char*, 3> kRoles{"gate", "up", "out"};
    const Tensor* gate;
    const Tensor* up;
    Tensor* out;
    std::array<const Tensor*, 3> tensors() const { return {gate, up, out}; }
};

struct RopeArgs {
    static constexpr std::array<const char*, 3> kRoles{"x", "positions", "out"};
    const Tensor* x;          // [T, H, Dh]
    const Tensor* positions;  // I32 [T]
    float theta;
    Tensor* out;  // [T, H, Dh]
    std::array<const Tensor*, 3> tensors() const { return {x, positions, out}; }
};

struct EmbeddingArgs {
    static constexpr std::array<const char*, 3> kRoles{"table", "ids", "out"};
    const Tensor* table;  // [V, D]
    const Tensor* ids;    // I32 [T]
    Tensor* out;          // [T, D]
    std::array<const Tensor*, 3> tensors() const { return {table, ids, out}; }
};

struct AttentionArgs {
    static constexpr std::array<const char*, 4> kRoles{"q", "k_cache", "v_cache", "out"};
    const Tensor* q;        // [T, Hq, Dh]
    const Tensor* k_cache;  // [S, Hkv, Dh]
    const Tensor* v_cache;  // [S, Hkv, Dh]
    int32_t past_len;
    int32_t window;  // 0: no sliding window
    float scale;
    Tensor* out;  // [T, Hq, Dh]
    std::array<const Tensor*, 4> tensors() const { return {q, k_cache, v_cache, out}; }
};

struct CrossEntropyArgs {
    static constexpr std::array<const char*, 3> kRoles{"logits", "targets", "losses"};
    const Tensor* logits;   // [T, V]
    const Tensor* targets;  // I32 [T]
    Tensor* losses;         // [T]
    std::array<const Tensor*, 3> tensors() const { return {logits, targets, losses}; }
};

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

template <class Args>
sn_status run_op(Context& context, OpId op, OpImpl<Args> OpTable::*entry, const Args& args) {
    const OpImpl<Args>& impl = context.backend->ops.*entry;
    const auto tensors = args.tensors();
    SN_TRY(check_supported(context, op, Args::kRoles.data(), tensors.data(), impl.accepts.data(), tensors.size()));
    return impl.run(context, args);
}

}  // namespace sn

// Runs op `name` of the context's backend: SN_RUN_OP(*context, matmul, args).
#define SN_RUN_OP(context, name, args) ::sn::run_op((context), ::sn::OpId::name, &::sn::OpTable::name, (args))
