// Backward ops of the pointwise, normalisation, rotary and loss layers against central finite
// differences, in double, of the corresponding forward composed with a random linear functional
// L = Σ r ⊙ forward(x): the op's output for dy = r must be ∂L/∂x. Each test first checks that its
// double forward is the library's forward (sn_rms_norm, sn_rope, ...), so the gradient is the
// gradient of what the library computes.
#include "test_support.h"

#include <functional>

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_i32;
using sn_test::make_tensor;
using sn_test::Tensor;

namespace {

using Loss = std::function<double(const std::vector<double>&)>;

std::vector<double> to_double(const std::vector<float>& values) {
    return std::vector<double>(values.begin(), values.end());
}

// Central differences of `loss` at `point`, every coordinate.
std::vector<double> numeric_gradient(const Loss& loss, std::vector<double> point, double step) {
    std::vector<double> gradient(point.size());
    for (size_t i = 0; i < point.size(); ++i) {
        const double saved = point[i];
        point[i] = saved + step;
        const double plus = loss(point);
        point[i] = saved - step;
        const double minus = loss(point);
        point[i] = saved;
        gradient[i] = (plus - minus) / (2.0 * step);
    }
    return gradient;
}

double dot(const std::vector<float>& r, const std::vector<double>& values) {
    double total = 0.0;
    for (size_t i = 0; i < values.size(); ++i) total += r[i] * values[i];
    return total;
}

// ---- norms ---------------------------------------------------------------------------------------

constexpr int64_t kRows = 5;
constexpr int64_t kWidth = 77;  // not a multiple of any vector width

std::vector<double> rms_forward(const std::vector<double>& x, const std::vector<float>& weight, double eps) {
    std::vector<double> out(x.size());
    for (int64_t row = 0; row < kRows; ++row) {
        double squares = 0.0;
        for (int64_t i = 0; i < kWidth; ++i) squares += x[row * kWidth + i] * x[row * kWidth + i];
        const double inverse = 1.0 / std::sqrt(squares / kWidth + eps);
        for (int64_t i = 0; i < kWidth; ++i) out[row * kWidth + i] = x[row * kWidth + i] * inverse * weight[i];
    }
    return out;
}

std::vector<double> layer_forward(const std::vector<double>& x, const std::vector<float>& weight, double eps) {
    std::vector<double> out(x.size());
    for (int64_t row = 0; row < kRows; ++row) {
        double mean = 0.0;
        for (int64_t i = 0; i < kWidth; ++i) mean += x[row * kWidth + i];
        mean /= kWidth;
        double variance = 0.0;
        for (int64_t i = 0; i < kWidth; ++i) variance += (x[row * kWidth + i] - mean) * (x[row * kWidth + i] - mean);
        const double inverse = 1.0 / std::sqrt(variance / kWidth + eps);
        for (int64_t i = 0; i < kWidth; ++i) out[row * kWidth + i] = (x[row * kWidth + i] - mean) * inverse * weight[i];
    }
    return out;
}

using NormForward = std::vector<double> (*)(const std::vector<double>&, const std::vector<float>&, double);
using NormOp = sn_status (*)(sn_context*, const sn_tensor*, const sn_tensor*, const sn_tensor*, float, sn_tensor*);
using NormBackwardOp = sn_status (*)(sn_context*, const sn_tensor*, const sn_tensor*, float, const sn_tensor*,
                                     sn_tensor*);

sn_status rms_norm_op(sn_context* context, const sn_tensor* x, const sn_tensor* weight, const sn_tensor*, float eps,
                      sn_tensor* out) {
    return sn_rms_norm(context, x, weight, eps, out);
}

void check_norm(NormForward forward, NormOp forward_op, NormBackwardOp backward_op, sn_dtype weight_dtype, float offset,
                uint32_t seed) {
    SCOPED_TRACE("weight dtype " + std::to_string(weight_dtype) + ", x offset " + std::to_string(offset));
    Context context(2);
    const float eps = 1e-5f;
    std::vector<float> x = sn_test::random_floats(kRows * kWidth, seed, -3.0f, 3.0f);
    for (float& value : x) value += offset;
    const std::vector<float> weight_values = sn_test::random_floats(kWidth, seed + 1, 0.5f, 1.5f);
    const std::vector<float> weight = sn_test::rounded_to(weight_dtype, weight_values);
    const std::vector<float> r = sn_test::random_floats(kRows * kWidth, seed + 2);

    Tensor tx = make_f32(context, {kRows, kWidth}, x);
    Tensor tw = make_tensor(context, weight_dtype, {kWidth}, weight_values);
    Tensor out(context, SN_DTYPE_F32, {kRows, kWidth});
    ASSERT_SN_OK(forward_op(context, tx, tw, nullptr, eps, out));
    sn_test::expect_close(download_f32(out), forward(to_double(x), weight, eps), 1e-5, 1e-5, "forward");

    const Loss loss = [&](const std::vector<double>& point) { return dot(r, forward(point, weight, eps)); };
    const std::vector<double> expected = numeric_gradient(loss, to_double(x), 1e-4);
    Tensor tr = make_f32(context, {kRows, kWidth}, r);
    Tensor dx(context, SN_DTYPE_F32, {kRows, kWidth});
    ASSERT_SN_OK(backward_op(context, tx, tw, eps, tr, dx));
    sn_test::expect_close(download_f32(dx), expected, 2e-5, 2e-4, "dx");
}

// ---- activations --------------------------------------------------------------------------------

double activation_value(sn_activation activation, double x) {
    switch (activation) {
        case SN_ACTIVATION_RELU:
            return x > 0.0 ? x : 0.0;
        case SN_ACTIVATION_SILU:
            return x / (1.0 + std::exp(-x));
        case SN_ACTIVATION_GELU:
            return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
        case SN_ACTIVATION_GELU_TANH:
            return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    }
    return 0.0;
}

sn_status activation_forward(sn_context* context, sn_activation activation, const sn_tensor* x, sn_tensor* out) {
    switch (activation) {
        case SN_ACTIVATION_RELU:
            return sn_relu(context, x, out);
        case SN_ACTIVATION_SILU:
            return sn_silu(context, x, out);
        case SN_ACTIVATION_GELU:
            return sn_gelu(context, x, 0, out);
        case SN_ACTIVATION_GELU_TANH:
            return sn_gelu(context, x, 1, out);
    }
    return SN_ERR_INTERNAL;
}

// ---- rope ---------------------------------------------------------------------------------------

// The rotation rope applies, with the angles computed in the same F32 steps as the library (HF's).
std::vector<double> rope_forward(const std::vector<double>& x, const std::vector<int32_t>& positions, int64_t heads,
                                 int64_t head_dim, float theta) {
    std::vector<double> out(x.size());
    const int64_t half = head_dim / 2;
    for (size_t t = 0; t < positions.size(); ++t) {
        for (int64_t h = 0; h < heads; ++h) {
            const double* in = x.data() + (t * heads + h) * head_dim;
            double* result = out.data() + (t * heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
                const float inv_freq = 1.0f / static_cast<float>(std::pow(static_cast<double>(theta), exponent));
                const float angle = static_cast<float>(positions[t]) * inv_freq;
                const double c = std::cos(static_cast<double>(angle));
                const double s = std::sin(static_cast<double>(angle));
                result[i] = in[i] * c - in[i + half] * s;
                result[i + half] = in[i + half] * c + in[i] * s;
            }
        }
    }
    return out;
}

// ---- cross-entropy ------------------------------------------------------------------------------

double mean_cross_entropy(const std::vector<double>& logits, const std::vector<int32_t>& targets, int64_t vocab,
                          double scale) {
    double total = 0.0;
    for (size_t t = 0; t < targets.size(); ++t) {
        const double* row = logits.data() + t * vocab;
        double maximum = row[0];
        for (int64_t i = 1; i < vocab; ++i) maximum = std::max(maximum, row[i]);
        double sum = 0.0;
        for (int64_t i = 0; i < vocab; ++i) sum += std::exp(row[i] - maximum);
        total += maximum + std::log(sum) - row[targets[t]];
    }
    return scale * total;
}

}  // namespace

