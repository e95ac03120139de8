// Rotary position embedding, rotate-half layout (HF LLaMA):
//   x, out: [T, H, Dh]; pair (i, i + Dh/2) of every head of token t is rotated by
//   angle = positions[t] · inv_freq_i.
// The angles follow HF's float32 arithmetic step by step so logits stay within 1e-3 of HF:
//   inv_freq_i = 1.0f / (float)(theta ^ ((float)(2i) / (float)Dh))   (torch: F32 tensor ops)
//   angle      = (float)position * inv_freq_i                         (F32 product, as the K=1 matmul)
//   cos, sin   = F32 cos/sin of that F32 angle
// The cos/sin table [T][Dh/2] is built once per call and shared by all H heads.
// The backward (rope_backward) is the same rotation by −angle — the transpose of the orthogonal
// map actually applied, with the same F32 angles — so both ops share rotate() below.
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/scratch.h"
#include "error.h"

#include <cmath>

namespace sn::cpu {
namespace {

// One head: out[i] = x[i]·c − x[i+h]·s', out[i+h] = x[i+h]·c + x[i]·s' with s' = sign·s
// (sign −1 rotates back). In place is safe: each iteration reads its pair before writing it
// (hence `omp simd` despite possible aliasing).
SN_ALWAYS_INLINE void rotate_head_body(const float* x, const float* cosines, const float* sines, float* out,
                                       int64_t half, float sign) {
#pragma omp simd
    for (int64_t i = 0; i < half; ++i) {
        const float first = x[i];
        const float second = x[i + half];
        const float sine = sign * sines[i];
        out[i] = first * cosines[i] - second * sine;
        out[i + half] = second * cosines[i] + first * sine;
    }
}
SN_MULTIVERSION(rotate_head,
                (const float* x, const float* cosines, const float* sines, float* out, int64_t half, float sign),
                (x, cosines, sines, out, half, sign))

// Rotates every head of in [T, H, Dh] by sign · angle(positions[t], i) into out.
sn_status rotate(Context& context, const Tensor* in, const Tensor* positions_tensor, float theta,
                 Tensor* result, float sign) {
    const int64_t tokens = in->dims[0];
    const int64_t heads = in->dims[1];
    const int64_t head_dim = in->dims[2];
    const int64_t half = head_dim / 2;
    const int32_t* positions = positions_tensor->data_as<const int32_t>();

    // Scratch: inv_freq [half] | cos [T][half] | sin [T][half].
    const size_t table = aligned_count(static_cast<size_t>(tokens * half));
    float* inv_freq = scratch_floats(aligned_count(static_cast<size_t>(half)) + 2 * table);
    float* cosines = inv_freq + aligned_count(static_cast<size_t>(half));
    float* sines = cosines + table;
    for (int64_t i = 0; i < half; ++i) {
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
        const float power =
            static_cast<float>(std::pow(static_cast<double>(theta), static_cast<double>(exponent)));
        inv_freq[i] = 1.0f / power;
    }

    const int threads = worker_count(context, tokens * half * 40 + tokens * heads * head_dim);
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tokens; ++t) {
            const float position = static_cast<float>(positions[t]);
            for (int64_t i = 0; i < half; ++i) {
                const float angle = position * inv_freq[i];
                cosines[t * half + i] = std::cos(angle);
                sines[t * half + i] = std::sin(angle);
            }
        }
        const float* x = in->data_as<const float>();
        float* out = result->data_as<float>();
#pragma omp for schedule(static)
        for (int64_t row = 0; row < tokens * heads; ++row) {
            const int64_t t = row / heads;
            rotate_head(x + row * head_dim, cosines + t * half, sines + t * half, out + row * head_dim, half, sign);
        }
    }
    return SN_OK;
}

}  // namespace

sn_status rope(Context& context, const RopeArgs& args) {
    return rotate(context, args.x, args.positions, args.theta, args.out, 1.0f);
}

sn_status rope_backward(Context& context, const RopeBackwardArgs& args) {
    return rotate(context, args.dy, args.positions, args.theta, args.dx, -1.0f);
}

// The reference of the fused op is literally the sequence it replaces (rope q, rope k, kv_write
// k and v), so the two agree bit for bit by construction. Positions are checked first so that a
// bad one leaves q, k and the caches untouched (kv_write alone would fail only after the rotations).
sn_status rope_kv_write(Context& context, const RopeKvWriteArgs& args) {
    const int64_t tokens = args.positions->dims[0];
    const int64_t cache_len = args.k_cache->dims[0];
    const int32_t* positions = args.positions->data_as<const int32_t>();
    for (int64_t t = 0; t < tokens; ++t) {
        SN_CHECK(positions[t] >= 0 && positions[t] < cache_len, SN_ERR_INVALID_ARGUMENT,
                 "positions[%lld] = %d is outside the cache: positions must be in [0, S) with S = %lld",
                 static_cast<long long>(t), positions[t], static_cast<long long>(cache_len));
    }
    if (args.theta != 0.0f) {
        SN_TRY(rotate(context, args.q, args.positions, args.theta, args.q, 1.0f));
        SN_TRY(rotate(context, args.k, args.positions, args.theta, args.k, 1.0f));
    }
    SN_TRY(kv_write(context, KvWriteArgs{args.k, args.positions, args.k_cache}));
    return kv_write(context, KvWriteArgs{args.v, args.positions, args.v_cache});
}

}  // namespace sn::cpu
