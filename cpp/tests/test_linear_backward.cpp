// Gradients of a linear layer: sn_matmul_backward_input against central finite differences of
// sn_matmul composed with a random linear functional, and sn_fisher_accumulate against an explicit
// double-precision G = dyᵀ·x, fisher += G². Shapes cross the panel product's tile edges (120 rows,
// 128 columns, 256-deep slices).
#include "test_support.h"

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_tensor;
using sn_test::Tensor;

namespace {

// dx = dy · W exactly, checked against the finite differences of L(x) = Σ r ⊙ (x · Wᵀ) in double
// (L is linear in x, so the central difference is exact up to rounding).
void check_input_gradient(int64_t m, int64_t n, int64_t k, sn_dtype weight_dtype, bool accumulate, uint32_t seed) {
    SCOPED_TRACE("M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k) + " weight dtype " +
                 std::to_string(weight_dtype) + (accumulate ? " accumulate" : ""));
    Context context(2);
    const std::vector<float> weight = sn_test::random_floats(n * k, seed);
    const std::vector<float> r = sn_test::random_floats(m * n, seed + 1);
    const std::vector<float> x = sn_test::random_floats(m * k, seed + 2);
    const std::vector<float> initial = sn_test::random_floats(m * k, seed + 3);
    const std::vector<float> w = sn_test::rounded_to(weight_dtype, weight);

    // The forward this is the gradient of: sn_matmul agrees with the double product used below.
    Tensor tx = make_f32(context, {m, k}, x);
    Tensor tw = make_tensor(context, weight_dtype, {n, k}, weight);
    Tensor ty(context, SN_DTYPE_F32, {m, n});
    ASSERT_SN_OK(sn_matmul(context, tx, tw, nullptr, ty));
    // The part of L that depends on row i of x (the rest is constant under its perturbation).
    auto row_loss = [&](int64_t i, const std::vector<double>& row) {
        double total = 0.0;
        for (int64_t j = 0; j < n; ++j) {
            double y = 0.0;
            for (int64_t c = 0; c < k; ++c) y += row[c] * w[j * k + c];
            total += r[i * n + j] * y;
        }
        return total;
    };
    std::vector<double> forward(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            double y = 0.0;
            for (int64_t c = 0; c < k; ++c) y += static_cast<double>(x[i * k + c]) * w[j * k + c];
            forward[i * n + j] = y;
        }
    }
    sn_test::expect_close(download_f32(ty), forward, 1e-5, 1e-5, "sn_matmul forward");

    // Finite differences on a sample of inputs (every one for small shapes).
    std::vector<double> expected(static_cast<size_t>(m * k));
    const int64_t stride = m * k > 400 ? 37 : 1;
    std::vector<size_t> sampled;
    for (int64_t index = 0; index < m * k; index += stride) {
        const int64_t i = index / k;
        std::vector<double> row(x.begin() + i * k, x.begin() + (i + 1) * k);
        const double h = 1e-3;
        row[index % k] += h;
        const double plus = row_loss(i, row);
        row[index % k] -= 2 * h;
        const double minus = row_loss(i, row);
        expected[index] = (plus - minus) / (2 * h) + (accumulate ? initial[index] : 0.0);
        sampled.push_back(static_cast<size_t>(index));
    }
    Tensor tr = make_f32(context, {m, n}, r);
    Tensor dx = make_f32(context, {m, k}, initial);
    ASSERT_SN_OK(sn_matmul_backward_input(context, tr, tw, accumulate ? 1 : 0, dx));
    const std::vector<float> actual = download_f32(dx);
    std::vector<float> actual_sampled;
    std::vector<double> expected_sampled;
    for (size_t index : sampled) {
        actual_sampled.push_back(actual[index]);
        expected_sampled.push_back(expected[index]);
    }
    sn_test::expect_close(actual_sampled, expected_sampled, 1e-6 * static_cast<double>(n) + 1e-5, 1e-5, "dx");
}

std::vector<double> fisher_reference(const std::vector<float>& dy, const std::vector<float>& x,
                                     const std::vector<float>& initial, int64_t t, int64_t n, int64_t k) {
    std::vector<double> fisher(initial.begin(), initial.end());
    for (int64_t row = 0; row < n; ++row) {
        for (int64_t column = 0; column < k; ++column) {
            double g = 0.0;
            for (int64_t token = 0; token < t; ++token) {
                g += static_cast<double>(dy[token * n + row]) * x[token * k + column];
            }
            fisher[row * k + column] += g * g;
        }
    }
    return fisher;
}

void check_fisher(int64_t t, int64_t n, int64_t k, int32_t threads, uint32_t seed) {
    SCOPED_TRACE("T=" + std::to_string(t) + " N=" + std::to_string(n) + " K=" + std::to_string(k) +
                 " threads=" + std::to_string(threads));
    Context context(threads);
    const std::vector<float> dy = sn_test::random_floats(t * n, seed);
    const std::vector<float> x = sn_test::random_floats(t * k, seed + 1);
    const std::vector<float> initial = sn_test::random_floats(n * k, seed + 2, 0.0f, 3.0f);
    Tensor tdy = make_f32(context, {t, n}, dy);
    Tensor tx = make_f32(context, {t, k}, x);
    Tensor fisher = make_f32(context, {n, k}, initial);
    ASSERT_SN_OK(sn_fisher_accumulate(context, tdy, tx, fisher));
    // G sums T products of magnitude <= 1; its square doubles the relative error.
    sn_test::expect_close(download_f32(fisher), fisher_reference(dy, x, initial, t, n, k), 1e-5, 2e-5, "fisher");
}

}  // namespace

