// sn_matmul and sn_matmul_add against a double-precision reference: odd shapes (K not a multiple of 8/16, N odd,
// M = 1 and M > 1, sizes that cross the GEMV/GEMM switch and every blocking boundary), every
// weight dtype, optional bias, 1-3 threads, and the argument checks.
#include "test_support.h"

#include <thread>
#include <tuple>

using sn_test::Context;
using sn_test::make_f32;
using sn_test::make_tensor;
using sn_test::Tensor;

namespace {

struct Shape {
    int64_t m, n, k;
};

// out[m][n] = Σ_k x[m][k]·w[n][k] + bias[n] in double, and Σ|x·w| for the tolerance.
void reference_linear(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>* bias,
                      const Shape& s, std::vector<double>* out, std::vector<double>* magnitude) {
    out->assign(static_cast<size_t>(s.m * s.n), 0.0);
    magnitude->assign(out->size(), 0.0);
    for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = 0; j < s.n; ++j) {
            double sum = bias != nullptr ? (*bias)[j] : 0.0;
            double size = bias != nullptr ? std::fabs((*bias)[j]) : 0.0;
            for (int64_t kk = 0; kk < s.k; ++kk) {
                const double product = static_cast<double>(x[i * s.k + kk]) * w[j * s.k + kk];
                sum += product;
                size += std::fabs(product);
            }
            (*out)[i * s.n + j] = sum;
            (*magnitude)[i * s.n + j] = size;
        }
    }
}

// F32 accumulation of K products: error well below 1e-5 of Σ|x·w| for K up to a few thousand;
// a wrong index or a missed block gives errors of order Σ|x·w| itself.
void expect_linear_close(const std::vector<float>& actual, const std::vector<double>& expected,
                         const std::vector<double>& magnitude, const std::string& what) {
    ASSERT_EQ(actual.size(), expected.size());
    size_t failures = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double error = std::fabs(actual[i] - expected[i]);
        if (error > 1e-5 * magnitude[i] + 1e-6) {
            if (failures++ < 5) {
                ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected " << expected[i];
            }
        }
    }
    EXPECT_EQ(failures, 0u) << what;
}

// accumulate: sn_matmul_add onto an out that starts with random values (which the reference adds).
void check_matmul(int32_t threads, const Shape& s, sn_dtype weight_dtype, sn_dtype bias_dtype, bool with_bias,
                  uint32_t seed, bool accumulate = false) {
    Context context(threads);
    const std::vector<float> x = sn_test::random_floats(static_cast<size_t>(s.m * s.k), seed);
    const std::vector<float> w = sn_test::random_floats(static_cast<size_t>(s.n * s.k), seed + 1);
    const std::vector<float> bias = sn_test::random_floats(static_cast<size_t>(s.n), seed + 2);
    Tensor x_tensor = make_f32(context, {s.m, s.k}, x);
    Tensor w_tensor = make_tensor(context, weight_dtype, {s.n, s.k}, w);
    Tensor bias_tensor = with_bias ? make_tensor(context, bias_dtype, {s.n}, bias) : Tensor();
    const std::vector<float> initial = sn_test::random_floats(static_cast<size_t>(s.m * s.n), seed + 3, -4.0f, 4.0f);
    Tensor out = make_f32(context, {s.m, s.n}, initial);
    if (accumulate) {
        ASSERT_SN_OK(sn_matmul_add(context, x_tensor, w_tensor, bias_tensor.get(), out));
    } else {
        ASSERT_SN_OK(sn_matmul(context, x_tensor, w_tensor, bias_tensor.get(), out));
    }

    // The kernel sees the weights and bias as their dtype stores them.
    const std::vector<float> w_seen = sn_test::rounded_to(weight_dtype, w);
    const std::vector<float> bias_seen = sn_test::rounded_to(bias_dtype, bias);
    std::vector<double> expected, magnitude;
    reference_linear(x, w_seen, with_bias ? &bias_seen : nullptr, s, &expected, &magnitude);
    if (accumulate) {
        for (size_t i = 0; i < expected.size(); ++i) {
            expected[i] += initial[i];
            magnitude[i] += std::fabs(initial[i]);
        }
    }
    expect_linear_close(sn_test::download_f32(out), expected, magnitude,
                        std::string(accumulate ? "matmul_add" : "matmul") + " M=" + std::to_string(s.m) + " N=" +
                            std::to_string(s.n) + " K=" + std::to_string(s.k) + " threads=" + std::to_string(threads));
}

