// The exported operations: each validates its arguments against the contract in
// squeeze_native.h (handles, one context, dtypes, shapes, aliasing, scalar ranges) and then runs
// the context's backend implementation through the op table (backend.h).
#include "backend.h"
#include "error.h"
#include "validate.h"

#include <cmath>

namespace {

using sn::kMaskFloat;
using sn::kMaskI32;

sn_status resolve_unary(sn_context* context, const sn_tensor* x, sn_tensor* out, sn::Context** live_context,
                        sn::Tensor** live_x, sn::Tensor** live_out) {
    SN_TRY(sn::resolve_context(context, "context", live_context));
    SN_TRY(sn::resolve_tensor_in(**live_context, x, "x", live_x));
    SN_TRY(sn::resolve_tensor_in(**live_context, out, "out", live_out));
    SN_TRY(sn::require_dtype(**live_x, "x", kMaskFloat));
    SN_TRY(sn::require_same_dtype(**live_out, "out", **live_x, "x"));
    SN_TRY(sn::require_same_shape(**live_out, "out", **live_x, "x"));
    return sn::require_no_partial_overlap(**live_out, "out", **live_x, "x");
}

// add, mul: b has a's shape or is [D] (a's last dimension); out has a's shape.
sn_status resolve_binary(sn_context* context, const sn_tensor* a, const sn_tensor* b, sn_tensor* out,
                         sn::BinaryArgs* args, sn::Context** live_context) {
    sn::Tensor *live_a = nullptr, *live_b = nullptr, *live_out = nullptr;
    SN_TRY(sn::resolve_context(context, "context", live_context));
    SN_TRY(sn::resolve_tensor_in(**live_context, a, "a", &live_a));
    SN_TRY(sn::resolve_tensor_in(**live_context, b, "b", &live_b));
    SN_TRY(sn::resolve_tensor_in(**live_context, out, "out", &live_out));
    SN_TRY(sn::require_dtype(*live_a, "a", kMaskFloat));
    SN_TRY(sn::require_dtype(*live_b, "b", kMaskFloat));
    SN_TRY(sn::require_same_dtype(*live_out, "out", *live_a, "a"));
    const bool broadcast_row = live_b->ndim == 1 && live_b->dims[0] == live_a->last_dim() && live_a->ndim > 1;
    if (!broadcast_row) {
        bool same = live_b->ndim == live_a->ndim;
        for (int32_t i = 0; same && i < live_a->ndim; ++i) same = live_b->dims[i] == live_a->dims[i];
        SN_CHECK(same, SN_ERR_SHAPE_MISMATCH, "b: expected a's shape %s or [%lld] (a's last dimension), got %s",
                 sn::shape_text(*live_a).text, static_cast<long long>(live_a->last_dim()),
                 sn::shape_text(*live_b).text);
    }
    SN_TRY(sn::require_same_shape(*live_out, "out", *live_a, "a"));
    SN_TRY(sn::require_no_partial_overlap(*live_out, "out", *live_a, "a"));
    if (broadcast_row) {
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_b, "b"));
    } else {
        SN_TRY(sn::require_no_partial_overlap(*live_out, "out", *live_b, "b"));
    }
    *args = sn::BinaryArgs{live_a, live_b, live_out};
    return SN_OK;
}

sn_status validate_norm(sn_context* context, const sn_tensor* x, const sn_tensor* weight, const sn_tensor* bias,
                        float eps, sn_tensor* out, sn::NormArgs* args, sn::Context** live_context) {
    sn::Tensor *live_x = nullptr, *live_weight = nullptr, *live_bias = nullptr, *live_out = nullptr;
    SN_TRY(resolve_unary(context, x, out, live_context, &live_x, &live_out));
    SN_TRY(sn::resolve_tensor_in(**live_context, weight, "weight", &live_weight));
    SN_TRY(sn::resolve_optional_tensor_in(**live_context, bias, "bias", &live_bias));
    SN_TRY(sn::require_dtype(*live_weight, "weight", kMaskFloat));
    SN_TRY(sn::require_vector(*live_weight, "weight", live_x->last_dim(), "D"));
    if (live_bias != nullptr) {
        SN_TRY(sn::require_dtype(*live_bias, "bias", kMaskFloat));
        SN_TRY(sn::require_vector(*live_bias, "bias", live_x->last_dim(), "D"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_bias, "bias"));
    }
    SN_TRY(sn::require_no_overlap(*live_out, "out", *live_weight, "weight"));
    SN_CHECK(std::isfinite(eps) && eps >= 0.0f, SN_ERR_INVALID_ARGUMENT, "eps: must be finite and >= 0, got %g",
             static_cast<double>(eps));
    *args = sn::NormArgs{live_x, live_weight, live_bias, eps, live_out};
    return SN_OK;
}