TEST(MatmulBackwardInput, MatchesFiniteDifferences) {
    check_input_gradient(1, 5, 7, SN_DTYPE_F32, false, 10);
    check_input_gradient(7, 13, 33, SN_DTYPE_F16, false, 20);
    check_input_gradient(7, 13, 33, SN_DTYPE_BF16, true, 30);
    check_input_gradient(130, 260, 131, SN_DTYPE_F32, true, 40);
    check_input_gradient(3, 300, 200, SN_DTYPE_F16, false, 50);
}

TEST(FisherAccumulate, MatchesExplicitReference) {
    check_fisher(1, 5, 7, 1, 1);
    check_fisher(3, 133, 141, 2, 2);
    check_fisher(300, 133, 141, 2, 3);  // two 256-deep slices: G is squared only when complete
    check_fisher(17, 250, 260, 3, 4);
}

// Two calls add two squared gradients: fisher = G₁² + G₂² from zero.
TEST(FisherAccumulate, AccumulatesOverSamples) {
    Context context(2);
    Tensor fisher(context, SN_DTYPE_F32, {2, 3});
    Tensor dy1 = make_f32(context, {1, 2}, {1.0f, 2.0f});
    Tensor x1 = make_f32(context, {1, 3}, {1.0f, -1.0f, 3.0f});
    Tensor dy2 = make_f32(context, {2, 2}, {1.0f, 0.0f, 0.0f, 1.0f});
    Tensor x2 = make_f32(context, {2, 3}, {2.0f, 0.0f, 1.0f, 0.0f, 1.0f, 1.0f});
    ASSERT_SN_OK(sn_fisher_accumulate(context, dy1, x1, fisher));
    ASSERT_SN_OK(sn_fisher_accumulate(context, dy2, x2, fisher));
    // G1 = [[1, -1, 3], [2, -2, 6]]; G2 = [[2, 0, 1], [0, 1, 1]].
    EXPECT_EQ(download_f32(fisher), (std::vector<float>{5.0f, 1.0f, 10.0f, 4.0f, 5.0f, 37.0f}));
}

TEST(LinearBackward, RejectsBadArguments) {
    Context context(1);
    Tensor dy(context, SN_DTYPE_F32, {4, 3});
    Tensor w(context, SN_DTYPE_F16, {3, 5});
    Tensor dx(context, SN_DTYPE_F32, {4, 5});
    ASSERT_SN_OK(sn_matmul_backward_input(context, dy, w, 0, dx));
    Tensor w_wrong(context, SN_DTYPE_F32, {4, 5});
    EXPECT_SN_ERROR(sn_matmul_backward_input(context, dy, w_wrong, 0, dx), SN_ERR_SHAPE_MISMATCH, "dy");
    Tensor dx_wrong(context, SN_DTYPE_F32, {4, 6});
    EXPECT_SN_ERROR(sn_matmul_backward_input(context, dy, w, 0, dx_wrong), SN_ERR_SHAPE_MISMATCH, "dx");
    EXPECT_SN_ERROR(sn_matmul_backward_input(context, dy, nullptr, 0, dx), SN_ERR_NULL_ARGUMENT, "weight");
    Tensor dy_f16(context, SN_DTYPE_F16, {4, 3});
    Tensor dx_f16(context, SN_DTYPE_F16, {4, 5});
    EXPECT_SN_ERROR(sn_matmul_backward_input(context, dy_f16, w, 0, dx_f16), SN_ERR_UNSUPPORTED, "CPU");

    Tensor x(context, SN_DTYPE_F32, {4, 5});
    Tensor fisher(context, SN_DTYPE_F32, {3, 5});
    ASSERT_SN_OK(sn_fisher_accumulate(context, dy, x, fisher));
    Tensor fisher_f16(context, SN_DTYPE_F16, {3, 5});
    EXPECT_SN_ERROR(sn_fisher_accumulate(context, dy, x, fisher_f16), SN_ERR_DTYPE_MISMATCH, "fisher");
    Tensor x_short(context, SN_DTYPE_F32, {3, 5});
    EXPECT_SN_ERROR(sn_fisher_accumulate(context, dy, x_short, fisher), SN_ERR_SHAPE_MISMATCH, "rows");
    Tensor fisher_wrong(context, SN_DTYPE_F32, {5, 3});
    EXPECT_SN_ERROR(sn_fisher_accumulate(context, dy, x, fisher_wrong), SN_ERR_SHAPE_MISMATCH, "dy");
    EXPECT_SN_ERROR(sn_fisher_accumulate(context, dy, x, x), SN_ERR_SHAPE_MISMATCH, "fisher");
}
