// Causal multi-head attention over a KV cache (GQA, sliding window), flash-style: an online
// softmax over blocks of keys, so memory per thread is O(Dh·kKeyBlock) whatever T and S are.
//
//   q, out: [T, Hq, Dh]      query row t sits at position p = positions[t] (any order, any gaps)
//   k, v:   [S, Hkv, Dh]     query head h reads kv head h / (Hq / Hkv)
//   row p attends keys j with first_key(p) <= j <= p, first_key(p) = max(0, p − window + 1)
//   when window > 0, else 0.
//
// Work split: a task is (query head, kQueryBlock consecutive query rows); tasks run with a
// dynamic schedule, latest rows first (with the usual consecutive positions they see the most
// keys). A task covers the keys from its rows' smallest first_key to their largest position;
// within it, for each block of up to kKeyBlock keys:
//   1. transpose the block of K into kt[Dh][kKtStride] so scores vectorise over keys;
//   2. per group of up to kGroup rows: scores[r][j] = (scale·q_r) · k_j over the union of the keys
//      the group's rows see (each row then masks the keys outside its own range);
//   3. per row, the online-softmax update with running max m, sum l and accumulator acc[Dh]:
//        m' = max(m, max_j s_j);  c = e^(m − m')
//        l  = l·c + Σ_j e^(s_j − m');   acc = acc·c + Σ_j e^(s_j − m')·v_j
//      where the Σ_j ·v_j part runs for the whole group at once, loading each value row once.
// and finally out_row = acc / l. Every row sees at least its own key, so l > 0.
// kQueryBlock = 128 amortises the K transpose (redone per task) over 128 rows: measured on Zen 4,
// 16-row tasks spent as long transposing K as computing scores; at 128 it is ~10 % of the time.
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/scratch.h"
#include "cpu/vmath.h"
#include "error.h"

#include <algorithm>
#include <cstdint>
#include <omp.h>