TEST(NormBackward, RmsNormMatchesFiniteDifferences) {
    for (sn_dtype dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
        check_norm(rms_forward, rms_norm_op, sn_rms_norm_backward, dtype, 0.0f, 1);
    }
}

TEST(NormBackward, LayerNormMatchesFiniteDifferences) {
    for (sn_dtype dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
        check_norm(layer_forward, sn_layer_norm, sn_layer_norm_backward, dtype, 0.0f, 2);
    }
    // Rows whose mean is large against their spread: the centring must not lose the gradient.
    check_norm(layer_forward, sn_layer_norm, sn_layer_norm_backward, SN_DTYPE_F32, 100.0f, 3);
}

TEST(NormBackward, RejectsBadArguments) {
    Context context(1);
    Tensor x(context, SN_DTYPE_F32, {2, 4});
    Tensor w(context, SN_DTYPE_F32, {4});
    Tensor dx(context, SN_DTYPE_F32, {2, 4});
    Tensor w_wrong(context, SN_DTYPE_F32, {3});
    EXPECT_SN_ERROR(sn_rms_norm_backward(context, x, w_wrong, 1e-5f, x, dx), SN_ERR_SHAPE_MISMATCH, "weight");
    Tensor dy_wrong(context, SN_DTYPE_F32, {4, 2});
    EXPECT_SN_ERROR(sn_layer_norm_backward(context, x, w, 1e-5f, dy_wrong, dx), SN_ERR_SHAPE_MISMATCH, "dy");
    EXPECT_SN_ERROR(sn_rms_norm_backward(context, x, w, -1.0f, x, dx), SN_ERR_INVALID_ARGUMENT, "eps");
    Tensor dy(context, SN_DTYPE_F32, {2, 4});
    EXPECT_SN_ERROR(sn_rms_norm_backward(context, x, w, 1e-5f, dy, dy), SN_ERR_INVALID_ARGUMENT,
                    "dx must not alias dy");
    EXPECT_SN_ERROR(sn_layer_norm_backward(context, x, w, 1e-5f, dy, x), SN_ERR_INVALID_ARGUMENT,
                    "dx must not alias x");
}