// matmul, matmul_add: x [.., K], weight [N, K], optional bias [N], out [rows of x, N].
// matmul_swiglu (gated): the same with N even and out [rows of x, N / 2].
sn_status validate_matmul(sn_context* context, const sn_tensor* x, const sn_tensor* weight, const sn_tensor* bias,
                          sn_tensor* out, sn::MatmulArgs* args, sn::Context** live_context, bool gated = false) {
    sn::Tensor *live_x = nullptr, *live_weight = nullptr, *live_bias = nullptr, *live_out = nullptr;
    SN_TRY(sn::resolve_context(context, "context", live_context));
    sn::Context& live = **live_context;
    SN_TRY(sn::resolve_tensor_in(live, x, "x", &live_x));
    SN_TRY(sn::resolve_tensor_in(live, weight, "weight", &live_weight));
    SN_TRY(sn::resolve_optional_tensor_in(live, bias, "bias", &live_bias));
    SN_TRY(sn::resolve_tensor_in(live, out, "out", &live_out));
    SN_TRY(sn::require_dtype(*live_x, "x", kMaskFloat));
    SN_TRY(sn::require_dtype(*live_weight, "weight", kMaskFloat));
    SN_TRY(sn::require_dtype(*live_out, "out", kMaskFloat));
    SN_TRY(sn::require_ndim(*live_weight, "weight", 2, "[N, K]"));
    const int64_t n = live_weight->dims[0];
    const int64_t k = live_weight->dims[1];
    SN_CHECK(live_x->last_dim() == k, SN_ERR_SHAPE_MISMATCH,
             "x: last dimension must be K = %lld (weight is %s = [N, K]), got x %s", static_cast<long long>(k),
             sn::shape_text(*live_weight).text, sn::shape_text(*live_x).text);
    if (gated) {
        SN_CHECK(n % 2 == 0, SN_ERR_SHAPE_MISMATCH,
                 "weight: expected [2I, K] (gate rows stacked over up rows), an even number of rows, got %s",
                 sn::shape_text(*live_weight).text);
        SN_CHECK(live_out->last_dim() == n / 2 && live_out->rows() == live_x->rows(), SN_ERR_SHAPE_MISMATCH,
                 "out: expected %lld rows of I = %lld (x is %s, weight %s = [2I, K]), got %s",
                 static_cast<long long>(live_x->rows()), static_cast<long long>(n / 2), sn::shape_text(*live_x).text,
                 sn::shape_text(*live_weight).text, sn::shape_text(*live_out).text);
    } else {
        SN_CHECK(live_out->last_dim() == n && live_out->rows() == live_x->rows(), SN_ERR_SHAPE_MISMATCH,
                 "out: expected %lld rows of N = %lld (x is %s, weight %s), got %s",
                 static_cast<long long>(live_x->rows()), static_cast<long long>(n), sn::shape_text(*live_x).text,
                 sn::shape_text(*live_weight).text, sn::shape_text(*live_out).text);
    }
    if (live_bias != nullptr) {
        SN_TRY(sn::require_dtype(*live_bias, "bias", kMaskFloat));
        SN_TRY(sn::require_vector(*live_bias, "bias", n, "N"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_bias, "bias"));
    }
    SN_TRY(sn::require_no_overlap(*live_out, "out", *live_x, "x"));
    SN_TRY(sn::require_no_overlap(*live_out, "out", *live_weight, "weight"));
    *args = sn::MatmulArgs{live_x, live_weight, live_bias, live_out};
    return SN_OK;
}

