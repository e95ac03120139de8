// sn_attention_backward against central finite differences, in double, of causal attention
// composed with a random linear functional L = Σ r ⊙ attention(q, k, v): every coordinate for
// small shapes (GQA, sliding window, unordered and repeated positions), random directions
// ⟨∇L, u⟩ for shapes with several key blocks and MQA.
#include "test_support.h"

#include <functional>

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_i32;
using sn_test::Tensor;

namespace {

struct Shape {
    int64_t tokens, q_heads, kv_heads, head_dim;
    int32_t window;
    std::vector<int32_t> positions;  // empty: 0..T−1
    std::string name() const {
        return "T=" + std::to_string(tokens) + " Hq=" + std::to_string(q_heads) + " Hkv=" + std::to_string(kv_heads) +
               " Dh=" + std::to_string(head_dim) + " window=" + std::to_string(window) +
               (positions.empty() ? "" : " custom positions");
    }
};

struct Inputs {
    std::vector<double> q, k, v;
};

// out[t, h] = Σ_j softmax_j(scale · q[t, h] · k[j, h / group]) · v[j, h / group] over the keys j that
// query t (at position p) sees: j <= p and, with a window, p − j < window.
std::vector<double> attention_forward(const Shape& s, const std::vector<int32_t>& positions, const Inputs& in,
                                      double scale) {
    const int64_t dh = s.head_dim, group = s.q_heads / s.kv_heads;
    std::vector<double> out(static_cast<size_t>(s.tokens * s.q_heads * dh), 0.0);
    std::vector<double> scores(static_cast<size_t>(s.tokens));
    for (int64_t t = 0; t < s.tokens; ++t) {
        const int64_t p = positions[t];
        const int64_t first = s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0;
        for (int64_t h = 0; h < s.q_heads; ++h) {
            const double* q = in.q.data() + (t * s.q_heads + h) * dh;
            const int64_t c = h / group;
            double maximum = -INFINITY;
            for (int64_t j = first; j <= p; ++j) {
                const double* k = in.k.data() + (j * s.kv_heads + c) * dh;
                double score = 0.0;
                for (int64_t d = 0; d < dh; ++d) score += q[d] * k[d];
                scores[j] = scale * score;
                maximum = std::max(maximum, scores[j]);
            }
            double sum = 0.0;
            for (int64_t j = first; j <= p; ++j) sum += std::exp(scores[j] - maximum);
            double* o = out.data() + (t * s.q_heads + h) * dh;
            for (int64_t j = first; j <= p; ++j) {
                const double weight = std::exp(scores[j] - maximum) / sum;
                const double* v = in.v.data() + (j * s.kv_heads + c) * dh;
                for (int64_t d = 0; d < dh; ++d) o[d] += weight * v[d];
            }
        }
    }
    return out;
}

// The forward these are the gradients of: sn_attention over a cache holding exactly the T
// positions agrees with attention_forward.
void check_forward(sn_context* context, const Shape& s, const std::vector<int32_t>& positions,
                   const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v, float scale) {
    const std::vector<int64_t> q_dims = {s.tokens, s.q_heads, s.head_dim};
    const std::vector<int64_t> kv_dims = {s.tokens, s.kv_heads, s.head_dim};
    Tensor tq = make_f32(context, q_dims, q);
    Tensor tk = make_f32(context, kv_dims, k);
    Tensor tv = make_f32(context, kv_dims, v);
    Tensor tp = make_i32(context, {s.tokens}, positions);
    Tensor out(context, SN_DTYPE_F32, q_dims);
    ASSERT_SN_OK(sn_attention(context, tq, tp, tk, tv, s.window, scale, out));
    const Inputs inputs{{q.begin(), q.end()}, {k.begin(), k.end()}, {v.begin(), v.end()}};
    sn_test::expect_close(download_f32(out), attention_forward(s, positions, inputs, scale), 1e-5, 1e-5,
                          "sn_attention forward");
}

struct Gradients {
    std::vector<float> dq, dk, dv;
};

Gradients run_backward(sn_context* context, const Shape& s, const std::vector<int32_t>& positions,
                       const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                       const std::vector<float>& r, float scale) {
    const std::vector<int64_t> q_dims = {s.tokens, s.q_heads, s.head_dim};
    const std::vector<int64_t> kv_dims = {s.tokens, s.kv_heads, s.head_dim};
    Tensor tq = make_f32(context, q_dims, q);
    Tensor tk = make_f32(context, kv_dims, k);
    Tensor tv = make_f32(context, kv_dims, v);
    Tensor tp = make_i32(context, {s.tokens}, positions);
    Tensor tr = make_f32(context, q_dims, r);
    // Outputs start as garbage: the op must write (not accumulate) them.
    Tensor dq = make_f32(context, q_dims, std::vector<float>(q.size(), 7.0f));
    Tensor dk = make_f32(context, kv_dims, std::vector<float>(k.size(), 7.0f));
    Tensor dv = make_f32(context, kv_dims, std::vector<float>(v.size(), 7.0f));
    const sn_status status = sn_attention_backward(context, tq, tp, tk, tv, s.window, scale, tr, dq, dk, dv);
    EXPECT_EQ(status, SN_OK) << sn_last_error();
    return {download_f32(dq), download_f32(dk), download_f32(dv)};
}

std::vector<int32_t> positions_of(const Shape& s) {
    if (!s.positions.empty()) return s.positions;
    std::vector<int32_t> positions(static_cast<size_t>(s.tokens));
    for (int64_t t = 0; t < s.tokens; ++t) positions[t] = static_cast<int32_t>(t);
    return positions;
}

double functional(const std::vector<float>& r, const std::vector<double>& out) {
    double total = 0.0;
    for (size_t i = 0; i < out.size(); ++i) total += r[i] * out[i];
    return total;
}

// Which of q, k, v a check perturbs.
std::vector<double>& operand(Inputs& inputs, int which) {
    return which == 0 ? inputs.q : which == 1 ? inputs.k : inputs.v;
}

void check_every_coordinate(const Shape& s, uint32_t seed) {
    SCOPED_TRACE(s.name());
    Context context(2);
    const std::vector<int32_t> positions = positions_of(s);
    const int64_t q_count = s.tokens * s.q_heads * s.head_dim, kv_count = s.tokens * s.kv_heads * s.head_dim;
    const std::vector<float> q = sn_test::random_floats(q_count, seed);
    const std::vector<float> k = sn_test::random_floats(kv_count, seed + 1);
    const std::vector<float> v = sn_test::random_floats(kv_count, seed + 2);
    const std::vector<float> r = sn_test::random_floats(q_count, seed + 3);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim)) * 2.0f;  // sharper than usual softmax
    check_forward(context, s, positions, q, k, v, scale);
    const Gradients actual = run_backward(context, s, positions, q, k, v, r, scale);

    const Inputs base{{q.begin(), q.end()}, {k.begin(), k.end()}, {v.begin(), v.end()}};
    const std::vector<float>* results[] = {&actual.dq, &actual.dk, &actual.dv};
    const char* names[] = {"dq", "dk", "dv"};
    for (int which = 0; which < 3; ++which) {
        Inputs point = base;
        std::vector<double>& values = operand(point, which);
        std::vector<double> expected(values.size());
        for (size_t i = 0; i < values.size(); ++i) {
            const double h = 1e-5, saved = values[i];
            values[i] = saved + h;
            const double plus = functional(r, attention_forward(s, positions, point, scale));
            values[i] = saved - h;
            const double minus = functional(r, attention_forward(s, positions, point, scale));
            values[i] = saved;
            expected[i] = (plus - minus) / (2 * h);
        }
        sn_test::expect_close(*results[which], expected, 2e-6, 1e-4, names[which]);
    }
}

