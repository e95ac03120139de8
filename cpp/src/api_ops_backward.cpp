// The exported backward operations (gradients for SqueezeLLM's Fisher sensitivity): each
// validates its arguments against squeeze_native.h ("Backward operations") and runs the context's
// backend implementation. Outputs never alias inputs except where the header allows it
// (sn_activation_backward and sn_rope_backward: dx may be dy).
#include "backend.h"
#include "error.h"
#include "validate.h"

#include <cmath>
#include <utility>

namespace {

using sn::kMaskFloat;
using sn::kMaskI32;

sn_status require_finite(float value, const char* arg) {
    SN_CHECK(std::isfinite(value), SN_ERR_INVALID_ARGUMENT, "%s: must be finite, got %g", arg,
             static_cast<double>(value));
    return SN_OK;
}

// A gradient or input with the dtype and shape of `reference`.
sn_status require_like(const sn::Tensor& tensor, const char* arg, const sn::Tensor& reference,
                       const char* reference_arg) {
    SN_TRY(sn::require_same_dtype(tensor, arg, reference, reference_arg));
    return sn::require_same_shape(tensor, arg, reference, reference_arg);
}

// rms_norm_backward / layer_norm_backward: x float; weight [D] float; dy and dx like x.
sn_status validate_norm_backward(sn_context* context, const sn_tensor* x, const sn_tensor* weight, float eps,
                                 const sn_tensor* dy, sn_tensor* dx, sn::NormBackwardArgs* args,
                                 sn::Context** live_context) {
    sn::Tensor *live_x = nullptr, *live_weight = nullptr, *live_dy = nullptr, *live_dx = nullptr;
    SN_TRY(sn::resolve_context(context, "context", live_context));
    SN_TRY(sn::resolve_tensor_in(**live_context, x, "x", &live_x));
    SN_TRY(sn::resolve_tensor_in(**live_context, weight, "weight", &live_weight));
    SN_TRY(sn::resolve_tensor_in(**live_context, dy, "dy", &live_dy));
    SN_TRY(sn::resolve_tensor_in(**live_context, dx, "dx", &live_dx));
    SN_TRY(sn::require_dtype(*live_x, "x", kMaskFloat));
    SN_TRY(sn::require_dtype(*live_weight, "weight", kMaskFloat));
    SN_TRY(sn::require_vector(*live_weight, "weight", live_x->last_dim(), "D"));
    SN_TRY(require_like(*live_dy, "dy", *live_x, "x"));
    SN_TRY(require_like(*live_dx, "dx", *live_x, "x"));
    SN_CHECK(std::isfinite(eps) && eps >= 0.0f, SN_ERR_INVALID_ARGUMENT, "eps: must be finite and >= 0, got %g",
             static_cast<double>(eps));
    SN_TRY(sn::require_no_overlap(*live_dx, "dx", *live_x, "x"));
    SN_TRY(sn::require_no_overlap(*live_dx, "dx", *live_weight, "weight"));
    SN_TRY(sn::require_no_overlap(*live_dx, "dx", *live_dy, "dy"));
    *args = sn::NormBackwardArgs{live_x, live_weight, eps, live_dy, live_dx};
    return SN_OK;
}

}  // namespace