// kv_write and attention: a cache [S, Hkv, Dh] whose head layout matches src/q.
sn_status require_cache_layout(const sn::Tensor& cache, const char* cache_arg, int64_t heads, int64_t head_dim) {
    SN_TRY(sn::require_ndim(cache, cache_arg, 3, "[S, Hkv, Dh]"));
    SN_CHECK(cache.dims[1] == heads && cache.dims[2] == head_dim, SN_ERR_SHAPE_MISMATCH,
             "%s: expected [S, %lld, %lld] (Hkv, Dh of the rows written), got %s", cache_arg,
             static_cast<long long>(heads), static_cast<long long>(head_dim), sn::shape_text(cache).text);
    return SN_OK;
}

}  // namespace

extern "C" {

SN_API sn_status sn_copy(sn_context* context, const sn_tensor* src, sn_tensor* dst) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_src = nullptr, *live_dst = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, src, "src", &live_src));
        SN_TRY(sn::resolve_tensor_in(*live, dst, "dst", &live_dst));
        SN_CHECK(live_src->numel == live_dst->numel, SN_ERR_SHAPE_MISMATCH,
                 "dst has %lld elements %s but src has %lld %s", static_cast<long long>(live_dst->numel),
                 sn::shape_text(*live_dst).text, static_cast<long long>(live_src->numel),
                 sn::shape_text(*live_src).text);
        // Converting copies never overlap: a view always has its base's dtype. Same-dtype copies
        // between overlapping views are moves.
        if (live_src->dtype != live_dst->dtype) {
            SN_TRY(sn::require_dtype(*live_src, "src", kMaskFloat));
            SN_TRY(sn::require_dtype(*live_dst, "dst", kMaskFloat));
        }
        return SN_RUN_OP(*live, copy, (sn::CopyArgs{live_src, live_dst}));
    });
}

SN_API sn_status sn_matmul(sn_context* context, const sn_tensor* x, const sn_tensor* weight, const sn_tensor* bias,
                           sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::MatmulArgs args{};
        SN_TRY(validate_matmul(context, x, weight, bias, out, &args, &live));
        return SN_RUN_OP(*live, matmul, args);
    });
}

SN_API sn_status sn_matmul_add(sn_context* context, const sn_tensor* x, const sn_tensor* weight, const sn_tensor* bias,
                               sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::MatmulArgs args{};
        SN_TRY(validate_matmul(context, x, weight, bias, out, &args, &live));
        return SN_RUN_OP(*live, matmul_add, args);
    });
}

SN_API sn_status sn_matmul_swiglu(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                                  const sn_tensor* bias, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::MatmulArgs args{};
        SN_TRY(validate_matmul(context, x, weight, bias, out, &args, &live, /*gated=*/true));
        return SN_RUN_OP(*live, matmul_swiglu, args);
    });
}

SN_API sn_status sn_add(sn_context* context, const sn_tensor* a, const sn_tensor* b, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::BinaryArgs args{};
        SN_TRY(resolve_binary(context, a, b, out, &args, &live));
        return SN_RUN_OP(*live, add, args);
    });
}

SN_API sn_status sn_mul(sn_context* context, const sn_tensor* a, const sn_tensor* b, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::BinaryArgs args{};
        SN_TRY(resolve_binary(context, a, b, out, &args, &live));
        return SN_RUN_OP(*live, mul, args);
    });
}

SN_API sn_status sn_rms_norm(sn_context* context, const sn_tensor* x, const sn_tensor* weight, float eps,
                             sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::NormArgs args{};
        SN_TRY(validate_norm(context, x, weight, nullptr, eps, out, &args, &live));
        return SN_RUN_OP(*live, rms_norm, args);
    });
}