TEST(ActivationBackward, EveryActivationMatchesFiniteDifferences) {
    Context context(2);
    const int64_t count = 1000;
    std::vector<float> x = sn_test::random_floats(count, 11, -6.0f, 6.0f);
    for (float& value : x) {
        if (std::fabs(value) < 1e-3f) value = 0.5f;  // relu's kink: the difference quotient is not its derivative
    }
    const std::vector<float> r = sn_test::random_floats(count, 12);
    Tensor tx = make_f32(context, {count}, x);
    Tensor tr = make_f32(context, {count}, r);
    for (sn_activation activation :
         {SN_ACTIVATION_RELU, SN_ACTIVATION_SILU, SN_ACTIVATION_GELU, SN_ACTIVATION_GELU_TANH}) {
        SCOPED_TRACE("activation " + std::to_string(activation));
        Tensor out(context, SN_DTYPE_F32, {count});
        ASSERT_SN_OK(activation_forward(context, activation, tx, out));
        std::vector<double> forward(count), expected(count);
        for (int64_t i = 0; i < count; ++i) {
            forward[i] = activation_value(activation, x[i]);
            // Elementwise: ∂L/∂x_i = r_i · f'(x_i).
            const double h = 1e-5;
            expected[i] =
                r[i] * (activation_value(activation, x[i] + h) - activation_value(activation, x[i] - h)) / (2.0 * h);
        }
        sn_test::expect_close(download_f32(out), forward, 1e-6, 1e-5, "forward");
        Tensor dx(context, SN_DTYPE_F32, {count});
        ASSERT_SN_OK(sn_activation_backward(context, activation, tx, tr, dx));
        sn_test::expect_close(download_f32(dx), expected, 1e-6, 1e-5, "dx");
        // In place over dy.
        Tensor dy = make_f32(context, {count}, r);
        ASSERT_SN_OK(sn_activation_backward(context, activation, tx, dy, dy));
        sn_test::expect_close(download_f32(dy), expected, 1e-6, 1e-5, "dx in place");
    }
}

TEST(ActivationBackward, ReluAtZeroIsZeroAsTorch) {
    Context context(1);
    Tensor x = make_f32(context, {3}, {0.0f, -0.0f, 1e-30f});
    Tensor dy = make_f32(context, {3}, {5.0f, 5.0f, 5.0f});
    Tensor dx(context, SN_DTYPE_F32, {3});
    ASSERT_SN_OK(sn_activation_backward(context, SN_ACTIVATION_RELU, x, dy, dx));
    EXPECT_EQ(download_f32(dx), (std::vector<float>{0.0f, 0.0f, 5.0f}));
}

