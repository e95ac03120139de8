// Backward of causal attention over one whole sequence (no earlier cache), GQA and sliding window.
//
//   q, dout, dq: [T, Hq, Dh]     query row t at position positions[t] (in [0, T))
//   k, v, dk, dv: [T, Hkv, Dh]   key row j at position j; query head h reads kv head h / (Hq / Hkv)
//   row t (position p) sees keys j in [first_key(p), p], first_key(p) = max(0, p − window + 1)
//   when window > 0, else 0.
//
// With s_j = scale·q·k_j, P_j = softmax(s)_j, out = Σ_j P_j·v_j and dP_j = dout·v_j:
//   dS_j = P_j·(dP_j − D),  D = Σ_j P_j·dP_j
//   dq   = scale · Σ_j dS_j·k_j
//   dk_j = scale · Σ_(t, h) dS_tj·q_t      dv_j = Σ_(t, h) P_tj·dout_t
// where the sums for dk/dv run over every query row that sees key j, in every query head that
// shares its kv head (GQA).
//
// Two passes, so that every output row has exactly one writer and no atomics are needed:
//   1. rows (h, t), parallel: recompute the row's scores and softmax (F32), dP, D, write dq[t, h]
//      and keep the row's log-sum-exp and D (2 floats per row). Memory per thread: 2 rows of T.
//   2. blocks of kKeyBlock keys of one kv head, parallel: for every query row of the group's heads
//      that sees some key of the block, recompute P_tj = e^(s_tj − lse_t) from the kept log-sum-exp,
//      and accumulate dk and dv of the block's keys (owned by this task).
// Pass 2 recomputes each visible score once more: about 7·Dh multiply-adds per visible (t, j) pair
// in all, against 2·Dh for the forward.
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/scratch.h"
#include "cpu/vmath.h"
#include "error.h"

#include <algorithm>
#include <cmath>
#include <omp.h>

namespace sn::cpu {
namespace {

constexpr int64_t kKeyBlock = 32;  // keys per pass-2 task: their dk/dv rows (32·Dh·2 floats) stay in L1/L2

struct Problem {
    const float* q;
    const int32_t* positions;
    const float* k;
    const float* v;
    const float* dout;
    float* dq;
    float* dk;
    float* dv;
    float* row_lse;    // [Hq][T]
    float* row_delta;  // [Hq][T]: D of each row
    int64_t tokens, q_heads, kv_heads, head_dim;
    int64_t window;
    float scale;
};

SN_ALWAYS_INLINE int64_t first_key(const Problem& p, int64_t position) {
    return p.window > 0 ? std::max<int64_t>(0, position - p.window + 1) : 0;
}

SN_ALWAYS_INLINE float dot(const float* a, const float* b, int64_t count) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < count; ++i) sum += a[i] * b[i];
    return sum;
}

// target += factor · source
SN_ALWAYS_INLINE void axpy(float factor, const float* source, float* target, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) target[i] += factor * source[i];
}

// Pass 1 for row t of query head h. `probs` and `dprobs` hold T floats.
SN_ALWAYS_INLINE void query_row_body(const Problem& p, int64_t h, int64_t t, float* probs, float* dprobs) {
    const int64_t dh = p.head_dim;
    const int64_t q_stride = p.q_heads * dh;
    const int64_t kv_stride = p.kv_heads * dh;
    const int64_t kv_head = h / (p.q_heads / p.kv_heads);
    const float* q_row = p.q + t * q_stride + h * dh;
    const float* dout_row = p.dout + t * q_stride + h * dh;
    const float* k_head = p.k + kv_head * dh;
    const float* v_head = p.v + kv_head * dh;
    const int64_t position = p.positions[t];
    const int64_t begin = first_key(p, position);
    const int64_t end = position + 1;

    float maximum = -__builtin_inff();
    for (int64_t j = begin; j < end; ++j) {
        probs[j] = p.scale * dot(q_row, k_head + j * kv_stride, dh);
        maximum = std::max(maximum, probs[j]);
    }
    float sum = 0.0f;
    for (int64_t j = begin; j < end; ++j) {
        probs[j] = exp_scalar(probs[j] - maximum);
        sum += probs[j];
    }
    const float inverse = 1.0f / sum;
    float delta = 0.0f;
    for (int64_t j = begin; j < end; ++j) {
        probs[j] *= inverse;
        dprobs[j] = dot(dout_row, v_head + j * kv_stride, dh);
        delta += probs[j] * dprobs[j];
    }
    float* dq_row = p.dq + t * q_stride + h * dh;
    for (int64_t d = 0; d < dh; ++d) dq_row[d] = 0.0f;
    for (int64_t j = begin; j < end; ++j) {
        axpy(p.scale * probs[j] * (dprobs[j] - delta), k_head + j * kv_stride, dq_row, dh);
    }
    p.row_lse[h * p.tokens + t] = maximum + std::log(sum);
    p.row_delta[h * p.tokens + t] = delta;
}