// ⟨∇L, u⟩ for random directions u: one pair of forward evaluations per direction.
void check_directions(const Shape& s, uint32_t seed) {
    SCOPED_TRACE(s.name());
    Context context(2);
    const std::vector<int32_t> positions = positions_of(s);
    const int64_t q_count = s.tokens * s.q_heads * s.head_dim, kv_count = s.tokens * s.kv_heads * s.head_dim;
    const std::vector<float> q = sn_test::random_floats(q_count, seed);
    const std::vector<float> k = sn_test::random_floats(kv_count, seed + 1);
    const std::vector<float> v = sn_test::random_floats(kv_count, seed + 2);
    const std::vector<float> r = sn_test::random_floats(q_count, seed + 3);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    check_forward(context, s, positions, q, k, v, scale);
    const Gradients actual = run_backward(context, s, positions, q, k, v, r, scale);

    const Inputs base{{q.begin(), q.end()}, {k.begin(), k.end()}, {v.begin(), v.end()}};
    const std::vector<float>* results[] = {&actual.dq, &actual.dk, &actual.dv};
    const char* names[] = {"dq", "dk", "dv"};
    for (int which = 0; which < 3; ++which) {
        for (uint32_t direction = 0; direction < 4; ++direction) {
            const std::vector<float> u =
                sn_test::random_floats(which == 0 ? q_count : kv_count, seed + 100 + 10 * which + direction);
            const double h = 1e-5;
            Inputs plus = base, minus = base;
            for (size_t i = 0; i < u.size(); ++i) {
                operand(plus, which)[i] += h * u[i];
                operand(minus, which)[i] -= h * u[i];
            }
            const double expected = (functional(r, attention_forward(s, positions, plus, scale)) -
                                     functional(r, attention_forward(s, positions, minus, scale))) /
                                    (2 * h);
            double projected = 0.0;
            for (size_t i = 0; i < u.size(); ++i) projected += static_cast<double>((*results[which])[i]) * u[i];
            EXPECT_NEAR(projected, expected, 1e-4 * (1.0 + std::fabs(expected)))
                << names[which] << ", direction " << direction;
        }
    }
}

}  // namespace