TEST(ActivationBackward, RejectsBadArguments) {
    Context context(1);
    Tensor x(context, SN_DTYPE_F32, {4});
    Tensor dy(context, SN_DTYPE_F32, {4});
    Tensor dx(context, SN_DTYPE_F32, {4});
    EXPECT_SN_ERROR(sn_activation_backward(context, static_cast<sn_activation>(7), x, dy, dx), SN_ERR_INVALID_ARGUMENT,
                    "activation");
    EXPECT_SN_ERROR(sn_activation_backward(context, SN_ACTIVATION_SILU, x, dy, x), SN_ERR_INVALID_ARGUMENT,
                    "dx must not alias x");
    Tensor dx_short(context, SN_DTYPE_F32, {3});
    EXPECT_SN_ERROR(sn_activation_backward(context, SN_ACTIVATION_SILU, x, dy, dx_short), SN_ERR_SHAPE_MISMATCH, "dx");
}

TEST(SwigluBackward, MatchesFiniteDifferences) {
    Context context(2);
    const int64_t rows = 3, width = 45;
    const std::vector<float> gate = sn_test::random_floats(rows * width, 21, -5.0f, 5.0f);
    const std::vector<float> up = sn_test::random_floats(rows * width, 22, -2.0f, 2.0f);
    const std::vector<float> r = sn_test::random_floats(rows * width, 23);
    Tensor tg = make_f32(context, {rows, width}, gate);
    Tensor tu = make_f32(context, {rows, width}, up);
    Tensor tr = make_f32(context, {rows, width}, r);
    auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };

    Tensor out(context, SN_DTYPE_F32, {rows, width});
    ASSERT_SN_OK(sn_swiglu(context, tg, tu, out));
    std::vector<double> forward(rows * width);
    for (int64_t i = 0; i < rows * width; ++i) forward[i] = silu(gate[i]) * up[i];
    sn_test::expect_close(download_f32(out), forward, 1e-6, 1e-5, "forward");

    const Loss by_gate = [&](const std::vector<double>& g) {
        double total = 0.0;
        for (int64_t i = 0; i < rows * width; ++i) total += r[i] * silu(g[i]) * up[i];
        return total;
    };
    const Loss by_up = [&](const std::vector<double>& u) {
        double total = 0.0;
        for (int64_t i = 0; i < rows * width; ++i) total += r[i] * silu(gate[i]) * u[i];
        return total;
    };
    Tensor dgate(context, SN_DTYPE_F32, {rows, width});
    Tensor dup(context, SN_DTYPE_F32, {rows, width});
    ASSERT_SN_OK(sn_swiglu_backward(context, tg, tu, tr, dgate, dup));
    sn_test::expect_close(download_f32(dgate), numeric_gradient(by_gate, to_double(gate), 1e-5), 1e-6, 1e-5, "dgate");
    sn_test::expect_close(download_f32(dup), numeric_gradient(by_up, to_double(up), 1e-5), 1e-6, 1e-5, "dup");

    EXPECT_SN_ERROR(sn_swiglu_backward(context, tg, tu, tr, dgate, dgate), SN_ERR_INVALID_ARGUMENT,
                    "dgate must not alias dup");
    EXPECT_SN_ERROR(sn_swiglu_backward(context, tg, tu, tr, tr, dup), SN_ERR_INVALID_ARGUMENT,
                    "dgate must not alias dy");
}