namespace sn::cpu {
namespace {

constexpr int64_t kQueryBlock = 128;
constexpr int64_t kKeyBlock = 256;
constexpr int kGroup = 4;  // rows sharing each load of kt and of v: 4 rows × 2 vectors = 8 score accumulators
// Scores are computed two vectors (<= 32 keys) at a time past the last visible key; the padding
// keeps those reads and writes inside the buffers.
constexpr int64_t kKtStride = kKeyBlock + 32;

struct AttentionProblem {
    const float* q;
    const float* k;
    const float* v;
    float* out;
    const int32_t* positions;  // [tokens], each in [0, S)
    int64_t tokens, q_heads, kv_heads, head_dim;
    int64_t window;
    float scale;
};

// Per-thread buffers (floats), see workspace_floats().
struct Workspace {
    float* kt;        // [head_dim][kKtStride]
    float* scores;    // [kGroup][kKtStride]
    float* q_scaled;  // [kQueryBlock][head_dim]
    float* acc;       // [kQueryBlock][head_dim]
    float* row_max;   // [kQueryBlock]
    float* row_sum;   // [kQueryBlock]
};

size_t workspace_floats(int64_t head_dim) {
    return aligned_count(static_cast<size_t>(head_dim * kKtStride)) + aligned_count(kGroup * kKtStride) +
           2 * aligned_count(static_cast<size_t>(kQueryBlock * head_dim)) + 2 * aligned_count(kQueryBlock);
}

Workspace carve_workspace(float* base, int64_t head_dim) {
    Workspace ws{};
    ws.kt = base;
    ws.scores = ws.kt + aligned_count(static_cast<size_t>(head_dim * kKtStride));
    ws.q_scaled = ws.scores + aligned_count(kGroup * kKtStride);
    ws.acc = ws.q_scaled + aligned_count(static_cast<size_t>(kQueryBlock * head_dim));
    ws.row_max = ws.acc + aligned_count(static_cast<size_t>(kQueryBlock * head_dim));
    ws.row_sum = ws.row_max + aligned_count(kQueryBlock);
    return ws;
}

SN_ALWAYS_INLINE int64_t first_key(const AttentionProblem& p, int64_t position) {
    return p.window > 0 ? std::max<int64_t>(0, position - p.window + 1) : 0;
}

// scores[r][j] = q_scaled[r] · kt[:, j] for j in [j_begin, j_end) (block-relative), R rows.
template <int W, int R>
SN_ALWAYS_INLINE void group_scores(const float* q_rows, const float* kt, float* scores, int64_t head_dim,
                                   int64_t j_begin, int64_t j_end) {
    using V = typename vec<W>::f32;
    for (int64_t j = j_begin; j < j_end; j += 2 * W) {
        V acc[R][2];
        for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V{};
        for (int64_t d = 0; d < head_dim; ++d) {
            const V keys0 = load_vec<V>(kt + d * kKtStride + j);
            const V keys1 = load_vec<V>(kt + d * kKtStride + j + W);
            for (int r = 0; r < R; ++r) {
                const V query = splat<V>(q_rows[r * head_dim + d]);
                acc[r][0] += query * keys0;
                acc[r][1] += query * keys1;
            }
        }
        for (int r = 0; r < R; ++r) {
            store_vec(scores + r * kKtStride + j, acc[r][0]);
            store_vec(scores + r * kKtStride + j + W, acc[r][1]);
        }
    }
}

// The softmax half of one row's online update. On entry s[j_begin, j_end) holds the row's
// scores for the group's key range, of which [a, b) are visible to this row. On exit it holds
// e^(s_j − m') there and 0 elsewhere in the range; row_max/row_sum are updated and the row's
// accumulator is rescaled by e^(m − m'), ready for group_values().
template <int W>
SN_ALWAYS_INLINE void softmax_update_row(float* s, int64_t j_begin, int64_t j_end, int64_t a, int64_t b,
                                         int64_t head_dim, float* acc, float* row_max, float* row_sum) {
    using V = typename vec<W>::f32;
    for (int64_t j = j_begin; j < a; ++j) s[j] = 0.0f;
    for (int64_t j = b; j < j_end; ++j) s[j] = 0.0f;
    if (a >= b) return;  // nothing visible in this block: state unchanged

    V max_vec = splat<V>(-__builtin_inff());
    int64_t j = a;
    for (; j + W <= b; j += W) {
        const V scores = load_vec<V>(s + j);
        max_vec = scores > max_vec ? scores : max_vec;
    }
    float block_max = -__builtin_inff();
    for (int i = 0; i < W; ++i) block_max = max_vec[i] > block_max ? max_vec[i] : block_max;
    for (; j < b; ++j) block_max = s[j] > block_max ? s[j] : block_max;
    const float new_max = block_max > *row_max ? block_max : *row_max;
    const float correction = exp_scalar(*row_max - new_max);  // e^-inf = 0 on the first block

    V sum_vec = V{};
    for (j = a; j + W <= b; j += W) {
        const V weights = exp_vec<W>(load_vec<V>(s + j) - new_max);
        store_vec(s + j, weights);
        sum_vec += weights;
    }
    float block_sum = 0.0f;
    for (int i = 0; i < W; ++i) block_sum += sum_vec[i];
    for (; j < b; ++j) {
        s[j] = exp_scalar(s[j] - new_max);
        block_sum += s[j];
    }
    *row_sum = *row_sum * correction + block_sum;
    *row_max = new_max;
    for (int64_t d = 0; d < head_dim; ++d) acc[d] *= correction;
}

// acc[r] += Σ_j weights[r][j]·v_j over the group's key range, for R rows at once: each value
// row is loaded once for the whole group (the rows' weights are 0 where a key is not visible).
// Register-resident chunks of NV vectors of Dh: R·NV accumulators + NV values fit the 32 zmm
// (AVX-512, NV = 4) or 16 ymm/xmm (NV = 2) registers.
template <int W, int R>
SN_ALWAYS_INLINE void group_values(const float* weights, int64_t j_begin, int64_t j_end, const float* v_block,
                                   int64_t kv_stride, int64_t head_dim, float* acc) {
    using V = typename vec<W>::f32;
    constexpr int NV = W >= 16 ? 4 : 2;
    int64_t d = 0;
    for (; d + NV * W <= head_dim; d += NV * W) {
        V sums[R][NV];
        for (int r = 0; r < R; ++r) {
            for (int v = 0; v < NV; ++v) sums[r][v] = load_vec<V>(acc + r * head_dim + d + v * W);
        }
        for (int64_t key = j_begin; key < j_end; ++key) {
            const float* v_row = v_block + key * kv_stride + d;
            V values[NV];
            for (int v = 0; v < NV; ++v) values[v] = load_vec<V>(v_row + v * W);
            for (int r = 0; r < R; ++r) {
                const V weight = splat<V>(weights[r * kKtStride + key]);
                for (int v = 0; v < NV; ++v) sums[r][v] += weight * values[v];
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int v = 0; v < NV; ++v) store_vec(acc + r * head_dim + d + v * W, sums[r][v]);
        }
    }
    for (; d + W <= head_dim; d += W) {
        V sums[R];
        for (int r = 0; r < R; ++r) sums[r] = load_vec<V>(acc + r * head_dim + d);
        for (int64_t key = j_begin; key < j_end; ++key) {
            const V values = load_vec<V>(v_block + key * kv_stride + d);
            for (int r = 0; r < R; ++r) sums[r] += splat<V>(weights[r * kKtStride + key]) * values;
        }
        for (int r = 0; r < R; ++r) store_vec(acc + r * head_dim + d, sums[r]);
    }
    for (; d < head_dim; ++d) {
        for (int r = 0; r < R; ++r) {
            float sum = acc[r * head_dim + d];
            for (int64_t key = j_begin; key < j_end; ++key)
                sum += weights[r * kKtStride + key] * v_block[key * kv_stride + d];
            acc[r * head_dim + d] = sum;
        }
    }
}

template <int W>
SN_ALWAYS_INLINE void attention_task_body(const AttentionProblem& p, int64_t head, int64_t t_begin, int64_t t_end,
                                          const Workspace& ws) {
    const int64_t dh = p.head_dim;
    const int64_t kv_head = head / (p.q_heads / p.kv_heads);
    const int64_t rows = t_end - t_begin;
    const int64_t q_stride = p.q_heads * dh;
    const int64_t kv_stride = p.kv_heads * dh;

    for (int64_t r = 0; r < rows; ++r) {
        const float* q_row = p.q + (t_begin + r) * q_stride + head * dh;
        for (int64_t d = 0; d < dh; ++d) {
            ws.q_scaled[r * dh + d] = q_row[d] * p.scale;
            ws.acc[r * dh + d] = 0.0f;
        }
        ws.row_max[r] = -__builtin_inff();
        ws.row_sum[r] = 0.0f;
    }

    // The keys any row of the task sees: [smallest first key, largest position].
    int64_t key_begin = INT64_MAX, key_end = 0;
    for (int64_t t = t_begin; t < t_end; ++t) {
        key_begin = std::min(key_begin, first_key(p, p.positions[t]));
        key_end = std::max<int64_t>(key_end, p.positions[t] + 1);
    }
    for (int64_t block = key_begin; block < key_end; block += kKeyBlock) {
        const int64_t count = std::min(kKeyBlock, key_end - block);
        const float* k_block = p.k + block * kv_stride + kv_head * dh;
        const float* v_block = p.v + block * kv_stride + kv_head * dh;
        for (int64_t j = 0; j < count; ++j) {
            for (int64_t d = 0; d < dh; ++d) ws.kt[d * kKtStride + j] = k_block[j * kv_stride + d];
        }
        for (int64_t d = 0; d < dh; ++d) {
            std::fill(ws.kt + d * kKtStride + count, ws.kt + d * kKtStride + kKtStride, 0.0f);
        }

        for (int64_t g = 0; g < rows; g += kGroup) {
            const int64_t group_rows = std::min<int64_t>(kGroup, rows - g);
            const int32_t* group_positions = p.positions + t_begin + g;
            int64_t group_first = INT64_MAX, group_end = 0;
            for (int64_t r = 0; r < group_rows; ++r) {
                group_first = std::min(group_first, first_key(p, group_positions[r]));
                group_end = std::max<int64_t>(group_end, group_positions[r] + 1);
            }
            const int64_t j_begin = std::max(block, group_first) - block;
            const int64_t j_end = std::min(block + count, group_end) - block;
            if (j_begin >= j_end) continue;
            const float* q_rows = ws.q_scaled + g * dh;
            switch (group_rows) {
                case 1:
                    group_scores<W, 1>(q_rows, ws.kt, ws.scores, dh, j_begin, j_end);
                    break;
                case 2:
                    group_scores<W, 2>(q_rows, ws.kt, ws.scores, dh, j_begin, j_end);
                    break;
                case 3:
                    group_scores<W, 3>(q_rows, ws.kt, ws.scores, dh, j_begin, j_end);
                    break;
                default:
                    group_scores<W, kGroup>(q_rows, ws.kt, ws.scores, dh, j_begin, j_end);
                    break;
            }
            for (int64_t r = 0; r < group_rows; ++r) {
                // The row's visible keys [a, b) clamped into the group's range [j_begin, j_end), and
                // empty (a == b) when the row sees none of this block: a row whose keys all lie
                // before the block would otherwise give b < j_begin.
                const int64_t position = group_positions[r];
                const int64_t a = std::clamp(first_key(p, position) - block, j_begin, j_end);
                const int64_t b = std::clamp(position + 1 - block, a, j_end);
                const int64_t row = g + r;
                softmax_update_row<W>(ws.scores + r * kKtStride, j_begin, j_end, a, b, dh, ws.acc + row * dh,
                                      ws.row_max + row, ws.row_sum + row);
            }
            float* acc = ws.acc + g * dh;
            switch (group_rows) {
                case 1:
                    group_values<W, 1>(ws.scores, j_begin, j_end, v_block, kv_stride, dh, acc);
                    break;
                case 2:
                    group_values<W, 2>(ws.scores, j_begin, j_end, v_block, kv_stride, dh, acc);
                    break;
                case 3:
                    group_values<W, 3>(ws.scores, j_begin, j_end, v_block, kv_stride, dh, acc);
                    break;
                default:
                    group_values<W, kGroup>(ws.scores, j_begin, j_end, v_block, kv_stride, dh, acc);
                    break;
            }
        }
    }

    for (int64_t r = 0; r < rows; ++r) {
        float* out_row = p.out + (t_begin + r) * q_stride + head * dh;
        const float inverse = 1.0f / ws.row_sum[r];
        for (int64_t d = 0; d < dh; ++d) out_row[d] = ws.acc[r * dh + d] * inverse;
    }
}

SN_TARGET_AVX512 void task_avx512(const AttentionProblem& p, int64_t h, int64_t b, int64_t e, const Workspace& ws) {
    attention_task_body<16>(p, h, b, e, ws);
}
SN_TARGET_AVX2 void task_avx2(const AttentionProblem& p, int64_t h, int64_t b, int64_t e, const Workspace& ws) {
    attention_task_body<8>(p, h, b, e, ws);
}
void task_baseline(const AttentionProblem& p, int64_t h, int64_t b, int64_t e, const Workspace& ws) {
    attention_task_body<4>(p, h, b, e, ws);
}

}  // namespace

sn_status attention(Context& context, const AttentionArgs& args) {
    const int64_t tokens = args.q->dims[0];
    const int64_t cache_len = args.k_cache->dims[0];
    const int32_t* positions = args.positions->data_as<const int32_t>();
    int64_t keys = 0;  // the largest position + 1
    for (int64_t t = 0; t < tokens; ++t) {
        SN_CHECK(positions[t] >= 0 && positions[t] < cache_len, SN_ERR_INVALID_ARGUMENT,
                 "positions[%lld] = %d is outside the cache: positions must be in [0, S) with S = %lld (k_cache "
                 "%lld×%lld×%lld)",
                 static_cast<long long>(t), positions[t], static_cast<long long>(cache_len),
                 static_cast<long long>(cache_len), static_cast<long long>(args.k_cache->dims[1]),
                 static_cast<long long>(args.k_cache->dims[2]));
        keys = std::max<int64_t>(keys, positions[t] + 1);
    }
    const AttentionProblem problem{
        args.q->data_as<const float>(),
        args.k_cache->data_as<const float>(),
        args.v_cache->data_as<const float>(),
        args.out->data_as<float>(),
        positions,
        tokens,
        args.q->dims[1],
        args.k_cache->dims[1],
        args.q->dims[2],
        args.window,
        args.scale,
    };
    auto task = host_isa() == Isa::avx512 ? task_avx512 : host_isa() == Isa::avx2 ? task_avx2 : task_baseline;

    const int64_t query_blocks = (problem.tokens + kQueryBlock - 1) / kQueryBlock;
    const int64_t tasks = query_blocks * problem.q_heads;
    const int threads = static_cast<int>(
        std::min<int64_t>(tasks, worker_count(context, problem.tokens * problem.q_heads * problem.head_dim * keys)));
    const size_t per_thread = workspace_floats(problem.head_dim);
    float* scratch = scratch_floats(static_cast<size_t>(threads) * per_thread);

#pragma omp parallel num_threads(threads)
    {
        const Workspace ws =
            carve_workspace(scratch + static_cast<size_t>(omp_get_thread_num()) * per_thread, problem.head_dim);
#pragma omp for schedule(dynamic)
        for (int64_t index = 0; index < tasks; ++index) {
            // Latest query blocks first: they see the most keys, and finishing them early balances threads.
            const int64_t block = query_blocks - 1 - index / problem.q_heads;
            const int64_t head = index % problem.q_heads;
            const int64_t t_begin = block * kQueryBlock;
            task(problem, head, t_begin, std::min(problem.tokens, t_begin + kQueryBlock), ws);
        }
    }
    return SN_OK;
}

}  // namespace sn::cpu