extern "C" {

SN_API sn_status sn_matmul_backward_input(sn_context* context, const sn_tensor* dy, const sn_tensor* weight,
                                          int32_t accumulate, sn_tensor* dx) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_dy = nullptr, *live_weight = nullptr, *live_dx = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, dy, "dy", &live_dy));
        SN_TRY(sn::resolve_tensor_in(*live, weight, "weight", &live_weight));
        SN_TRY(sn::resolve_tensor_in(*live, dx, "dx", &live_dx));
        SN_TRY(sn::require_dtype(*live_dy, "dy", kMaskFloat));
        SN_TRY(sn::require_dtype(*live_weight, "weight", kMaskFloat));
        SN_TRY(sn::require_same_dtype(*live_dx, "dx", *live_dy, "dy"));
        SN_TRY(sn::require_ndim(*live_weight, "weight", 2, "[N, K]"));
        const int64_t n = live_weight->dims[0];
        const int64_t k = live_weight->dims[1];
        SN_CHECK(live_dy->last_dim() == n, SN_ERR_SHAPE_MISMATCH,
                 "dy: last dimension must be N = %lld (weight is %s = [N, K]), got dy %s", static_cast<long long>(n),
                 sn::shape_text(*live_weight).text, sn::shape_text(*live_dy).text);
        SN_CHECK(live_dx->last_dim() == k && live_dx->rows() == live_dy->rows(), SN_ERR_SHAPE_MISMATCH,
                 "dx: expected %lld rows of K = %lld (dy is %s, weight %s), got %s",
                 static_cast<long long>(live_dy->rows()), static_cast<long long>(k), sn::shape_text(*live_dy).text,
                 sn::shape_text(*live_weight).text, sn::shape_text(*live_dx).text);
        SN_TRY(sn::require_no_overlap(*live_dx, "dx", *live_dy, "dy"));
        SN_TRY(sn::require_no_overlap(*live_dx, "dx", *live_weight, "weight"));
        return SN_RUN_OP(*live, matmul_backward_input,
                         (sn::MatmulBackwardInputArgs{live_dy, live_weight, accumulate != 0, live_dx}));
    });
}

SN_API sn_status sn_fisher_accumulate(sn_context* context, const sn_tensor* dy, const sn_tensor* x, sn_tensor* fisher) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_dy = nullptr, *live_x = nullptr, *live_fisher = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, dy, "dy", &live_dy));
        SN_TRY(sn::resolve_tensor_in(*live, x, "x", &live_x));
        SN_TRY(sn::resolve_tensor_in(*live, fisher, "fisher", &live_fisher));
        SN_TRY(sn::require_dtype(*live_dy, "dy", kMaskFloat));
        SN_TRY(sn::require_same_dtype(*live_x, "x", *live_dy, "dy"));
        SN_TRY(sn::require_dtype(*live_fisher, "fisher", sn::kMaskF32));
        SN_TRY(sn::require_ndim(*live_fisher, "fisher", 2, "[N, K]"));
        const int64_t n = live_fisher->dims[0];
        const int64_t k = live_fisher->dims[1];
        SN_CHECK(live_dy->last_dim() == n, SN_ERR_SHAPE_MISMATCH,
                 "dy: last dimension must be N = %lld (fisher is %s = [N, K]), got dy %s", static_cast<long long>(n),
                 sn::shape_text(*live_fisher).text, sn::shape_text(*live_dy).text);
        SN_CHECK(live_x->last_dim() == k, SN_ERR_SHAPE_MISMATCH,
                 "x: last dimension must be K = %lld (fisher is %s = [N, K]), got x %s", static_cast<long long>(k),
                 sn::shape_text(*live_fisher).text, sn::shape_text(*live_x).text);
        SN_CHECK(live_x->rows() == live_dy->rows(), SN_ERR_SHAPE_MISMATCH,
                 "x: must have as many rows (tokens T) as dy: x %s has %lld, dy %s has %lld",
                 sn::shape_text(*live_x).text, static_cast<long long>(live_x->rows()), sn::shape_text(*live_dy).text,
                 static_cast<long long>(live_dy->rows()));
        SN_TRY(sn::require_no_overlap(*live_fisher, "fisher", *live_dy, "dy"));
        SN_TRY(sn::require_no_overlap(*live_fisher, "fisher", *live_x, "x"));
        return SN_RUN_OP(*live, fisher_accumulate, (sn::FisherAccumulateArgs{live_dy, live_x, live_fisher}));
    });
}