SN_API sn_status sn_layer_norm(sn_context* context, const sn_tensor* x, const sn_tensor* weight, const sn_tensor* bias,
                               float eps, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::NormArgs args{};
        SN_TRY(validate_norm(context, x, weight, bias, eps, out, &args, &live));
        return SN_RUN_OP(*live, layer_norm, args);
    });
}

SN_API sn_status sn_silu(sn_context* context, const sn_tensor* x, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_x = nullptr, *live_out = nullptr;
        SN_TRY(resolve_unary(context, x, out, &live, &live_x, &live_out));
        return SN_RUN_OP(*live, silu, (sn::UnaryArgs{live_x, live_out}));
    });
}

SN_API sn_status sn_relu(sn_context* context, const sn_tensor* x, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_x = nullptr, *live_out = nullptr;
        SN_TRY(resolve_unary(context, x, out, &live, &live_x, &live_out));
        return SN_RUN_OP(*live, relu, (sn::UnaryArgs{live_x, live_out}));
    });
}

SN_API sn_status sn_gelu(sn_context* context, const sn_tensor* x, int32_t approximate, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_x = nullptr, *live_out = nullptr;
        SN_TRY(resolve_unary(context, x, out, &live, &live_x, &live_out));
        SN_CHECK(approximate == 0 || approximate == 1, SN_ERR_INVALID_ARGUMENT,
                 "approximate: must be 0 (erf) or 1 (tanh), got %d", approximate);
        return SN_RUN_OP(*live, gelu, (sn::GeluArgs{live_x, approximate == 1, live_out}));
    });
}

SN_API sn_status sn_swiglu(sn_context* context, const sn_tensor* gate, const sn_tensor* up, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_gate = nullptr, *live_up = nullptr, *live_out = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, gate, "gate", &live_gate));
        SN_TRY(sn::resolve_tensor_in(*live, up, "up", &live_up));
        SN_TRY(sn::resolve_tensor_in(*live, out, "out", &live_out));
        SN_TRY(sn::require_dtype(*live_gate, "gate", kMaskFloat));
        SN_TRY(sn::require_same_dtype(*live_up, "up", *live_gate, "gate"));
        SN_TRY(sn::require_same_dtype(*live_out, "out", *live_gate, "gate"));
        SN_TRY(sn::require_same_shape(*live_up, "up", *live_gate, "gate"));
        SN_TRY(sn::require_same_shape(*live_out, "out", *live_gate, "gate"));
        SN_TRY(sn::require_no_partial_overlap(*live_out, "out", *live_gate, "gate"));
        SN_TRY(sn::require_no_partial_overlap(*live_out, "out", *live_up, "up"));
        return SN_RUN_OP(*live, swiglu, (sn::SwigluArgs{live_gate, live_up, live_out}));
    });
}

SN_API sn_status sn_softmax(sn_context* context, const sn_tensor* x, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_x = nullptr, *live_out = nullptr;
        SN_TRY(resolve_unary(context, x, out, &live, &live_x, &live_out));
        return SN_RUN_OP(*live, softmax, (sn::UnaryArgs{live_x, live_out}));
    });
}

SN_API sn_status sn_rope(sn_context* context, const sn_tensor* x, const sn_tensor* positions, float theta,
                         sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_x = nullptr, *live_positions = nullptr, *live_out = nullptr;
        SN_TRY(resolve_unary(context, x, out, &live, &live_x, &live_out));
        SN_TRY(sn::resolve_tensor_in(*live, positions, "positions", &live_positions));
        SN_TRY(sn::require_ndim(*live_x, "x", 3, "[T, H, Dh]"));
        SN_CHECK(live_x->dims[2] % 2 == 0, SN_ERR_SHAPE_MISMATCH, "x: head dimension Dh must be even, got x %s",
                 sn::shape_text(*live_x).text);
        SN_TRY(sn::require_dtype(*live_positions, "positions", kMaskI32));
        SN_TRY(sn::require_vector(*live_positions, "positions", live_x->dims[0], "T"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_positions, "positions"));
        SN_CHECK(std::isfinite(theta) && theta > 0.0f, SN_ERR_INVALID_ARGUMENT, "theta: must be finite and > 0, got %g",
                 static_cast<double>(theta));
        return SN_RUN_OP(*live, rope, (sn::RopeArgs{live_x, live_positions, theta, live_out}));
    });
}

