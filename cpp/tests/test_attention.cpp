// sn_attention against a naive double-precision reference: prefill and decode, past_len > 0,
// GQA, sliding windows, head sizes that leave vector tails, key counts across the 256-key
// blocks, and cache rows beyond past_len + T that must be ignored.
#include "test_support.h"

#include <limits>

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::Tensor;

namespace {

struct Case {
    const char* name;
    int64_t tokens, q_heads, kv_heads, head_dim, cache_len;
    int32_t past_len, window;
};

// For query t (position p = past_len + t) of head h: softmax over keys j in [lo, p] of
// scale·q·k_j, then Σ weights·v_j; kv head h / (Hq / Hkv).
std::vector<double> reference_attention(const Case& c, const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, double scale) {
    std::vector<double> out(q.size(), 0.0);
    const int64_t group = c.q_heads / c.kv_heads;
    for (int64_t t = 0; t < c.tokens; ++t) {
        const int64_t position = c.past_len + t;
        const int64_t first = c.window > 0 ? std::max<int64_t>(0, position - c.window + 1) : 0;
        for (int64_t h = 0; h < c.q_heads; ++h) {
            const int64_t kv = h / group;
            std::vector<double> scores;
            for (int64_t j = first; j <= position; ++j) {
                double dot = 0.0;
                for (int64_t d = 0; d < c.head_dim; ++d) {
                    dot += static_cast<double>(q[(t * c.q_heads + h) * c.head_dim + d]) *
                           k[(j * c.kv_heads + kv) * c.head_dim + d];
                }
                scores.push_back(dot * scale);
            }
            const double maximum = *std::max_element(scores.begin(), scores.end());
            double sum = 0.0;
            for (double& score : scores) sum += (score = std::exp(score - maximum));
            for (int64_t j = first; j <= position; ++j) {
                const double weight = scores[j - first] / sum;
                for (int64_t d = 0; d < c.head_dim; ++d) {
                    out[(t * c.q_heads + h) * c.head_dim + d] += weight * v[(j * c.kv_heads + kv) * c.head_dim + d];
                }
            }
        }
    }
    return out;
}

void check_case(const Case& c, int32_t threads) {
    SCOPED_TRACE(c.name);
    Context context(threads);
    const std::vector<float> q = sn_test::random_floats(c.tokens * c.q_heads * c.head_dim, 1, -2.0f, 2.0f);
    std::vector<float> k = sn_test::random_floats(c.cache_len * c.kv_heads * c.head_dim, 2, -2.0f, 2.0f);
    std::vector<float> v = sn_test::random_floats(c.cache_len * c.kv_heads * c.head_dim, 3);
    // Rows past past_len + T are not part of the sequence yet: poison them.
    for (size_t i = static_cast<size_t>((c.past_len + c.tokens) * c.kv_heads * c.head_dim); i < k.size(); ++i) {
        k[i] = std::numeric_limits<float>::quiet_NaN();
        v[i] = std::numeric_limits<float>::quiet_NaN();
    }
    Tensor tq = make_f32(context, {c.tokens, c.q_heads, c.head_dim}, q);
    Tensor tk = make_f32(context, {c.cache_len, c.kv_heads, c.head_dim}, k);
    Tensor tv = make_f32(context, {c.cache_len, c.kv_heads, c.head_dim}, v);
    Tensor out(context, SN_DTYPE_F32, {c.tokens, c.q_heads, c.head_dim});
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    ASSERT_SN_OK(sn_attention(context, tq, tk, tv, c.past_len, c.window, scale, out));
    // Outputs are convex combinations of values in [-1, 1]; F32 accumulation over <= 700 keys.
    sn_test::expect_close(download_f32(out), reference_attention(c, q, k, v, scale), 2e-5, 0.0, c.name);
}

const Case kCases[] = {
    {"single token, no past", 1, 2, 2, 8, 1, 0, 0},
    {"prefill, odd head dim", 7, 3, 3, 5, 7, 0, 0},
    {"prefill with GQA 4:2", 13, 4, 2, 6, 16, 0, 0},
    {"continuation after past_len", 5, 4, 4, 16, 20, 9, 0},
    {"decode with GQA 6:1", 1, 6, 1, 20, 40, 33, 0},
    {"sliding window", 37, 2, 1, 8, 45, 3, 4},
    {"window wider than the sequence", 9, 2, 2, 8, 9, 0, 100},
    {"long prefill across key blocks", 300, 2, 1, 64, 300, 0, 0},
    {"long prefill, window across blocks", 290, 4, 2, 32, 300, 7, 100},
    {"decode over 600 cached keys", 1, 4, 2, 128, 700, 600, 0},
};

}  // namespace

TEST(Attention, MatchesReferenceOnOneThread) {
    for (const Case& c : kCases) check_case(c, 1);
}

TEST(Attention, MatchesReferenceOnThreeThreads) {
    for (const Case& c : kCases) check_case(c, 3);
}

TEST(Attention, ArgumentChecks) {
    Context context(1);
    Tensor q(context, SN_DTYPE_F32, {2, 3, 4});
    Tensor k(context, SN_DTYPE_F32, {4, 2, 4});
    Tensor out(context, SN_DTYPE_F32, {2, 3, 4});
    EXPECT_SN_ERROR(sn_attention(context, q, k, k, 0, 0, 0.5f, out), SN_ERR_SHAPE_MISMATCH,
                    "Hq = 3 (q [2, 3, 4]) must be a multiple of Hkv = 2");
    Tensor q2(context, SN_DTYPE_F32, {2, 4, 4});
    Tensor out2(context, SN_DTYPE_F32, {2, 4, 4});
    EXPECT_SN_ERROR(sn_attention(context, q2, k, k, 3, 0, 0.5f, out2), SN_ERR_INVALID_ARGUMENT,
                    "past_len + T = 3 + 2 exceeds the cache length S = 4");
    EXPECT_SN_ERROR(sn_attention(context, q2, k, k, -1, 0, 0.5f, out2), SN_ERR_INVALID_ARGUMENT, "past_len");
    EXPECT_SN_ERROR(sn_attention(context, q2, k, k, 0, -3, 0.5f, out2), SN_ERR_INVALID_ARGUMENT, "window");
    EXPECT_SN_ERROR(sn_attention(context, q2, k, k, 0, 0, INFINITY, out2), SN_ERR_INVALID_ARGUMENT, "scale");
    Tensor v_short(context, SN_DTYPE_F32, {3, 2, 4});
    EXPECT_SN_ERROR(sn_attention(context, q2, k, v_short, 0, 0, 0.5f, out2), SN_ERR_SHAPE_MISMATCH, "v_cache");
    Tensor k_dh(context, SN_DTYPE_F32, {4, 2, 8});
    EXPECT_SN_ERROR(sn_attention(context, q2, k_dh, k_dh, 0, 0, 0.5f, out2), SN_ERR_SHAPE_MISMATCH, "head dimension");
    EXPECT_SN_ERROR(sn_attention(context, q2, k, k, 0, 0, 0.5f, q2), SN_ERR_INVALID_ARGUMENT, "out must not alias q");
}