SN_API sn_status sn_rms_norm_backward(sn_context* context, const sn_tensor* x, const sn_tensor* weight, float eps,
                                      const sn_tensor* dy, sn_tensor* dx) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::NormBackwardArgs args{};
        SN_TRY(validate_norm_backward(context, x, weight, eps, dy, dx, &args, &live));
        return SN_RUN_OP(*live, rms_norm_backward, args);
    });
}

SN_API sn_status sn_layer_norm_backward(sn_context* context, const sn_tensor* x, const sn_tensor* weight, float eps,
                                        const sn_tensor* dy, sn_tensor* dx) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::NormBackwardArgs args{};
        SN_TRY(validate_norm_backward(context, x, weight, eps, dy, dx, &args, &live));
        return SN_RUN_OP(*live, layer_norm_backward, args);
    });
}

SN_API sn_status sn_swiglu_backward(sn_context* context, const sn_tensor* gate, const sn_tensor* up,
                                    const sn_tensor* dy, sn_tensor* dgate, sn_tensor* dup) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_gate = nullptr, *live_up = nullptr, *live_dy = nullptr, *live_dgate = nullptr,
                   *live_dup = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, gate, "gate", &live_gate));
        SN_TRY(sn::resolve_tensor_in(*live, up, "up", &live_up));
        SN_TRY(sn::resolve_tensor_in(*live, dy, "dy", &live_dy));
        SN_TRY(sn::resolve_tensor_in(*live, dgate, "dgate", &live_dgate));
        SN_TRY(sn::resolve_tensor_in(*live, dup, "dup", &live_dup));
        SN_TRY(sn::require_dtype(*live_gate, "gate", kMaskFloat));
        SN_TRY(require_like(*live_up, "up", *live_gate, "gate"));
        SN_TRY(require_like(*live_dy, "dy", *live_gate, "gate"));
        SN_TRY(require_like(*live_dgate, "dgate", *live_gate, "gate"));
        SN_TRY(require_like(*live_dup, "dup", *live_gate, "gate"));
        for (const auto& [output, output_name] : {std::pair{live_dgate, "dgate"}, std::pair{live_dup, "dup"}}) {
            SN_TRY(sn::require_no_overlap(*output, output_name, *live_gate, "gate"));
            SN_TRY(sn::require_no_overlap(*output, output_name, *live_up, "up"));
            SN_TRY(sn::require_no_overlap(*output, output_name, *live_dy, "dy"));
        }
        SN_TRY(sn::require_no_overlap(*live_dgate, "dgate", *live_dup, "dup"));
        return SN_RUN_OP(*live, swiglu_backward,
                         (sn::SwigluBackwardArgs{live_gate, live_up, live_dy, live_dgate, live_dup}));
    });
}

SN_API sn_status sn_activation_backward(sn_context* context, sn_activation activation, const sn_tensor* x,
                                        const sn_tensor* dy, sn_tensor* dx) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_x = nullptr, *live_dy = nullptr, *live_dx = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        const int64_t raw_activation = sn::raw_enum(activation);
        SN_CHECK(raw_activation >= SN_ACTIVATION_RELU && raw_activation <= SN_ACTIVATION_GELU_TANH,
                 SN_ERR_INVALID_ARGUMENT,
                 "activation: must be SN_ACTIVATION_RELU (0), _SILU (1), _GELU (2) or _GELU_TANH (3), got %lld",
                 static_cast<long long>(raw_activation));
        SN_TRY(sn::resolve_tensor_in(*live, x, "x", &live_x));
        SN_TRY(sn::resolve_tensor_in(*live, dy, "dy", &live_dy));
        SN_TRY(sn::resolve_tensor_in(*live, dx, "dx", &live_dx));
        SN_TRY(sn::require_dtype(*live_x, "x", kMaskFloat));
        SN_TRY(require_like(*live_dy, "dy", *live_x, "x"));
        SN_TRY(require_like(*live_dx, "dx", *live_x, "x"));
        SN_TRY(sn::require_no_overlap(*live_dx, "dx", *live_x, "x"));
        SN_TRY(sn::require_no_partial_overlap(*live_dx, "dx", *live_dy, "dy"));
        return SN_RUN_OP(
            *live, activation_backward,
            (sn::ActivationBackwardArgs{static_cast<sn_activation>(raw_activation), live_x, live_dy, live_dx}));
    });
}