SN_API sn_status sn_embedding(sn_context* context, const sn_tensor* table, const sn_tensor* ids, sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_table = nullptr, *live_ids = nullptr, *live_out = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, table, "table", &live_table));
        SN_TRY(sn::resolve_tensor_in(*live, ids, "ids", &live_ids));
        SN_TRY(sn::resolve_tensor_in(*live, out, "out", &live_out));
        SN_TRY(sn::require_dtype(*live_table, "table", kMaskFloat));
        SN_TRY(sn::require_dtype(*live_ids, "ids", kMaskI32));
        SN_TRY(sn::require_dtype(*live_out, "out", kMaskFloat));
        SN_TRY(sn::require_ndim(*live_table, "table", 2, "[V, D]"));
        SN_TRY(sn::require_ndim(*live_ids, "ids", 1, "[T]"));
        const int64_t t = live_ids->dims[0];
        const int64_t d = live_table->dims[1];
        SN_CHECK(live_out->ndim == 2 && live_out->dims[0] == t && live_out->dims[1] == d, SN_ERR_SHAPE_MISMATCH,
                 "out: expected [T, D] = [%lld, %lld] (ids %s, table %s), got %s", static_cast<long long>(t),
                 static_cast<long long>(d), sn::shape_text(*live_ids).text, sn::shape_text(*live_table).text,
                 sn::shape_text(*live_out).text);
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_table, "table"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_ids, "ids"));
        return SN_RUN_OP(*live, embedding, (sn::EmbeddingArgs{live_table, live_ids, live_out}));
    });
}

SN_API sn_status sn_kv_write(sn_context* context, const sn_tensor* src, const sn_tensor* positions, sn_tensor* cache) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_src = nullptr, *live_positions = nullptr, *live_cache = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, src, "src", &live_src));
        SN_TRY(sn::resolve_tensor_in(*live, positions, "positions", &live_positions));
        SN_TRY(sn::resolve_tensor_in(*live, cache, "cache", &live_cache));
        SN_TRY(sn::require_dtype(*live_src, "src", kMaskFloat));
        SN_TRY(sn::require_dtype(*live_positions, "positions", kMaskI32));
        SN_TRY(sn::require_dtype(*live_cache, "cache", kMaskFloat));
        SN_TRY(sn::require_ndim(*live_src, "src", 3, "[T, Hkv, Dh]"));
        SN_TRY(sn::require_vector(*live_positions, "positions", live_src->dims[0], "T"));
        SN_TRY(require_cache_layout(*live_cache, "cache", live_src->dims[1], live_src->dims[2]));
        SN_TRY(sn::require_no_overlap(*live_cache, "cache", *live_src, "src"));
        SN_TRY(sn::require_no_overlap(*live_cache, "cache", *live_positions, "positions"));
        return SN_RUN_OP(*live, kv_write, (sn::KvWriteArgs{live_src, live_positions, live_cache}));
    });
}

