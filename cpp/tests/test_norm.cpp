// RMSNorm and LayerNorm against double-precision references, with F32/F16/BF16 parameters,
// in place, and rows whose mean dwarfs their spread (where one-pass float statistics fail).
#include "test_support.h"

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_tensor;
using sn_test::Tensor;

namespace {

constexpr int64_t kRows = 5;
constexpr int64_t kWidth = 77;  // not a multiple of any vector width

std::vector<double> rms_reference(const std::vector<float>& x, const std::vector<float>& weight, double eps) {
    std::vector<double> out(x.size());
    for (int64_t r = 0; r < kRows; ++r) {
        double squares = 0.0;
        for (int64_t i = 0; i < kWidth; ++i) squares += static_cast<double>(x[r * kWidth + i]) * x[r * kWidth + i];
        const double inverse = 1.0 / std::sqrt(squares / kWidth + eps);
        for (int64_t i = 0; i < kWidth; ++i) out[r * kWidth + i] = x[r * kWidth + i] * inverse * weight[i];
    }
    return out;
}

std::vector<double> layer_reference(const std::vector<float>& x, const std::vector<float>& weight,
                                    const std::vector<float>* bias, double eps) {
    std::vector<double> out(x.size());
    for (int64_t r = 0; r < kRows; ++r) {
        double mean = 0.0;
        for (int64_t i = 0; i < kWidth; ++i) mean += x[r * kWidth + i];
        mean /= kWidth;
        double variance = 0.0;
        for (int64_t i = 0; i < kWidth; ++i) variance += (x[r * kWidth + i] - mean) * (x[r * kWidth + i] - mean);
        const double inverse = 1.0 / std::sqrt(variance / kWidth + eps);
        for (int64_t i = 0; i < kWidth; ++i) {
            out[r * kWidth + i] = (x[r * kWidth + i] - mean) * inverse * weight[i] + (bias ? (*bias)[i] : 0.0);
        }
    }
    return out;
}

}  // namespace

TEST(RmsNorm, EveryWeightDtypeInPlace) {
    for (sn_dtype dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
        Context context(2);
        const std::vector<float> x = sn_test::random_floats(kRows * kWidth, 1, -3.0f, 3.0f);
        const std::vector<float> weight = sn_test::random_floats(kWidth, 2, 0.5f, 1.5f);
        Tensor tx = make_f32(context, {kRows, kWidth}, x);
        Tensor tw = make_tensor(context, dtype, {kWidth}, weight);
        ASSERT_SN_OK(sn_rms_norm(context, tx, tw, 1e-5f, tx));
        sn_test::expect_close(download_f32(tx), rms_reference(x, sn_test::rounded_to(dtype, weight), 1e-5), 1e-6, 2e-6,
                              "rms_norm");
    }
}

TEST(RmsNorm, EpsDominatesAZeroRow) {
    Context context(1);
    Tensor tx = make_f32(context, {1, 4}, {0.0f, 0.0f, 0.0f, 0.0f});
    Tensor tw = make_f32(context, {4}, {1.0f, 1.0f, 1.0f, 1.0f});
    Tensor out(context, SN_DTYPE_F32, {1, 4});
    ASSERT_SN_OK(sn_rms_norm(context, tx, tw, 1e-6f, out));
    EXPECT_EQ(download_f32(out), (std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f}));
}

TEST(LayerNorm, WithAndWithoutBias) {
    Context context(2);
    const std::vector<float> x = sn_test::random_floats(kRows * kWidth, 3, -2.0f, 2.0f);
    const std::vector<float> weight = sn_test::random_floats(kWidth, 4, 0.5f, 1.5f);
    const std::vector<float> bias = sn_test::random_floats(kWidth, 5);
    Tensor tx = make_f32(context, {kRows, kWidth}, x);
    Tensor tw = make_f32(context, {kWidth}, weight);
    Tensor tb = make_tensor(context, SN_DTYPE_F16, {kWidth}, bias);
    Tensor out(context, SN_DTYPE_F32, {kRows, kWidth});
    ASSERT_SN_OK(sn_layer_norm(context, tx, tw, tb, 1e-5f, out));
    const std::vector<float> bias_seen = sn_test::rounded_to(SN_DTYPE_F16, bias);
    sn_test::expect_close(download_f32(out), layer_reference(x, weight, &bias_seen, 1e-5), 1e-6, 2e-6, "layer_norm");
    ASSERT_SN_OK(sn_layer_norm(context, tx, tw, nullptr, 1e-5f, out));
    sn_test::expect_close(download_f32(out), layer_reference(x, weight, nullptr, 1e-5), 1e-6, 2e-6,
                          "layer_norm without bias");
}

TEST(LayerNorm, LargeMeanSmallSpread) {
    Context context(1);
    std::vector<float> x = sn_test::random_floats(kRows * kWidth, 6, -0.01f, 0.01f);
    for (float& value : x) value += 1000.0f;
    const std::vector<float> weight(kWidth, 1.0f);
    Tensor tx = make_f32(context, {kRows, kWidth}, x);
    Tensor tw = make_f32(context, {kWidth}, weight);
    ASSERT_SN_OK(sn_layer_norm(context, tx, tw, nullptr, 1e-5f, tx));
    // x − mean loses the low bits of x itself (ulp(1000) = 6e-5 of a spread of 0.01), so the
    // tolerance is that rounding magnified by 1/std ≈ 170; one-pass float statistics miss by O(1).
    sn_test::expect_close(download_f32(tx), layer_reference(x, weight, nullptr, 1e-5), 2e-2, 0.0, "large mean");
}

TEST(Norm, ArgumentChecks) {
    Context context(1);
    Tensor x = make_f32(context, {2, 4}, std::vector<float>(8, 1.0f));
    Tensor wrong = make_f32(context, {5}, std::vector<float>(5, 1.0f));
    Tensor weight = make_f32(context, {4}, std::vector<float>(4, 1.0f));
    Tensor out(context, SN_DTYPE_F32, {2, 4});
    EXPECT_SN_ERROR(sn_rms_norm(context, x, wrong, 1e-5f, out), SN_ERR_SHAPE_MISMATCH,
                    "weight: expected 1-D [D] = [4]");
    EXPECT_SN_ERROR(sn_layer_norm(context, x, weight, wrong, 1e-5f, out), SN_ERR_SHAPE_MISMATCH, "bias");
    EXPECT_SN_ERROR(sn_rms_norm(context, x, weight, -1.0f, out), SN_ERR_INVALID_ARGUMENT, "eps");
    EXPECT_SN_ERROR(sn_rms_norm(context, x, weight, NAN, out), SN_ERR_INVALID_ARGUMENT, "eps");
}