SN_API sn_status sn_rope_backward(sn_context* context, const sn_tensor* dy, const sn_tensor* positions, float theta,
                                  sn_tensor* dx) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_dy = nullptr, *live_positions = nullptr, *live_dx = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, dy, "dy", &live_dy));
        SN_TRY(sn::resolve_tensor_in(*live, positions, "positions", &live_positions));
        SN_TRY(sn::resolve_tensor_in(*live, dx, "dx", &live_dx));
        SN_TRY(sn::require_dtype(*live_dy, "dy", kMaskFloat));
        SN_TRY(sn::require_ndim(*live_dy, "dy", 3, "[T, H, Dh]"));
        SN_CHECK(live_dy->dims[2] % 2 == 0, SN_ERR_SHAPE_MISMATCH, "dy: head dimension Dh must be even, got dy %s",
                 sn::shape_text(*live_dy).text);
        SN_TRY(require_like(*live_dx, "dx", *live_dy, "dy"));
        SN_TRY(sn::require_dtype(*live_positions, "positions", kMaskI32));
        SN_TRY(sn::require_vector(*live_positions, "positions", live_dy->dims[0], "T"));
        SN_CHECK(std::isfinite(theta) && theta > 0.0f, SN_ERR_INVALID_ARGUMENT, "theta: must be finite and > 0, got %g",
                 static_cast<double>(theta));
        SN_TRY(sn::require_no_partial_overlap(*live_dx, "dx", *live_dy, "dy"));
        SN_TRY(sn::require_no_overlap(*live_dx, "dx", *live_positions, "positions"));
        return SN_RUN_OP(*live, rope_backward, (sn::RopeBackwardArgs{live_dy, live_positions, theta, live_dx}));
    });
}