TEST(AttentionBackward, MatchesFiniteDifferencesEveryCoordinate) {
    check_every_coordinate({7, 4, 2, 6, 0, {}}, 1);
    check_every_coordinate({7, 4, 2, 6, 3, {}}, 2);
    check_every_coordinate({6, 2, 2, 5, 0, {}}, 3);  // no GQA, odd Dh
    // Queries need not be in order, and two may share a position.
    check_every_coordinate({7, 3, 1, 4, 0, {6, 0, 3, 3, 5, 1, 2}}, 4);
    check_every_coordinate({7, 3, 1, 4, 2, {6, 0, 3, 3, 5, 1, 2}}, 5);
}

TEST(AttentionBackward, MatchesFiniteDifferencesAlongDirections) {
    check_directions({70, 4, 1, 16, 0, {}}, 10);   // several 32-key blocks, MQA
    check_directions({70, 4, 2, 16, 20, {}}, 20);  // sliding window across blocks
    check_directions({130, 8, 2, 64, 0, {}}, 30);
}

TEST(AttentionBackward, RejectsBadArguments) {
    Context context(1);
    const int64_t t = 4, hq = 4, hkv = 2, dh = 8;
    Tensor q(context, SN_DTYPE_F32, {t, hq, dh});
    Tensor k(context, SN_DTYPE_F32, {t, hkv, dh});
    Tensor v(context, SN_DTYPE_F32, {t, hkv, dh});
    Tensor dout(context, SN_DTYPE_F32, {t, hq, dh});
    Tensor dq(context, SN_DTYPE_F32, {t, hq, dh});
    Tensor dk(context, SN_DTYPE_F32, {t, hkv, dh});
    Tensor dv(context, SN_DTYPE_F32, {t, hkv, dh});
    Tensor positions = make_i32(context, {t}, {0, 1, 2, 3});
    ASSERT_SN_OK(sn_attention_backward(context, q, positions, k, v, 0, 0.5f, dout, dq, dk, dv));

    Tensor far = make_i32(context, {t}, {0, 1, 4, 3});
    EXPECT_SN_ERROR(sn_attention_backward(context, q, far, k, v, 0, 0.5f, dout, dq, dk, dv), SN_ERR_INVALID_ARGUMENT,
                    "positions[2] = 4 is outside [0, T)");
    Tensor negative = make_i32(context, {t}, {0, -1, 2, 3});
    EXPECT_SN_ERROR(sn_attention_backward(context, q, negative, k, v, 0, 0.5f, dout, dq, dk, dv),
                    SN_ERR_INVALID_ARGUMENT, "positions[1] = -1");
    Tensor k_long(context, SN_DTYPE_F32, {t + 1, hkv, dh});
    Tensor dk_long(context, SN_DTYPE_F32, {t + 1, hkv, dh});
    Tensor dv_long(context, SN_DTYPE_F32, {t + 1, hkv, dh});
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k_long, k_long, 0, 0.5f, dout, dq, dk_long, dv_long),
                    SN_ERR_SHAPE_MISMATCH, "k: expected [T, Hkv, Dh] with q's T = 4");
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k, v, 0, 0.5f, dout, dq, dk, dv_long),
                    SN_ERR_SHAPE_MISMATCH, "dv");
    Tensor k3(context, SN_DTYPE_F32, {t, 3, dh});
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k3, k3, 0, 0.5f, dout, dq, k3, k3),
                    SN_ERR_SHAPE_MISMATCH, "multiple of Hkv");
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k, v, -1, 0.5f, dout, dq, dk, dv),
                    SN_ERR_INVALID_ARGUMENT, "window");
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k, v, 0, INFINITY, dout, dq, dk, dv),
                    SN_ERR_INVALID_ARGUMENT, "scale");
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k, v, 0, 0.5f, dout, dq, dk, dk),
                    SN_ERR_INVALID_ARGUMENT, "dk must not alias dv");
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k, v, 0, 0.5f, dout, dout, dk, dv),
                    SN_ERR_INVALID_ARGUMENT, "dq must not alias dout");
    EXPECT_SN_ERROR(sn_attention_backward(context, q, positions, k, v, 0, 0.5f, dout, dq, nullptr, dv),
                    SN_ERR_NULL_ARGUMENT, "dk");
}