void PrintTo(const Shape& s, std::ostream* os) {
    *os << "M=" << s.m << " N=" << s.n << " K=" << s.k;
}

class MatmulShapes : public ::testing::TestWithParam<std::tuple<Shape, int32_t>> {};

std::string shape_name(const ::testing::TestParamInfo<std::tuple<Shape, int32_t>>& info) {
    const Shape& s = std::get<0>(info.param);
    return "M" + std::to_string(s.m) + "_N" + std::to_string(s.n) + "_K" + std::to_string(s.k) + "_threads" +
           std::to_string(std::get<1>(info.param));
}

}  // namespace

TEST_P(MatmulShapes, F32WeightsWithAndWithoutBias) {
    const auto& [shape, threads] = GetParam();
    check_matmul(threads, shape, SN_DTYPE_F32, SN_DTYPE_F32, false, 11);
    check_matmul(threads, shape, SN_DTYPE_F32, SN_DTYPE_F32, true, 12);
}

TEST_P(MatmulShapes, F16WeightsAndBias) {
    const auto& [shape, threads] = GetParam();
    check_matmul(threads, shape, SN_DTYPE_F16, SN_DTYPE_F16, true, 21);
}

TEST_P(MatmulShapes, Bf16WeightsF32Bias) {
    const auto& [shape, threads] = GetParam();
    check_matmul(threads, shape, SN_DTYPE_BF16, SN_DTYPE_F32, true, 31);
}

// The residual form: out += x·Wᵀ (+ bias), the bias added exactly once whatever the K slicing.
TEST_P(MatmulShapes, AddAccumulatesOntoOut) {
    const auto& [shape, threads] = GetParam();
    check_matmul(threads, shape, SN_DTYPE_F16, SN_DTYPE_F32, true, 41, true);
    check_matmul(threads, shape, SN_DTYPE_F32, SN_DTYPE_F32, false, 42, true);
}

// GEMV (M <= 4) and GEMM; K around the 8/16-float vectors and the 256-deep K slices; N around
// the 8/16/32-wide panels, the 256-column tasks and the 4096-column chunks; M around the 6/12-row
// micro-tiles and the 120-row blocks.
INSTANTIATE_TEST_SUITE_P(
    Shapes, MatmulShapes,
    ::testing::Combine(::testing::Values(Shape{1, 1, 1}, Shape{1, 13, 11}, Shape{1, 67, 600}, Shape{3, 17, 29},
                                         Shape{4, 33, 100}, Shape{5, 31, 257}, Shape{13, 65, 129}, Shape{64, 96, 300},
                                         Shape{130, 70, 515}, Shape{121, 257, 16}, Shape{7, 4133, 9}),
                       ::testing::Values(1, 2, 3)),
    shape_name);

TEST(Matmul, LeadingDimensionsAreFlattenedIntoRows) {
    Context context(2);
    const Shape s{6, 5, 7};
    const std::vector<float> x = sn_test::random_floats(42, 5);
    const std::vector<float> w = sn_test::random_floats(35, 6);
    Tensor x_tensor = make_f32(context, {2, 3, 7}, x);
    Tensor w_tensor = make_f32(context, {5, 7}, w);
    Tensor out(context, SN_DTYPE_F32, {2, 3, 5});
    ASSERT_SN_OK(sn_matmul(context, x_tensor, w_tensor, nullptr, out));
    std::vector<double> expected, magnitude;
    reference_linear(x, w, nullptr, s, &expected, &magnitude);
    expect_linear_close(sn_test::download_f32(out), expected, magnitude, "3-D x");
}

