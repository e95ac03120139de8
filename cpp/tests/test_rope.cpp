// sn_rope against the header's formula in double, and against HF's float32 recipe step by step.
#include "test_support.h"

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::Tensor;

namespace {

// The formula with exact real arithmetic: inv_freq_i = theta^(−2i/Dh), angle = position·inv_freq_i.
std::vector<double> rope_formula(const std::vector<float>& x, const std::vector<int32_t>& positions, int64_t heads,
                                 int64_t head_dim, double theta) {
    std::vector<double> out(x.size());
    const int64_t half = head_dim / 2;
    for (size_t t = 0; t < positions.size(); ++t) {
        for (int64_t h = 0; h < heads; ++h) {
            const size_t base = (t * heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const double angle = positions[t] * std::pow(theta, -2.0 * i / head_dim);
                const double first = x[base + i], second = x[base + i + half];
                out[base + i] = first * std::cos(angle) - second * std::sin(angle);
                out[base + i + half] = second * std::cos(angle) + first * std::sin(angle);
            }
        }
    }
    return out;
}

// HF LlamaRotaryEmbedding in float32: inv_freq = 1 / theta^(arange(0, Dh, 2) / Dh), freqs =
// inv_freq · position, cos/sin of those float32 angles, then q·cos + rotate_half(q)·sin.
std::vector<double> rope_hf_float32(const std::vector<float>& x, const std::vector<int32_t>& positions, int64_t heads,
                                    int64_t head_dim, float theta) {
    std::vector<double> out(x.size());
    const int64_t half = head_dim / 2;
    for (size_t t = 0; t < positions.size(); ++t) {
        for (int64_t i = 0; i < half; ++i) {
            const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
            const float inv_freq = 1.0f / static_cast<float>(std::pow(static_cast<double>(theta), exponent));
            const float angle = inv_freq * static_cast<float>(positions[t]);
            const double c = static_cast<float>(std::cos(static_cast<double>(angle)));
            const double s = static_cast<float>(std::sin(static_cast<double>(angle)));
            for (int64_t h = 0; h < heads; ++h) {
                const size_t base = (t * heads + h) * head_dim;
                const double first = x[base + i], second = x[base + i + half];
                out[base + i] = first * c - second * s;
                out[base + i + half] = second * c + first * s;
            }
        }
    }
    return out;
}

}  // namespace

TEST(Rope, MatchesTheFormula) {
    Context context(2);
    const int64_t tokens = 7, heads = 3, head_dim = 10;  // Dh/2 = 5: odd half, vector tails
    const std::vector<int32_t> positions = {0, 1, 2, 3, 17, 100, 5};
    const std::vector<float> x = sn_test::random_floats(tokens * heads * head_dim, 1);
    Tensor tx = make_f32(context, {tokens, heads, head_dim}, x);
    Tensor tp = sn_test::make_i32(context, {tokens}, positions);
    Tensor out(context, SN_DTYPE_F32, {tokens, heads, head_dim});
    ASSERT_SN_OK(sn_rope(context, tx, tp, 10000.0f, out));
    // The F32 angle (position·inv_freq rounded) is off by up to ~position·2^-24 rad.
    sn_test::expect_close(download_f32(out), rope_formula(x, positions, heads, head_dim, 10000.0), 5e-5, 0.0, "rope");
    EXPECT_EQ(download_f32(out)[0], x[0]);  // position 0 is the identity
}

TEST(Rope, FollowsHfFloat32AnglesAtLongPositionsInPlace) {
    Context context(3);
    const int64_t tokens = 9, heads = 4, head_dim = 64;
    const std::vector<int32_t> positions = {0, 1, 255, 256, 511, 1000, 1023, 4095, 32767};
    const std::vector<float> x = sn_test::random_floats(tokens * heads * head_dim, 2);
    Tensor tx = make_f32(context, {tokens, heads, head_dim}, x);
    Tensor tp = sn_test::make_i32(context, {tokens}, positions);
    ASSERT_SN_OK(sn_rope(context, tx, tp, 500000.0f, tx));
    sn_test::expect_close(download_f32(tx), rope_hf_float32(x, positions, heads, head_dim, 500000.0f), 1e-6, 0.0,
                          "rope vs HF float32");
}

TEST(Rope, ArgumentChecks) {
    Context context(1);
    Tensor odd(context, SN_DTYPE_F32, {2, 1, 5});
    Tensor positions = sn_test::make_i32(context, {2}, {0, 1});
    EXPECT_SN_ERROR(sn_rope(context, odd, positions, 10000.0f, odd), SN_ERR_SHAPE_MISMATCH, "must be even");
    Tensor flat(context, SN_DTYPE_F32, {2, 8});
    EXPECT_SN_ERROR(sn_rope(context, flat, positions, 10000.0f, flat), SN_ERR_SHAPE_MISMATCH, "x: expected 3-D");
    Tensor x(context, SN_DTYPE_F32, {3, 2, 8});
    EXPECT_SN_ERROR(sn_rope(context, x, positions, 10000.0f, x), SN_ERR_SHAPE_MISMATCH,
                    "positions: expected 1-D [T] = [3]");
    Tensor float_positions(context, SN_DTYPE_F32, {3});
    EXPECT_SN_ERROR(sn_rope(context, x, float_positions, 10000.0f, x), SN_ERR_DTYPE_MISMATCH, "positions");
    Tensor three = sn_test::make_i32(context, {3}, {0, 1, 2});
    EXPECT_SN_ERROR(sn_rope(context, x, three, 0.0f, x), SN_ERR_INVALID_ARGUMENT, "theta");
}
