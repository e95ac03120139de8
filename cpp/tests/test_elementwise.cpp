// add, mul, silu, relu, gelu, swiglu and softmax against double-precision references, including
// in-place use, row broadcasting and lengths that leave vector tails.
#include "test_support.h"

#include <functional>
#include <limits>

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::Tensor;

namespace {

std::vector<double> map_values(const std::vector<float>& x, const std::function<double(double)>& f) {
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = f(x[i]);
    return out;
}

double silu_reference(double x) {
    return x / (1.0 + std::exp(-x));
}

// 3×37: 37 leaves a tail after 32/16/8/4-wide vectors; values span [-12, 12] so exp matters.
const std::vector<int64_t> kShape = {3, 37};
constexpr size_t kCount = 3 * 37;

}  // namespace

TEST(Elementwise, AddAndMulSameShape) {
    Context context(2);
    const std::vector<float> a = sn_test::random_floats(kCount, 1, -4.0f, 4.0f);
    const std::vector<float> b = sn_test::random_floats(kCount, 2, -4.0f, 4.0f);
    Tensor ta = make_f32(context, kShape, a);
    Tensor tb = make_f32(context, kShape, b);
    Tensor out(context, SN_DTYPE_F32, kShape);
    std::vector<double> sum(kCount), product(kCount);
    for (size_t i = 0; i < kCount; ++i) {
        sum[i] = static_cast<double>(a[i]) + b[i];
        product[i] = static_cast<double>(a[i]) * b[i];
    }
    ASSERT_SN_OK(sn_add(context, ta, tb, out));
    sn_test::expect_close(download_f32(out), sum, 0.0, 1e-7, "add");
    ASSERT_SN_OK(sn_mul(context, ta, tb, out));
    sn_test::expect_close(download_f32(out), product, 0.0, 1e-7, "mul");
}

TEST(Elementwise, RowBroadcastInPlace) {
    Context context(2);
    const std::vector<float> a = sn_test::random_floats(kCount, 3);
    const std::vector<float> bias = sn_test::random_floats(37, 4);
    Tensor ta = make_f32(context, kShape, a);
    Tensor tb = make_f32(context, {37}, bias);
    ASSERT_SN_OK(sn_add(context, ta, tb, ta));  // out aliases a: the residual/bias case
    std::vector<double> expected(kCount);
    for (size_t i = 0; i < kCount; ++i) expected[i] = static_cast<double>(a[i]) + bias[i % 37];
    sn_test::expect_close(download_f32(ta), expected, 0.0, 1e-7, "add broadcast in place");
    ASSERT_SN_OK(sn_mul(context, ta, tb, ta));
    for (size_t i = 0; i < kCount; ++i)
        expected[i] = static_cast<float>(expected[i]) * static_cast<double>(bias[i % 37]);
    sn_test::expect_close(download_f32(ta), expected, 0.0, 1e-7, "mul broadcast in place");
}

TEST(Elementwise, BinaryShapeAndAliasChecks) {
    Context context(1);
    Tensor a = make_f32(context, {2, 4}, std::vector<float>(8, 1.0f));
    Tensor wrong = make_f32(context, {3}, std::vector<float>(3, 1.0f));
    Tensor out(context, SN_DTYPE_F32, {2, 4});
    EXPECT_SN_ERROR(sn_add(context, a, wrong, out), SN_ERR_SHAPE_MISMATCH, "b: expected a's shape [2, 4] or [4]");
    Tensor base = make_f32(context, {12}, std::vector<float>(12, 1.0f));
    const int64_t dims[] = {2, 4};
    sn_tensor* first = nullptr;
    sn_tensor* shifted = nullptr;
    ASSERT_SN_OK(sn_tensor_view(base, 0, dims, 2, &first));
    ASSERT_SN_OK(sn_tensor_view(base, 2, dims, 2, &shifted));
    Tensor first_view(first), shifted_view(shifted);
    EXPECT_SN_ERROR(sn_add(context, first_view, a, shifted_view), SN_ERR_INVALID_ARGUMENT, "out partially overlaps a");
}

TEST(Activation, SiluMatchesReferenceOverWideRange) {
    Context context(2);
    std::vector<float> x = sn_test::random_floats(kCount, 5, -12.0f, 12.0f);
    x[0] = -100.0f;  // e^100 overflows: silu → -0
    x[1] = 100.0f;
    x[2] = 0.0f;
    Tensor tx = make_f32(context, kShape, x);
    Tensor out(context, SN_DTYPE_F32, kShape);
    ASSERT_SN_OK(sn_silu(context, tx, out));
    sn_test::expect_close(download_f32(out), map_values(x, silu_reference), 1e-30, 2e-6, "silu");
    ASSERT_SN_OK(sn_silu(context, tx, tx));  // in place
    sn_test::expect_close(download_f32(tx), map_values(x, silu_reference), 1e-30, 2e-6, "silu in place");
}