TEST(Matmul, ArgumentChecks) {
    Context context(1);
    Tensor x = make_f32(context, {2, 4}, std::vector<float>(8, 1.0f));
    Tensor w = make_f32(context, {3, 4}, std::vector<float>(12, 1.0f));
    Tensor out(context, SN_DTYPE_F32, {2, 3});
    Tensor w_wrong_k = make_f32(context, {3, 5}, std::vector<float>(15, 1.0f));
    EXPECT_SN_ERROR(sn_matmul(context, x, w_wrong_k, nullptr, out), SN_ERR_SHAPE_MISMATCH,
                    "x: last dimension must be K = 5");
    Tensor w_3d = make_f32(context, {1, 3, 4}, std::vector<float>(12, 1.0f));
    EXPECT_SN_ERROR(sn_matmul(context, x, w_3d, nullptr, out), SN_ERR_SHAPE_MISMATCH, "weight: expected 2-D [N, K]");
    Tensor out_wrong(context, SN_DTYPE_F32, {2, 4});
    EXPECT_SN_ERROR(sn_matmul(context, x, w, nullptr, out_wrong), SN_ERR_SHAPE_MISMATCH,
                    "out: expected 2 rows of N = 3");
    Tensor bias_wrong = make_f32(context, {4}, std::vector<float>(4, 1.0f));
    EXPECT_SN_ERROR(sn_matmul(context, x, w, bias_wrong, out), SN_ERR_SHAPE_MISMATCH, "bias: expected 1-D [N] = [3]");
    Tensor w_i32 = sn_test::make_i32(context, {3, 4}, std::vector<int32_t>(12, 1));
    EXPECT_SN_ERROR(sn_matmul(context, x, w_i32, nullptr, out), SN_ERR_DTYPE_MISMATCH, "weight: expected dtype");
    Tensor bias_i32 = sn_test::make_i32(context, {3}, {1, 2, 3});
    EXPECT_SN_ERROR(sn_matmul(context, x, w, bias_i32, out), SN_ERR_DTYPE_MISMATCH, "bias");

    // x and out must not alias: a square product written over its own input.
    Tensor square = make_f32(context, {4, 4}, std::vector<float>(16, 1.0f));
    Tensor square_w = make_f32(context, {4, 4}, std::vector<float>(16, 1.0f));
    EXPECT_SN_ERROR(sn_matmul(context, square, square_w, nullptr, square), SN_ERR_INVALID_ARGUMENT,
                    "out must not alias x");
    // sn_matmul_add shares the checks, named after itself.
    EXPECT_SN_ERROR(sn_matmul_add(context, x, w_wrong_k, nullptr, out), SN_ERR_SHAPE_MISMATCH,
                    "sn_matmul_add: x: last dimension must be K = 5");
    EXPECT_SN_ERROR(sn_matmul_add(context, square, square_w, nullptr, square), SN_ERR_INVALID_ARGUMENT,
                    "out must not alias x");
}

// Hosts call from many threads at once (a .NET thread pool): kernels keep their temporary
// memory per calling thread, so concurrent calls on one context must not interfere.
TEST(Matmul, ConcurrentCallsOnOneContext) {
    Context context(2);
    const Shape s{37, 300, 200};
    constexpr int kCallers = 4;
    std::vector<std::vector<float>> results(kCallers);
    std::vector<std::thread> callers;
    for (int caller = 0; caller < kCallers; ++caller) {
        callers.emplace_back([&, caller] {
            const uint32_t seed = 100 + 10 * static_cast<uint32_t>(caller);
            Tensor x = make_f32(context, {s.m, s.k}, sn_test::random_floats(static_cast<size_t>(s.m * s.k), seed));
            Tensor w = make_tensor(context, SN_DTYPE_F16, {s.n, s.k},
                                   sn_test::random_floats(static_cast<size_t>(s.n * s.k), seed + 1));
            Tensor out(context, SN_DTYPE_F32, {s.m, s.n});
            for (int repeat = 0; repeat < 5; ++repeat) {
                EXPECT_EQ(sn_matmul(context, x, w, nullptr, out), SN_OK) << sn_last_error();
            }
            results[caller] = sn_test::download_f32(out);
        });
    }
    for (std::thread& caller : callers) caller.join();
    for (int caller = 0; caller < kCallers; ++caller) {
        const uint32_t seed = 100 + 10 * static_cast<uint32_t>(caller);
        const std::vector<float> x = sn_test::random_floats(static_cast<size_t>(s.m * s.k), seed);
        const std::vector<float> w =
            sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(static_cast<size_t>(s.n * s.k), seed + 1));
        std::vector<double> expected, magnitude;
        reference_linear(x, w, nullptr, s, &expected, &magnitude);
        expect_linear_close(results[caller], expected, magnitude, "caller " + std::to_string(caller));
    }
}