SN_API sn_status sn_attention_backward(sn_context* context, const sn_tensor* q, const sn_tensor* positions,
                                       const sn_tensor* k, const sn_tensor* v, int32_t window, float scale,
                                       const sn_tensor* dout, sn_tensor* dq, sn_tensor* dk, sn_tensor* dv) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_q = nullptr, *live_positions = nullptr, *live_k = nullptr, *live_v = nullptr,
                   *live_dout = nullptr, *live_dq = nullptr, *live_dk = nullptr, *live_dv = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, q, "q", &live_q));
        SN_TRY(sn::resolve_tensor_in(*live, positions, "positions", &live_positions));
        SN_TRY(sn::resolve_tensor_in(*live, k, "k", &live_k));
        SN_TRY(sn::resolve_tensor_in(*live, v, "v", &live_v));
        SN_TRY(sn::resolve_tensor_in(*live, dout, "dout", &live_dout));
        SN_TRY(sn::resolve_tensor_in(*live, dq, "dq", &live_dq));
        SN_TRY(sn::resolve_tensor_in(*live, dk, "dk", &live_dk));
        SN_TRY(sn::resolve_tensor_in(*live, dv, "dv", &live_dv));
        SN_TRY(sn::require_dtype(*live_q, "q", kMaskFloat));
        SN_TRY(sn::require_ndim(*live_q, "q", 3, "[T, Hq, Dh]"));
        SN_TRY(sn::require_dtype(*live_k, "k", kMaskFloat));
        SN_TRY(sn::require_ndim(*live_k, "k", 3, "[T, Hkv, Dh]"));
        SN_TRY(require_like(*live_v, "v", *live_k, "k"));
        SN_TRY(require_like(*live_dout, "dout", *live_q, "q"));
        SN_TRY(require_like(*live_dq, "dq", *live_q, "q"));
        SN_TRY(require_like(*live_dk, "dk", *live_k, "k"));
        SN_TRY(require_like(*live_dv, "dv", *live_k, "k"));
        const int64_t t = live_q->dims[0], hq = live_q->dims[1], dh = live_q->dims[2];
        const int64_t hkv = live_k->dims[1];
        SN_CHECK(live_k->dims[0] == t && live_k->dims[2] == dh, SN_ERR_SHAPE_MISMATCH,
                 "k: expected [T, Hkv, Dh] with q's T = %lld and Dh = %lld (q %s), got k %s", static_cast<long long>(t),
                 static_cast<long long>(dh), sn::shape_text(*live_q).text, sn::shape_text(*live_k).text);
        SN_CHECK(hq % hkv == 0, SN_ERR_SHAPE_MISMATCH, "k: Hq = %lld (q %s) must be a multiple of Hkv = %lld (k %s)",
                 static_cast<long long>(hq), sn::shape_text(*live_q).text, static_cast<long long>(hkv),
                 sn::shape_text(*live_k).text);
        SN_TRY(sn::require_dtype(*live_positions, "positions", kMaskI32));
        SN_TRY(sn::require_vector(*live_positions, "positions", t, "T"));
        SN_CHECK(window >= 0, SN_ERR_INVALID_ARGUMENT, "window: must be >= 0 (0 = no sliding window), got %d", window);
        SN_TRY(require_finite(scale, "scale"));
        const std::pair<const sn::Tensor*, const char*> inputs[] = {
            {live_q, "q"}, {live_positions, "positions"}, {live_k, "k"}, {live_v, "v"}, {live_dout, "dout"}};
        const std::pair<const sn::Tensor*, const char*> outputs[] = {{live_dq, "dq"}, {live_dk, "dk"}, {live_dv, "dv"}};
        for (const auto& [output, output_name] : outputs) {
            for (const auto& [input, input_name] : inputs) {
                SN_TRY(sn::require_no_overlap(*output, output_name, *input, input_name));
            }
        }
        SN_TRY(sn::require_no_overlap(*live_dq, "dq", *live_dk, "dk"));
        SN_TRY(sn::require_no_overlap(*live_dq, "dq", *live_dv, "dv"));
        SN_TRY(sn::require_no_overlap(*live_dk, "dk", *live_dv, "dv"));
        return SN_RUN_OP(*live, attention_backward,
                         (sn::AttentionBackwardArgs{live_q, live_positions, live_k, live_v, window, scale, live_dout,
                                                    live_dq, live_dk, live_dv}));
    });
}

SN_API sn_status sn_cross_entropy_backward(sn_context* context, const sn_tensor* logits, const sn_tensor* targets,
                                           float scale, sn_tensor* dlogits) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_logits = nullptr, *live_targets = nullptr, *live_dlogits = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, logits, "logits", &live_logits));
        SN_TRY(sn::resolve_tensor_in(*live, targets, "targets", &live_targets));
        SN_TRY(sn::resolve_tensor_in(*live, dlogits, "dlogits", &live_dlogits));
        SN_TRY(sn::require_dtype(*live_logits, "logits", kMaskFloat));
        SN_TRY(sn::require_ndim(*live_logits, "logits", 2, "[T, V]"));
        SN_TRY(require_like(*live_dlogits, "dlogits", *live_logits, "logits"));
        SN_TRY(sn::require_dtype(*live_targets, "targets", kMaskI32));
        SN_TRY(sn::require_vector(*live_targets, "targets", live_logits->dims[0], "T"));
        SN_TRY(require_finite(scale, "scale"));
        SN_TRY(sn::require_no_overlap(*live_dlogits, "dlogits", *live_logits, "logits"));
        SN_TRY(sn::require_no_overlap(*live_dlogits, "dlogits", *live_targets, "targets"));
        return SN_RUN_OP(*live, cross_entropy_backward,
                         (sn::CrossEntropyBackwardArgs{live_logits, live_targets, scale, live_dlogits}));
    });
}

}  // extern "C"