// Pass 2 for keys [key_begin, key_end) of kv head `kv_head`.
SN_ALWAYS_INLINE void key_block_body(const Problem& p, int64_t kv_head, int64_t key_begin, int64_t key_end) {
    const int64_t dh = p.head_dim;
    const int64_t q_stride = p.q_heads * dh;
    const int64_t kv_stride = p.kv_heads * dh;
    const int64_t group = p.q_heads / p.kv_heads;
    for (int64_t j = key_begin; j < key_end; ++j) {
        for (int64_t d = 0; d < dh; ++d) {
            p.dk[j * kv_stride + kv_head * dh + d] = 0.0f;
            p.dv[j * kv_stride + kv_head * dh + d] = 0.0f;
        }
    }
    for (int64_t h = kv_head * group; h < (kv_head + 1) * group; ++h) {
        for (int64_t t = 0; t < p.tokens; ++t) {
            const int64_t position = p.positions[t];
            const int64_t begin = std::max(key_begin, first_key(p, position));
            const int64_t end = std::min(key_end, position + 1);
            if (begin >= end) continue;
            const float* q_row = p.q + t * q_stride + h * dh;
            const float* dout_row = p.dout + t * q_stride + h * dh;
            const float lse = p.row_lse[h * p.tokens + t];
            const float delta = p.row_delta[h * p.tokens + t];
            for (int64_t j = begin; j < end; ++j) {
                const int64_t offset = j * kv_stride + kv_head * dh;
                const float prob = exp_scalar(p.scale * dot(q_row, p.k + offset, dh) - lse);
                const float dscore = prob * (dot(dout_row, p.v + offset, dh) - delta);
                axpy(p.scale * dscore, q_row, p.dk + offset, dh);
                axpy(prob, dout_row, p.dv + offset, dh);
            }
        }
    }
}

SN_TARGET_AVX512 void query_row_avx512(const Problem& p, int64_t h, int64_t t, float* probs, float* dprobs) {
    query_row_body(p, h, t, probs, dprobs);
}
SN_TARGET_AVX2 void query_row_avx2(const Problem& p, int64_t h, int64_t t, float* probs, float* dprobs) {
    query_row_body(p, h, t, probs, dprobs);
}
void query_row_baseline(const Problem& p, int64_t h, int64_t t, float* probs, float* dprobs) {
    query_row_body(p, h, t, probs, dprobs);
}
SN_TARGET_AVX512 void key_block_avx512(const Problem& p, int64_t kv_head, int64_t begin, int64_t end) {
    key_block_body(p, kv_head, begin, end);
}
SN_TARGET_AVX2 void key_block_avx2(const Problem& p, int64_t kv_head, int64_t begin, int64_t end) {
    key_block_body(p, kv_head, begin, end);
}
void key_block_baseline(const Problem& p, int64_t kv_head, int64_t begin, int64_t end) {
    key_block_body(p, kv_head, begin, end);
}

}  // namespace

sn_status attention_backward(Context& context, const AttentionBackwardArgs& args) {
    const int64_t tokens = args.q->dims[0];
    const int32_t* positions = args.positions->data_as<const int32_t>();
    for (int64_t t = 0; t < tokens; ++t) {
        SN_CHECK(positions[t] >= 0 && positions[t] < tokens, SN_ERR_INVALID_ARGUMENT,
                 "positions[%lld] = %d is outside [0, T) with T = %lld (k and v hold positions 0..T-1)",
                 static_cast<long long>(t), positions[t], static_cast<long long>(tokens));
    }
    const int64_t q_heads = args.q->dims[1];
    const int64_t head_dim = args.q->dims[2];
    const int64_t kv_heads = args.k->dims[1];

    // Scratch: row log-sum-exp [Hq][T] | row D [Hq][T] | per thread: probs [T] | dprobs [T].
    const size_t rows = aligned_count(static_cast<size_t>(q_heads * tokens));
    const size_t per_thread = 2 * aligned_count(static_cast<size_t>(tokens));
    float* scratch = scratch_floats(2 * rows + static_cast<size_t>(context.num_threads) * per_thread);
    const Problem problem{
        args.q->data_as<const float>(),
        positions,
        args.k->data_as<const float>(),
        args.v->data_as<const float>(),
        args.dout->data_as<const float>(),
        args.dq->data_as<float>(),
        args.dk->data_as<float>(),
        args.dv->data_as<float>(),
        scratch,
        scratch + rows,
        tokens,
        q_heads,
        kv_heads,
        head_dim,
        args.window,
        args.scale,
    };
    const Isa isa = host_isa();
    auto query_row = isa == Isa::avx512 ? query_row_avx512 : isa == Isa::avx2 ? query_row_avx2 : query_row_baseline;
    auto key_block = isa == Isa::avx512 ? key_block_avx512 : isa == Isa::avx2 ? key_block_avx2 : key_block_baseline;

    const int64_t key_blocks = (tokens + kKeyBlock - 1) / kKeyBlock;
    const int threads = worker_count(context, q_heads * tokens * tokens * head_dim * 4);
#pragma omp parallel num_threads(threads)
    {
        float* probs = scratch + 2 * rows + static_cast<size_t>(omp_get_thread_num()) * per_thread;
        float* dprobs = probs + per_thread / 2;
#pragma omp for schedule(dynamic, 4)
        for (int64_t index = 0; index < q_heads * tokens; ++index) {
            // Latest rows first within each head: they see the most keys.
            const int64_t h = index % q_heads;
            const int64_t t = tokens - 1 - index / q_heads;
            query_row(problem, h, t, probs, dprobs);
        }
        // The implicit barrier of `omp for`: every row's log-sum-exp and D are ready for pass 2.
#pragma omp for schedule(dynamic)
        for (int64_t index = 0; index < kv_heads * key_blocks; ++index) {
            const int64_t kv_head = index % kv_heads;
            const int64_t begin = (index / kv_heads) * kKeyBlock;
            key_block(problem, kv_head, begin, std::min(tokens, begin + kKeyBlock));
        }
    }
    return SN_OK;
}

}  // namespace sn::cpu