// ---- sn_matmul_swiglu: silu(g)·u of a stacked gate|up product --------------------------------

namespace {

Tensor rows_view(const Tensor& base, int64_t first_row, int64_t rows, int64_t width) {
    const int64_t dims[] = {rows, width};
    sn_tensor* raw = nullptr;
    EXPECT_EQ(sn_tensor_view(base, first_row * width, dims, 2, &raw), SN_OK) << sn_last_error();
    return Tensor(raw);
}

}  // namespace

// The fused op against the ops it replaces, bit for bit: for one row, sn_matmul of the whole
// stack into [1, 2I] and sn_swiglu of its two column views (the decoder's old decode path); for
// any M, sn_matmul of the gate rows and of the up rows (row views of the stack) and sn_swiglu.
// Also within F32 rounding of a double reference. Shapes cross the GEMV/GEMM switch (M <= 4).
TEST(MatmulSwiglu, EqualsMatmulThenSwigluBitForBit) {
    struct Case {
        int64_t m, intermediate, k;
    };
    const Case cases[] = {{1, 13, 11}, {1, 64, 600}, {3, 33, 100}, {4, 5, 7}, {5, 31, 257}, {37, 70, 129}};
    uint32_t seed = 300;
    for (const Case& c : cases) {
        for (sn_dtype weight_dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
            for (bool with_bias : {false, true}) {
                for (int threads : {1, 3}) {
                    SCOPED_TRACE("M=" + std::to_string(c.m) + " I=" + std::to_string(c.intermediate) + " K=" +
                                 std::to_string(c.k) + " weight dtype " + std::to_string(weight_dtype) +
                                 (with_bias ? " +bias" : "") + " threads " + std::to_string(threads));
                    Context context(threads);
                    const int64_t n = 2 * c.intermediate;
                    const std::vector<float> x = sn_test::random_floats(c.m * c.k, seed);
                    const std::vector<float> w = sn_test::random_floats(n * c.k, seed + 1);
                    const std::vector<float> bias = sn_test::random_floats(n, seed + 2);
                    Tensor tx = make_f32(context, {c.m, c.k}, x);
                    Tensor tw = make_tensor(context, weight_dtype, {n, c.k}, w);
                    Tensor tb = make_tensor(context, weight_dtype, {n}, bias);
                    Tensor out(context, SN_DTYPE_F32, {c.m, c.intermediate});
                    ASSERT_SN_OK(sn_matmul_swiglu(context, tx, tw, with_bias ? tb.get() : nullptr, out));
                    const std::vector<float> fused = sn_test::download_f32(out);

                    Tensor gate(context, SN_DTYPE_F32, {c.m, c.intermediate});
                    Tensor up(context, SN_DTYPE_F32, {c.m, c.intermediate});
                    Tensor w_gate = rows_view(tw, 0, c.intermediate, c.k);
                    Tensor w_up = rows_view(tw, c.intermediate, c.intermediate, c.k);
                    const int64_t bias_dims[] = {c.intermediate};
                    sn_tensor *raw_gate_bias = nullptr, *raw_up_bias = nullptr;
                    ASSERT_SN_OK(sn_tensor_view(tb, 0, bias_dims, 1, &raw_gate_bias));
                    ASSERT_SN_OK(sn_tensor_view(tb, c.intermediate, bias_dims, 1, &raw_up_bias));
                    Tensor gate_bias(raw_gate_bias), up_bias(raw_up_bias);
                    ASSERT_SN_OK(sn_matmul(context, tx, w_gate, with_bias ? gate_bias.get() : nullptr, gate));
                    ASSERT_SN_OK(sn_matmul(context, tx, w_up, with_bias ? up_bias.get() : nullptr, up));
                    Tensor separate(context, SN_DTYPE_F32, {c.m, c.intermediate});
                    ASSERT_SN_OK(sn_swiglu(context, gate, up, separate));
                    EXPECT_EQ(fused, sn_test::download_f32(separate));

                    if (c.m == 1) {
                        Tensor product(context, SN_DTYPE_F32, {1, n});
                        ASSERT_SN_OK(sn_matmul(context, tx, tw, with_bias ? tb.get() : nullptr, product));
                        Tensor g = rows_view(product, 0, 1, c.intermediate);
                        const int64_t dims[] = {1, c.intermediate};
                        sn_tensor* raw_u = nullptr;
                        ASSERT_SN_OK(sn_tensor_view(product, c.intermediate, dims, 2, &raw_u));
                        Tensor u(raw_u);
                        Tensor stacked(context, SN_DTYPE_F32, {1, c.intermediate});
                        ASSERT_SN_OK(sn_swiglu(context, g, u, stacked));
                        EXPECT_EQ(fused, sn_test::download_f32(stacked));
                    }

                    const std::vector<float> w_seen = sn_test::rounded_to(weight_dtype, w);
                    const std::vector<float> bias_seen = sn_test::rounded_to(weight_dtype, bias);
                    std::vector<double> product, magnitude;
                    reference_linear(x, w_seen, with_bias ? &bias_seen : nullptr, Shape{c.m, n, c.k}, &product,
                                     &magnitude);
                    size_t failures = 0;
                    for (int64_t i = 0; i < c.m; ++i) {
                        for (int64_t j = 0; j < c.intermediate; ++j) {
                            const double g = product[i * n + j], u = product[i * n + c.intermediate + j];
                            const double expected = g / (1.0 + std::exp(-g)) * u;
                            // The product's F32 error (1e-5·Σ|x·w|) times |∂/∂g| <= 1.1·|u| and
                            // |∂/∂u| = |silu(g)| <= |g| + 1, and the activation's own F32 rounding.
                            const double bound = 1e-5 * (magnitude[i * n + j] * 1.1 * std::fabs(u) +
                                                         magnitude[i * n + c.intermediate + j] * (std::fabs(g) + 1.0)) +
                                                 1e-6 * std::fabs(expected) + 1e-6;
                            if (std::fabs(fused[i * c.intermediate + j] - expected) > bound && failures++ < 5) {
                                ADD_FAILURE() << "[" << i << ", " << j << "] is " << fused[i * c.intermediate + j]
                                              << ", expected " << expected;
                            }
                        }
                    }
                    EXPECT_EQ(failures, 0u);
                    seed += 3;
                }
            }
        }
    }
}