SN_API sn_status sn_rope_kv_write(sn_context* context, sn_tensor* q, sn_tensor* k, const sn_tensor* v,
                                  const sn_tensor* positions, float theta, sn_tensor* k_cache, sn_tensor* v_cache) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_q = nullptr, *live_k = nullptr, *live_v = nullptr, *live_positions = nullptr,
                   *live_k_cache = nullptr, *live_v_cache = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, q, "q", &live_q));
        SN_TRY(sn::resolve_tensor_in(*live, k, "k", &live_k));
        SN_TRY(sn::resolve_tensor_in(*live, v, "v", &live_v));
        SN_TRY(sn::resolve_tensor_in(*live, positions, "positions", &live_positions));
        SN_TRY(sn::resolve_tensor_in(*live, k_cache, "k_cache", &live_k_cache));
        SN_TRY(sn::resolve_tensor_in(*live, v_cache, "v_cache", &live_v_cache));
        SN_TRY(sn::require_dtype(*live_q, "q", kMaskFloat));
        SN_TRY(sn::require_same_dtype(*live_k, "k", *live_q, "q"));
        SN_TRY(sn::require_same_dtype(*live_v, "v", *live_q, "q"));
        SN_TRY(sn::require_dtype(*live_positions, "positions", kMaskI32));
        SN_TRY(sn::require_dtype(*live_k_cache, "k_cache", kMaskFloat));
        SN_TRY(sn::require_same_dtype(*live_v_cache, "v_cache", *live_k_cache, "k_cache"));
        SN_TRY(sn::require_ndim(*live_q, "q", 3, "[T, Hq, Dh]"));
        SN_TRY(sn::require_ndim(*live_k, "k", 3, "[T, Hkv, Dh]"));
        const int64_t tokens = live_q->dims[0], head_dim = live_q->dims[2];
        SN_CHECK(live_k->dims[0] == tokens && live_k->dims[2] == head_dim, SN_ERR_SHAPE_MISMATCH,
                 "k: expected [T, Hkv, Dh] with T = %lld and Dh = %lld (q is %s), got %s",
                 static_cast<long long>(tokens), static_cast<long long>(head_dim), sn::shape_text(*live_q).text,
                 sn::shape_text(*live_k).text);
        SN_TRY(sn::require_same_shape(*live_v, "v", *live_k, "k"));
        SN_TRY(sn::require_vector(*live_positions, "positions", tokens, "T"));
        SN_TRY(require_cache_layout(*live_k_cache, "k_cache", live_k->dims[1], head_dim));
        SN_TRY(sn::require_same_shape(*live_v_cache, "v_cache", *live_k_cache, "k_cache"));
        SN_CHECK(std::isfinite(theta) && theta >= 0.0f, SN_ERR_INVALID_ARGUMENT,
                 "theta: must be finite and > 0 (rotate), or 0 (no rotation), got %g", static_cast<double>(theta));
        SN_CHECK(theta == 0.0f || head_dim % 2 == 0, SN_ERR_SHAPE_MISMATCH,
                 "q: head dimension Dh must be even to rotate (theta = %g), got q %s", static_cast<double>(theta),
                 sn::shape_text(*live_q).text);
        // Every tensor is read or written in place: none may share memory with another.
        const sn::Tensor* all[] = {live_q, live_k, live_v, live_positions, live_k_cache, live_v_cache};
        const char* names[] = {"q", "k", "v", "positions", "k_cache", "v_cache"};
        for (int i = 0; i < 6; ++i) {
            for (int j = i + 1; j < 6; ++j) SN_TRY(sn::require_no_overlap(*all[j], names[j], *all[i], names[i]));
        }
        return SN_RUN_OP(*live, rope_kv_write,
                         (sn::RopeKvWriteArgs{live_q, live_k, live_v, live_positions, theta, live_k_cache,
                                              live_v_cache}));
    });
}