TEST(Activation, Relu) {
    Context context(2);
    const std::vector<float> x = sn_test::random_floats(kCount, 6, -3.0f, 3.0f);
    Tensor tx = make_f32(context, kShape, x);
    Tensor out(context, SN_DTYPE_F32, kShape);
    ASSERT_SN_OK(sn_relu(context, tx, out));
    sn_test::expect_close(download_f32(out), map_values(x, [](double v) { return v > 0 ? v : 0.0; }), 0.0, 0.0, "relu");
}

TEST(Activation, GeluExactAndTanh) {
    Context context(2);
    const std::vector<float> x = sn_test::random_floats(kCount, 7, -6.0f, 6.0f);
    Tensor tx = make_f32(context, kShape, x);
    Tensor out(context, SN_DTYPE_F32, kShape);
    ASSERT_SN_OK(sn_gelu(context, tx, 0, out));
    const std::vector<float> exact = download_f32(out);
    sn_test::expect_close(exact, map_values(x, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }),
                          1e-7, 1e-6, "gelu erf");
    ASSERT_SN_OK(sn_gelu(context, tx, 1, out));
    const std::vector<float> approximate = download_f32(out);
    const double c = std::sqrt(2.0 / M_PI);
    sn_test::expect_close(
        approximate,
        map_values(x, [c](double v) { return 0.5 * v * (1.0 + std::tanh(c * (v + 0.044715 * v * v * v))); }), 1e-7,
        1e-6, "gelu tanh");
    // The two forms differ by up to ~5e-4 (near |x| = 2), far above the tolerance: the flag is honoured.
    double largest_difference = 0.0;
    for (size_t i = 0; i < kCount; ++i)
        largest_difference = std::max(largest_difference, std::fabs(double(exact[i]) - approximate[i]));
    EXPECT_GT(largest_difference, 1e-4);
    EXPECT_SN_ERROR(sn_gelu(context, tx, 2, out), SN_ERR_INVALID_ARGUMENT, "approximate");
}

TEST(Activation, SwigluInPlaceOnGate) {
    Context context(2);
    const std::vector<float> gate = sn_test::random_floats(kCount, 8, -8.0f, 8.0f);
    const std::vector<float> up = sn_test::random_floats(kCount, 9, -2.0f, 2.0f);
    Tensor tgate = make_f32(context, kShape, gate);
    Tensor tup = make_f32(context, kShape, up);
    ASSERT_SN_OK(sn_swiglu(context, tgate, tup, tgate));
    std::vector<double> expected(kCount);
    for (size_t i = 0; i < kCount; ++i) expected[i] = silu_reference(gate[i]) * up[i];
    sn_test::expect_close(download_f32(tgate), expected, 1e-30, 2e-6, "swiglu");
    Tensor wrong(context, SN_DTYPE_F32, {37, 3});
    EXPECT_SN_ERROR(sn_swiglu(context, tup, wrong, tup), SN_ERR_SHAPE_MISMATCH, "up has shape [37, 3]");
}

TEST(Softmax, RowsSumToOneAndMatchReference) {
    Context context(2);
    std::vector<float> x = sn_test::random_floats(kCount, 10, -20.0f, 20.0f);
    for (size_t i = 37; i < 74; ++i) x[i] += 1000.0f;  // needs the max subtraction
    x[80] = -std::numeric_limits<float>::infinity();   // a masked entry
    Tensor tx = make_f32(context, kShape, x);
    Tensor out(context, SN_DTYPE_F32, kShape);
    ASSERT_SN_OK(sn_softmax(context, tx, out));
    std::vector<double> expected(kCount);
    for (size_t row = 0; row < 3; ++row) {
        double maximum = -INFINITY;
        for (size_t i = 0; i < 37; ++i) maximum = std::max(maximum, static_cast<double>(x[row * 37 + i]));
        double sum = 0.0;
        for (size_t i = 0; i < 37; ++i) sum += std::exp(x[row * 37 + i] - maximum);
        for (size_t i = 0; i < 37; ++i) expected[row * 37 + i] = std::exp(x[row * 37 + i] - maximum) / sum;
    }
    const std::vector<float> actual = download_f32(out);
    sn_test::expect_close(actual, expected, 1e-9, 2e-6, "softmax");
    EXPECT_EQ(actual[80], 0.0f);
    ASSERT_SN_OK(sn_softmax(context, tx, tx));  // in place
    sn_test::expect_close(download_f32(tx), expected, 1e-9, 2e-6, "softmax in place");
}

TEST(Softmax, LongRowUsesEveryThread) {
    Context context(3);
    const std::vector<float> x = sn_test::random_floats(5 * 50021, 11, -30.0f, 30.0f);
    Tensor tx = make_f32(context, {5, 50021}, x);
    Tensor out(context, SN_DTYPE_F32, {5, 50021});
    ASSERT_SN_OK(sn_softmax(context, tx, out));
    const std::vector<float> actual = download_f32(out);
    for (int row = 0; row < 5; ++row) {
        double sum = 0.0;
        for (int i = 0; i < 50021; ++i) sum += actual[row * 50021 + i];
        EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << row;
    }
}