TEST(MatmulSwiglu, ArgumentChecks) {
    Context context(1);
    Tensor x = make_f32(context, {2, 4}, std::vector<float>(8, 1.0f));
    Tensor w = make_f32(context, {6, 4}, std::vector<float>(24, 1.0f));
    Tensor out(context, SN_DTYPE_F32, {2, 3});
    ASSERT_SN_OK(sn_matmul_swiglu(context, x, w, nullptr, out));
    Tensor w_odd = make_f32(context, {5, 4}, std::vector<float>(20, 1.0f));
    EXPECT_SN_ERROR(sn_matmul_swiglu(context, x, w_odd, nullptr, out), SN_ERR_SHAPE_MISMATCH,
                    "weight: expected [2I, K] (gate rows stacked over up rows), an even number of rows, got [5, 4]");
    Tensor out_full(context, SN_DTYPE_F32, {2, 6});
    EXPECT_SN_ERROR(sn_matmul_swiglu(context, x, w, nullptr, out_full), SN_ERR_SHAPE_MISMATCH,
                    "out: expected 2 rows of I = 3");
    Tensor bias_half = make_f32(context, {3}, std::vector<float>(3, 1.0f));
    EXPECT_SN_ERROR(sn_matmul_swiglu(context, x, w, bias_half, out), SN_ERR_SHAPE_MISMATCH,
                    "bias: expected 1-D [N] = [6]");
    Tensor w_wrong_k = make_f32(context, {6, 5}, std::vector<float>(30, 1.0f));
    EXPECT_SN_ERROR(sn_matmul_swiglu(context, x, w_wrong_k, nullptr, out), SN_ERR_SHAPE_MISMATCH,
                    "sn_matmul_swiglu: x: last dimension must be K = 5");
    // out may not alias x: [2, 4] · [8, 4]ᵀ → [2, 4] written over x.
    Tensor w_square = make_f32(context, {8, 4}, std::vector<float>(32, 1.0f));
    EXPECT_SN_ERROR(sn_matmul_swiglu(context, x, w_square, nullptr, x), SN_ERR_INVALID_ARGUMENT,
                    "out must not alias x");
}