SN_API sn_status sn_attention(sn_context* context, const sn_tensor* q, const sn_tensor* positions,
                              const sn_tensor* k_cache, const sn_tensor* v_cache, int32_t window, float scale,
                              sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_q = nullptr, *live_positions = nullptr, *live_k = nullptr, *live_v = nullptr,
                   *live_out = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, q, "q", &live_q));
        SN_TRY(sn::resolve_tensor_in(*live, positions, "positions", &live_positions));
        SN_TRY(sn::resolve_tensor_in(*live, k_cache, "k_cache", &live_k));
        SN_TRY(sn::resolve_tensor_in(*live, v_cache, "v_cache", &live_v));
        SN_TRY(sn::resolve_tensor_in(*live, out, "out", &live_out));
        SN_TRY(sn::require_dtype(*live_q, "q", kMaskFloat));
        SN_TRY(sn::require_dtype(*live_positions, "positions", kMaskI32));
        SN_TRY(sn::require_dtype(*live_k, "k_cache", kMaskFloat));
        SN_TRY(sn::require_same_dtype(*live_v, "v_cache", *live_k, "k_cache"));
        SN_TRY(sn::require_same_dtype(*live_out, "out", *live_q, "q"));
        SN_TRY(sn::require_ndim(*live_q, "q", 3, "[T, Hq, Dh]"));
        SN_TRY(sn::require_vector(*live_positions, "positions", live_q->dims[0], "T"));
        SN_TRY(sn::require_ndim(*live_k, "k_cache", 3, "[S, Hkv, Dh]"));
        SN_TRY(sn::require_same_shape(*live_v, "v_cache", *live_k, "k_cache"));
        SN_TRY(sn::require_same_shape(*live_out, "out", *live_q, "q"));
        const int64_t hq = live_q->dims[1], dh = live_q->dims[2];
        const int64_t hkv = live_k->dims[1];
        SN_CHECK(live_k->dims[2] == dh, SN_ERR_SHAPE_MISMATCH,
                 "k_cache: head dimension must equal q's Dh = %lld, got k_cache %s", static_cast<long long>(dh),
                 sn::shape_text(*live_k).text);
        SN_CHECK(hq % hkv == 0, SN_ERR_SHAPE_MISMATCH,
                 "k_cache: Hq = %lld (q %s) must be a multiple of Hkv = %lld (k_cache %s)", static_cast<long long>(hq),
                 sn::shape_text(*live_q).text, static_cast<long long>(hkv), sn::shape_text(*live_k).text);
        SN_CHECK(window >= 0, SN_ERR_INVALID_ARGUMENT, "window: must be >= 0 (0 = no sliding window), got %d", window);
        SN_CHECK(std::isfinite(scale), SN_ERR_INVALID_ARGUMENT, "scale: must be finite, got %g",
                 static_cast<double>(scale));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_q, "q"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_positions, "positions"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_k, "k_cache"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_v, "v_cache"));
        return SN_RUN_OP(*live, attention,
                         (sn::AttentionArgs{live_q, live_positions, live_k, live_v, window, scale, live_out}));
    });
}

SN_API sn_status sn_cross_entropy(sn_context* context, const sn_tensor* logits, const sn_tensor* targets,
                                  sn_tensor* losses) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_logits = nullptr, *live_targets = nullptr, *live_losses = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, logits, "logits", &live_logits));
        SN_TRY(sn::resolve_tensor_in(*live, targets, "targets", &live_targets));
        SN_TRY(sn::resolve_tensor_in(*live, losses, "losses", &live_losses));
        SN_TRY(sn::require_dtype(*live_logits, "logits", kMaskFloat));
        SN_TRY(sn::require_dtype(*live_targets, "targets", kMaskI32));
        SN_TRY(sn::require_dtype(*live_losses, "losses", sn::kMaskF32));
        SN_TRY(sn::require_ndim(*live_logits, "logits", 2, "[T, V]"));
        SN_TRY(sn::require_vector(*live_targets, "targets", live_logits->dims[0], "T"));
        SN_TRY(sn::require_vector(*live_losses, "losses", live_logits->dims[0], "T"));
        SN_TRY(sn::require_no_overlap(*live_losses, "losses", *live_logits, "logits"));
        SN_TRY(sn::require_no_overlap(*live_losses, "losses", *live_targets, "targets"));
        return SN_RUN_OP(*live, cross_entropy, (sn::CrossEntropyArgs{live_logits, live_targets, live_losses}));
    });
}

SN_API sn_status sn_fill_random(sn_context* context, sn_tensor* tensor, uint64_t seed, float scale) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor* live_tensor = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, tensor, "tensor", &live_tensor));
        SN_TRY(sn::require_dtype(*live_tensor, "tensor", kMaskFloat));
        SN_CHECK(std::isfinite(scale), SN_ERR_INVALID_ARGUMENT, "scale: must be finite, got %g",
                 static_cast<double>(scale));
        return SN_RUN_OP(*live, fill_random, (sn::FillRandomArgs{live_tensor, seed, scale}));
    });
}

}  // extern "C"