TEST(RopeBackward, MatchesFiniteDifferencesAndInvertsRope) {
    Context context(2);
    const int64_t tokens = 5, heads = 3, head_dim = 10;
    const float theta = 10000.0f;
    const std::vector<int32_t> positions = {0, 7, 3, 100, 4095};
    const std::vector<float> x = sn_test::random_floats(tokens * heads * head_dim, 31);
    const std::vector<float> r = sn_test::random_floats(tokens * heads * head_dim, 32);
    Tensor tx = make_f32(context, {tokens, heads, head_dim}, x);
    Tensor tp = make_i32(context, {tokens}, positions);
    Tensor out(context, SN_DTYPE_F32, {tokens, heads, head_dim});
    ASSERT_SN_OK(sn_rope(context, tx, tp, theta, out));
    sn_test::expect_close(download_f32(out), rope_forward(to_double(x), positions, heads, head_dim, theta), 1e-6, 1e-6,
                          "forward");

    const Loss loss = [&](const std::vector<double>& point) {
        return dot(r, rope_forward(point, positions, heads, head_dim, theta));
    };
    const std::vector<double> expected = numeric_gradient(loss, to_double(x), 1e-3);
    Tensor tr = make_f32(context, {tokens, heads, head_dim}, r);
    Tensor dx(context, SN_DTYPE_F32, {tokens, heads, head_dim});
    ASSERT_SN_OK(sn_rope_backward(context, tr, tp, theta, dx));
    sn_test::expect_close(download_f32(dx), expected, 1e-6, 1e-5, "dx");

    // A rotation's transpose is its inverse: backward(rope(x)) = x, here in place.
    ASSERT_SN_OK(sn_rope_backward(context, out, tp, theta, out));
    sn_test::expect_close(download_f32(out), to_double(x), 1e-6, 1e-6, "backward of forward");

    Tensor odd(context, SN_DTYPE_F32, {tokens, heads, 9});
    EXPECT_SN_ERROR(sn_rope_backward(context, odd, tp, theta, odd), SN_ERR_SHAPE_MISMATCH, "even");
    EXPECT_SN_ERROR(sn_rope_backward(context, tr, tp, 0.0f, dx), SN_ERR_INVALID_ARGUMENT, "theta");
    Tensor short_positions = make_i32(context, {tokens - 1}, {0, 1, 2, 3});
    EXPECT_SN_ERROR(sn_rope_backward(context, tr, short_positions, theta, dx), SN_ERR_SHAPE_MISMATCH, "positions");
}

TEST(CrossEntropyBackward, MatchesFiniteDifferences) {
    Context context(2);
    const int64_t tokens = 4, vocab = 50;
    const std::vector<float> logits = sn_test::random_floats(tokens * vocab, 41, -4.0f, 4.0f);
    const std::vector<int32_t> targets = {3, 0, 49, 17};
    const double scale = 1.0 / tokens;
    Tensor tl = make_f32(context, {tokens, vocab}, logits);
    Tensor tt = make_i32(context, {tokens}, targets);
    Tensor losses(context, SN_DTYPE_F32, {tokens});
    ASSERT_SN_OK(sn_cross_entropy(context, tl, tt, losses));
    double mean = 0.0;
    for (float loss : download_f32(losses)) mean += loss * scale;
    EXPECT_NEAR(mean, mean_cross_entropy(to_double(logits), targets, vocab, scale), 1e-5);

    const Loss loss = [&](const std::vector<double>& point) {
        return mean_cross_entropy(point, targets, vocab, scale);
    };
    Tensor dlogits(context, SN_DTYPE_F32, {tokens, vocab});
    ASSERT_SN_OK(sn_cross_entropy_backward(context, tl, tt, static_cast<float>(scale), dlogits));
    sn_test::expect_close(download_f32(dlogits), numeric_gradient(loss, to_double(logits), 1e-4), 1e-7, 1e-5,
                          "dlogits");
}

TEST(CrossEntropyBackward, LargeLogitsStayFiniteAndRowsSumToZero) {
    Context context(1);
    const int64_t vocab = 3;
    Tensor tl = make_f32(context, {2, vocab}, {1000.0f, 0.0f, -1000.0f, 5.0f, 5.0f, 5.0f});
    Tensor tt = make_i32(context, {2}, {1, 2});
    Tensor dlogits(context, SN_DTYPE_F32, {2, vocab});
    ASSERT_SN_OK(sn_cross_entropy_backward(context, tl, tt, 2.0f, dlogits));
    const std::vector<float> d = download_f32(dlogits);
    sn_test::expect_close(d, {2.0, -2.0, 0.0, 2.0 / 3, 2.0 / 3, 2.0 / 3 - 2.0}, 1e-6, 1e-6, "dlogits");

    Tensor bad = make_i32(context, {2}, {1, 3});
    EXPECT_SN_ERROR(sn_cross_entropy_backward(context, tl, bad, 1.0f, dlogits), SN_ERR_INVALID_ARGUMENT,
                    "targets[1] = 3");
    EXPECT_SN_ERROR(sn_cross_entropy_backward(context, tl, tt, NAN, dlogits), SN_ERR_INVALID_ARGUMENT, "scale");
    EXPECT_SN_ERROR(sn_cross_entropy_backward(context, tl, tt, 1.0f, tl), SN_ERR_INVALID_ARGUMENT,
                    "dlogits must not alias logits");
}
