// sn_attention against a naive double-precision reference: prefill and decode, continuation
// after cached tokens, GQA, sliding windows, head sizes that leave vector tails, key counts
// across the 256-key blocks, cache rows past the largest position that must be ignored, and
// position sets that are not consecutive (any order, gaps, repeats): each query's causal limit
// is its own position, read from the positions tensor.
#include "test_support.h"

#include <algorithm>
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
    // Explicit positions (size == tokens); empty: past_len, past_len + 1, ... (a prompt chunk).
    std::vector<int32_t> explicit_positions = {};

    std::vector<int32_t> positions() const {
        if (!explicit_positions.empty()) return explicit_positions;
        std::vector<int32_t> consecutive(static_cast<size_t>(tokens));
        for (int64_t t = 0; t < tokens; ++t) consecutive[t] = past_len + static_cast<int32_t>(t);
        return consecutive;
    }
};

// For query t (position p = positions[t]) of head h: softmax over keys j in [lo, p] of
// scale·q·k_j, then Σ weights·v_j; kv head h / (Hq / Hkv).
std::vector<double> reference_attention(const Case& c, const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, double scale) {
    std::vector<double> out(q.size(), 0.0);
    const int64_t group = c.q_heads / c.kv_heads;
    const std::vector<int32_t> positions = c.positions();
    for (int64_t t = 0; t < c.tokens; ++t) {
        const int64_t position = positions[t];
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
    // Rows past the largest position are not part of the sequence yet: poison them.
    const std::vector<int32_t> positions = c.positions();
    const int64_t used = *std::max_element(positions.begin(), positions.end()) + 1;
    for (size_t i = static_cast<size_t>(used * c.kv_heads * c.head_dim); i < k.size(); ++i) {
        k[i] = std::numeric_limits<float>::quiet_NaN();
        v[i] = std::numeric_limits<float>::quiet_NaN();
    }
    Tensor tq = make_f32(context, {c.tokens, c.q_heads, c.head_dim}, q);
    Tensor tk = make_f32(context, {c.cache_len, c.kv_heads, c.head_dim}, k);
    Tensor tv = make_f32(context, {c.cache_len, c.kv_heads, c.head_dim}, v);
    Tensor tp = sn_test::make_i32(context, {c.tokens}, positions);
    Tensor out(context, SN_DTYPE_F32, {c.tokens, c.q_heads, c.head_dim});
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    ASSERT_SN_OK(sn_attention(context, tq, tp, tk, tv, c.window, scale, out));
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
    {"decode at position 0 of a long cache", 1, 4, 2, 16, 300, 0, 0},
    {"positions in reverse order", 6, 2, 2, 8, 10, 0, 0, {9, 7, 5, 3, 1, 0}},
    {"positions with gaps and a repeat, GQA 6:2", 5, 6, 2, 12, 40, 0, 0, {17, 3, 30, 3, 0}},
    {"scattered positions with a window, GQA 4:1", 7, 4, 1, 10, 64, 0, 5, {63, 0, 12, 40, 41, 6, 20}},
    {"scattered positions across key blocks", 4, 2, 1, 32, 600, 0, 0, {599, 10, 300, 257}},
    {"scattered positions, window across key blocks", 4, 2, 2, 16, 600, 0, 300, {599, 256, 310, 5}},
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
    Tensor positions = sn_test::make_i32(context, {2}, {0, 1});
    EXPECT_SN_ERROR(sn_attention(context, q, positions, k, k, 0, 0.5f, out), SN_ERR_SHAPE_MISMATCH,
                    "Hq = 3 (q [2, 3, 4]) must be a multiple of Hkv = 2");
    Tensor q2(context, SN_DTYPE_F32, {2, 4, 4});
    Tensor out2(context, SN_DTYPE_F32, {2, 4, 4});
    EXPECT_SN_ERROR(sn_attention(context, q2, positions, k, k, -3, 0.5f, out2), SN_ERR_INVALID_ARGUMENT, "window");
    EXPECT_SN_ERROR(sn_attention(context, q2, positions, k, k, 0, INFINITY, out2), SN_ERR_INVALID_ARGUMENT, "scale");
    Tensor v_short(context, SN_DTYPE_F32, {3, 2, 4});
    EXPECT_SN_ERROR(sn_attention(context, q2, positions, k, v_short, 0, 0.5f, out2), SN_ERR_SHAPE_MISMATCH, "v_cache");
    Tensor k_dh(context, SN_DTYPE_F32, {4, 2, 8});
    EXPECT_SN_ERROR(sn_attention(context, q2, positions, k_dh, k_dh, 0, 0.5f, out2), SN_ERR_SHAPE_MISMATCH,
                    "head dimension");
    EXPECT_SN_ERROR(sn_attention(context, q2, positions, k, k, 0, 0.5f, q2), SN_ERR_INVALID_ARGUMENT,
                    "out must not alias q");

    // positions: I32 [T], each in [0, S); checked against the data (names the offending entry).
    Tensor three_positions = sn_test::make_i32(context, {3}, {0, 1, 2});
    EXPECT_SN_ERROR(sn_attention(context, q2, three_positions, k, k, 0, 0.5f, out2), SN_ERR_SHAPE_MISMATCH,
                    "positions: expected 1-D [T] = [2]");
    Tensor float_positions = sn_test::make_f32(context, {2}, {0, 1});
    EXPECT_SN_ERROR(sn_attention(context, q2, float_positions, k, k, 0, 0.5f, out2), SN_ERR_DTYPE_MISMATCH,
                    "positions: expected dtype I32");
    Tensor past_the_end = sn_test::make_i32(context, {2}, {1, 4});
    EXPECT_SN_ERROR(sn_attention(context, q2, past_the_end, k, k, 0, 0.5f, out2), SN_ERR_INVALID_ARGUMENT,
                    "positions[1] = 4 is outside the cache");
    Tensor negative = sn_test::make_i32(context, {2}, {-1, 0});
    EXPECT_SN_ERROR(sn_attention(context, q2, negative, k, k, 0, 0.5f, out2), SN_ERR_INVALID_ARGUMENT,
                    "positions[0] = -1");
    EXPECT_SN_ERROR(sn_attention(context, q2, nullptr, k, k, 0, 0.5f, out2), SN_ERR_NULL_ARGUMENT, "positions");
}
