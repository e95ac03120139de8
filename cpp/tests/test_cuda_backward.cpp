// The Fisher pass's ops on CUDA against the CPU ops (the reference, itself checked against
// finite differences in test_backward.cpp and test_attention_backward.cpp): the mixed F32 × 16-bit
// linear, matmul_backward_input, fisher_accumulate, the norm, activation, SwiGLU, RoPE, attention
// and cross-entropy backwards, on odd shapes, GQA and windows; bad device-side indices.
//
// Tolerances: the row and elementwise ops are F32 on both sides and differ by summation order and
// expf against the CPU's exp polynomial (~1e-6 relative). The products run on TF32 tensor cores
// (kernels/linear_backward.cu): inputs rounded to 10-bit mantissas, so a product of K terms is
// within ~1e-3 of the F32 result relative to the norm of its row of terms; they are held to
// ‖gpu − cpu‖ / ‖cpu‖ <= 2e-3 over the whole output and to a per-element bound scaled by the
// output's largest magnitude.
#include "cuda_test_support.h"
#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

using sn_test::count_of;
using sn_test::CudaVsCpu;
using sn_test::Tensor;
using sn_test::Twin;
using sn_test::twin_i32;
using sn_test::values_of;

namespace {

// The same values on both sides in `dtype` (the CPU takes 16-bit weights as they are).
Twin twin(sn_context* cpu, sn_context* gpu, sn_dtype dtype, const std::vector<int64_t>& dims,
          const std::vector<float>& values) {
    return sn_test::twin(cpu, gpu, dtype, dims, values, dtype);
}

Twin twin_empty(sn_context* cpu, sn_context* gpu, const std::vector<int64_t>& dims) {
    return Twin{Tensor(cpu, SN_DTYPE_F32, dims), Tensor(gpu, SN_DTYPE_F32, dims)};
}

// Elementwise F32 agreement.
void expect_match(const Twin& out, double abs_tol, double rel_tol, const std::string& what) {
    const std::vector<float> expected = values_of(out.cpu);
    sn_test::expect_close(values_of(out.gpu), std::vector<double>(expected.begin(), expected.end()), abs_tol, rel_tol,
                          what);
}

// TF32 agreement: the relative error over the whole tensor, and every element within
// element_tol · max |expected|.
void expect_tf32_match(const Twin& out, const std::string& what, double norm_tol = 2e-3, double element_tol = 1e-2) {
    const std::vector<float> actual = values_of(out.gpu), expected = values_of(out.cpu);
    ASSERT_EQ(actual.size(), expected.size()) << what;
    double error = 0.0, norm = 0.0, largest = 0.0;
    for (size_t i = 0; i < actual.size(); ++i) {
        ASSERT_TRUE(std::isfinite(actual[i])) << what << ": element " << i << " is " << actual[i];
        const double difference = static_cast<double>(actual[i]) - expected[i];
        error += difference * difference;
        norm += static_cast<double>(expected[i]) * expected[i];
        largest = std::max(largest, std::fabs(static_cast<double>(expected[i])));
    }
    ASSERT_GT(norm, 0.0) << what << ": the reference is all zero, which checks nothing";
    EXPECT_LE(std::sqrt(error / norm), norm_tol) << what;
    sn_test::expect_close(actual, std::vector<double>(expected.begin(), expected.end()), element_tol * largest, 0.0,
                          what);
}

// ---- linears --------------------------------------------------------------------------------

TEST_F(CudaVsCpu, MatmulF32ActivationsBy16BitWeightsInSlices) {
    // N = 5000 rows of K = 4096: three widened slices of 2048 rows; odd M, N and K too.
    struct Case {
        int64_t m, n, k;
    };
    for (const Case c : {Case{37, 5000, 4096}, Case{5, 77, 300}, Case{1, 3, 1}}) {
        for (sn_dtype weight_dtype : {SN_DTYPE_F16, SN_DTYPE_BF16}) {
            const std::string what = "M=" + std::to_string(c.m) + " N=" + std::to_string(c.n) +
                                     " K=" + std::to_string(c.k) + (weight_dtype == SN_DTYPE_F16 ? " F16" : " BF16");
            Twin x = twin(cpu, gpu, SN_DTYPE_F32, {c.m, c.k}, sn_test::random_floats(c.m * c.k, 1));
            Twin w = twin(cpu, gpu, weight_dtype, {c.n, c.k}, sn_test::random_floats(c.n * c.k, 2, -0.1f, 0.1f));
            Twin bias = twin(cpu, gpu, SN_DTYPE_F16, {c.n}, sn_test::random_floats(c.n, 3));
            Twin out = twin(cpu, gpu, SN_DTYPE_F32, {c.m, c.n}, sn_test::random_floats(c.m * c.n, 4));
            ASSERT_SN_OK(sn_matmul(cpu, x.cpu, w.cpu, nullptr, out.cpu));
            ASSERT_SN_OK(sn_matmul(gpu, x.gpu, w.gpu, nullptr, out.gpu));
            expect_tf32_match(out, "matmul " + what);
            ASSERT_SN_OK(sn_matmul_add(cpu, x.cpu, w.cpu, bias.cpu, out.cpu));
            ASSERT_SN_OK(sn_matmul_add(gpu, x.gpu, w.gpu, bias.gpu, out.gpu));
            expect_tf32_match(out, "matmul_add + bias " + what);
        }
    }
}

TEST_F(CudaVsCpu, MatmulBackwardInputOverWidenedSlicesAndF32Weights) {
    struct Case {
        int64_t m, n, k;
    };
    for (const Case c : {Case{33, 5000, 4096}, Case{7, 129, 61}}) {
        for (sn_dtype weight_dtype : {SN_DTYPE_F16, SN_DTYPE_BF16, SN_DTYPE_F32}) {
            const std::string what = "M=" + std::to_string(c.m) + " N=" + std::to_string(c.n) +
                                     " K=" + std::to_string(c.k) + " weight dtype " + std::to_string(weight_dtype);
            Twin dy = twin(cpu, gpu, SN_DTYPE_F32, {c.m, c.n}, sn_test::random_floats(c.m * c.n, 5, -1e-6f, 1e-6f));
            Twin w = twin(cpu, gpu, weight_dtype, {c.n, c.k}, sn_test::random_floats(c.n * c.k, 6, -0.1f, 0.1f));
            Twin dx = twin(cpu, gpu, SN_DTYPE_F32, {c.m, c.k}, sn_test::random_floats(c.m * c.k, 7, -1e-6f, 1e-6f));
            ASSERT_SN_OK(sn_matmul_backward_input(cpu, dy.cpu, w.cpu, 1, dx.cpu));
            ASSERT_SN_OK(sn_matmul_backward_input(gpu, dy.gpu, w.gpu, 1, dx.gpu));
            expect_tf32_match(dx, "accumulate " + what);
            ASSERT_SN_OK(sn_matmul_backward_input(cpu, dy.cpu, w.cpu, 0, dx.cpu));
            ASSERT_SN_OK(sn_matmul_backward_input(gpu, dy.gpu, w.gpu, 0, dx.gpu));
            expect_tf32_match(dx, "store " + what);
        }
    }
}

TEST_F(CudaVsCpu, FisherAccumulateAddsSquaredGradientsSliceBySlice) {
    // 3000 × 1500 = 4.5 M gradients: two slices of the 4 M-float scratch; then a small odd shape.
    struct Case {
        int64_t t, n, k;
    };
    for (const Case c : {Case{64, 3000, 1500}, Case{3, 17, 5}}) {
        const std::string what = "T=" + std::to_string(c.t) + " N=" + std::to_string(c.n) + " K=" + std::to_string(c.k);
        Twin dy = twin(cpu, gpu, SN_DTYPE_F32, {c.t, c.n}, sn_test::random_floats(c.t * c.n, 8, -1e-4f, 1e-4f));
        Twin x = twin(cpu, gpu, SN_DTYPE_F32, {c.t, c.k}, sn_test::random_floats(c.t * c.k, 9, -2.0f, 2.0f));
        Twin fisher = twin(cpu, gpu, SN_DTYPE_F32, {c.n, c.k}, sn_test::random_floats(c.n * c.k, 10, 0.0f, 1e-8f));
        for (int sample = 0; sample < 2; ++sample) {
            ASSERT_SN_OK(sn_fisher_accumulate(cpu, dy.cpu, x.cpu, fisher.cpu));
            ASSERT_SN_OK(sn_fisher_accumulate(gpu, dy.gpu, x.gpu, fisher.gpu));
        }
        // Squares double the TF32 error of G; every element is positive, so 2 % per element is tight.
        expect_tf32_match(fisher, "fisher " + what, 4e-3, 2e-2);
    }
}

// ---- rows and elementwise ----------------------------------------------------------------------

TEST_F(CudaVsCpu, NormBackwardsOverOddRows) {
    for (int64_t width : {1, 19, 4096, 5003}) {
        for (sn_dtype weight_dtype : {SN_DTYPE_F16, SN_DTYPE_F32}) {
            const std::string what = "D=" + std::to_string(width) + " weight dtype " + std::to_string(weight_dtype);
            const std::vector<int64_t> dims = {7, width};
            Twin x = twin(cpu, gpu, SN_DTYPE_F32, dims, sn_test::random_floats(7 * width, 11, 3.0f, 5.0f));
            Twin weight = twin(cpu, gpu, weight_dtype, {width}, sn_test::random_floats(width, 12, 0.5f, 1.5f));
            Twin dy = twin(cpu, gpu, SN_DTYPE_F32, dims, sn_test::random_floats(7 * width, 13, -1e-3f, 1e-3f));
            Twin dx = twin_empty(cpu, gpu, dims);
            ASSERT_SN_OK(sn_rms_norm_backward(cpu, x.cpu, weight.cpu, 1e-6f, dy.cpu, dx.cpu));
            ASSERT_SN_OK(sn_rms_norm_backward(gpu, x.gpu, weight.gpu, 1e-6f, dy.gpu, dx.gpu));
            expect_match(dx, 1e-10, 1e-5, "rms_norm_backward " + what);
            if (width > 1) {
                ASSERT_SN_OK(sn_layer_norm_backward(cpu, x.cpu, weight.cpu, 1e-5f, dy.cpu, dx.cpu));
                ASSERT_SN_OK(sn_layer_norm_backward(gpu, x.gpu, weight.gpu, 1e-5f, dy.gpu, dx.gpu));
                // dx is a difference of O(|dy|·r) terms: absolute error relative to that scale.
                expect_match(dx, 1e-8, 1e-4, "layer_norm_backward " + what);
            }
        }
    }
}

TEST_F(CudaVsCpu, CrossEntropyBackwardOverLargeVocabularies) {
    for (int64_t vocab : {3, 1000, 50272}) {
        const int64_t rows = 5;
        Twin logits =
            twin(cpu, gpu, SN_DTYPE_F32, {rows, vocab}, sn_test::random_floats(rows * vocab, 14, -8.0f, 8.0f));
        std::vector<int32_t> targets(rows);
        for (int64_t r = 0; r < rows; ++r) targets[r] = static_cast<int32_t>((r * 7919) % vocab);
        Twin target = twin_i32(cpu, gpu, {rows}, targets);
        Twin dlogits = twin_empty(cpu, gpu, {rows, vocab});
        ASSERT_SN_OK(sn_cross_entropy_backward(cpu, logits.cpu, target.cpu, 1.0f / 511, dlogits.cpu));
        ASSERT_SN_OK(sn_cross_entropy_backward(gpu, logits.gpu, target.gpu, 1.0f / 511, dlogits.gpu));
        expect_match(dlogits, 1e-12, 2e-5, "cross_entropy_backward V=" + std::to_string(vocab));
    }
}

TEST_F(CudaVsCpu, ActivationAndSwigluBackwardsInPlace) {
    const std::vector<int64_t> dims = {3, 1001};
    const std::vector<float> inputs = sn_test::random_floats(3 * 1001, 15, -9.0f, 9.0f);
    for (sn_activation activation :
         {SN_ACTIVATION_RELU, SN_ACTIVATION_SILU, SN_ACTIVATION_GELU, SN_ACTIVATION_GELU_TANH}) {
        Twin x = twin(cpu, gpu, SN_DTYPE_F32, dims, inputs);
        Twin dy = twin(cpu, gpu, SN_DTYPE_F32, dims, sn_test::random_floats(3 * 1001, 16));
        ASSERT_SN_OK(sn_activation_backward(cpu, activation, x.cpu, dy.cpu, dy.cpu));  // dx = dy
        ASSERT_SN_OK(sn_activation_backward(gpu, activation, x.gpu, dy.gpu, dy.gpu));
        expect_match(dy, 1e-6, 1e-5, "activation_backward " + std::to_string(activation));
    }
    Twin gate = twin(cpu, gpu, SN_DTYPE_F32, dims, inputs);
    Twin up = twin(cpu, gpu, SN_DTYPE_F32, dims, sn_test::random_floats(3 * 1001, 17, -2.0f, 2.0f));
    Twin dy = twin(cpu, gpu, SN_DTYPE_F32, dims, sn_test::random_floats(3 * 1001, 18));
    Twin dgate = twin_empty(cpu, gpu, dims), dup = twin_empty(cpu, gpu, dims);
    ASSERT_SN_OK(sn_swiglu_backward(cpu, gate.cpu, up.cpu, dy.cpu, dgate.cpu, dup.cpu));
    ASSERT_SN_OK(sn_swiglu_backward(gpu, gate.gpu, up.gpu, dy.gpu, dgate.gpu, dup.gpu));
    expect_match(dgate, 1e-6, 1e-5, "swiglu_backward dgate");
    expect_match(dup, 1e-6, 1e-5, "swiglu_backward dup");
}

TEST_F(CudaVsCpu, RopeBackwardUndoesRopeAndMatchesTheCpu) {
    const int64_t tokens = 9, heads = 3, head_dim = 128;
    const std::vector<int64_t> dims = {tokens, heads, head_dim};
    std::vector<int32_t> positions(tokens);
    for (int64_t t = 0; t < tokens; ++t) positions[t] = static_cast<int32_t>(t * 509);  // up to 4072
    Twin pos = twin_i32(cpu, gpu, {tokens}, positions);
    const std::vector<float> values = sn_test::random_floats(count_of(dims), 19);
    Twin dy = twin(cpu, gpu, SN_DTYPE_F32, dims, values);
    Twin dx = twin_empty(cpu, gpu, dims);
    ASSERT_SN_OK(sn_rope_backward(cpu, dy.cpu, pos.cpu, 10000.0f, dx.cpu));
    ASSERT_SN_OK(sn_rope_backward(gpu, dy.gpu, pos.gpu, 10000.0f, dx.gpu));
    expect_match(dx, 1e-6, 1e-5, "rope_backward");
    ASSERT_SN_OK(sn_rope(gpu, dx.gpu, pos.gpu, 10000.0f, dx.gpu));  // the forward rotation undoes it
    sn_test::expect_close(values_of(dx.gpu), std::vector<double>(values.begin(), values.end()), 1e-5, 1e-5,
                          "rope(rope_backward(x)) = x");
}

// ---- attention --------------------------------------------------------------------------------

struct AttentionBackwardCase {
    const char* name;
    int64_t tokens, q_heads, kv_heads, head_dim;
    int32_t window;
    bool shuffled;  // positions a permutation of 0..T−1 instead of 0, 1, ...
};

TEST_F(CudaVsCpu, AttentionBackwardGqaWindowsOddHeadDims) {
    const AttentionBackwardCase cases[] = {
        {"one token", 1, 1, 1, 8, 0, false},
        {"LLaMA head, 3 key tiles", 67, 4, 4, 128, 0, false},
        {"Dh 95: static + dynamic shared memory just over 48 KB", 33, 2, 2, 95, 0, false},
        {"GQA 8/2, window 17", 130, 8, 2, 128, 17, false},
        {"GQA 6/3, Dh 80, shuffled positions", 45, 6, 3, 80, 0, true},
        {"Dh 256", 40, 2, 1, 256, 0, false},
        {"Dh 32, long", 300, 2, 2, 32, 0, false},
        {"Dh 64, window 1", 50, 2, 1, 64, 1, true},
    };
    for (const AttentionBackwardCase& c : cases) {
        const std::vector<int64_t> q_dims = {c.tokens, c.q_heads, c.head_dim};
        const std::vector<int64_t> kv_dims = {c.tokens, c.kv_heads, c.head_dim};
        std::vector<int32_t> positions(static_cast<size_t>(c.tokens));
        std::iota(positions.begin(), positions.end(), 0);
        if (c.shuffled) std::shuffle(positions.begin(), positions.end(), std::mt19937(20));
        Twin pos = twin_i32(cpu, gpu, {c.tokens}, positions);
        Twin q = twin(cpu, gpu, SN_DTYPE_F32, q_dims, sn_test::random_floats(count_of(q_dims), 21, -2.0f, 2.0f));
        Twin k = twin(cpu, gpu, SN_DTYPE_F32, kv_dims, sn_test::random_floats(count_of(kv_dims), 22, -2.0f, 2.0f));
        Twin v = twin(cpu, gpu, SN_DTYPE_F32, kv_dims, sn_test::random_floats(count_of(kv_dims), 23));
        Twin dout = twin(cpu, gpu, SN_DTYPE_F32, q_dims, sn_test::random_floats(count_of(q_dims), 24));
        Twin dq = twin_empty(cpu, gpu, q_dims), dk = twin_empty(cpu, gpu, kv_dims), dv = twin_empty(cpu, gpu, kv_dims);
        const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
        ASSERT_SN_OK(sn_attention_backward(cpu, q.cpu, pos.cpu, k.cpu, v.cpu, c.window, scale, dout.cpu, dq.cpu, dk.cpu,
                                           dv.cpu));
        ASSERT_SN_OK(sn_attention_backward(gpu, q.gpu, pos.gpu, k.gpu, v.gpu, c.window, scale, dout.gpu, dq.gpu, dk.gpu,
                                           dv.gpu));
        ASSERT_SN_OK(sn_context_synchronize(gpu));
        // F32 both sides, different summation orders over up to T terms.
        expect_match(dq, 2e-5, 2e-4, std::string("dq: ") + c.name);
        expect_match(dk, 2e-5, 2e-4, std::string("dk: ") + c.name);
        expect_match(dv, 2e-5, 2e-4, std::string("dv: ") + c.name);
    }
}

TEST_F(CudaVsCpu, BackwardOpsReportBadDeviceIndicesAtTheNextSynchronize) {
    Tensor logits = sn_test::make_f32(gpu, {2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor targets = sn_test::make_i32(gpu, {2}, {1, 7});
    Tensor dlogits(gpu, SN_DTYPE_F32, {2, 3});
    ASSERT_SN_OK(sn_cross_entropy_backward(gpu, logits, targets, 0.5f, dlogits));
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT,
                    "cross_entropy_backward on this context read targets[1] = 7");
    const std::vector<float> gradient = sn_test::download_f32(dlogits);
    EXPECT_TRUE(std::isnan(gradient[3]) && std::isnan(gradient[5]));
    const double sum = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    EXPECT_NEAR(gradient[1], (std::exp(2.0) / sum - 1.0) * 0.5, 1e-6);

    Tensor q = sn_test::make_f32(gpu, {2, 1, 4}, std::vector<float>(8, 0.5f));
    Tensor kv = sn_test::make_f32(gpu, {2, 1, 4}, std::vector<float>(8, 1.0f));
    Tensor at = sn_test::make_i32(gpu, {2}, {0, 2});
    Tensor dq(gpu, SN_DTYPE_F32, {2, 1, 4}), dk(gpu, SN_DTYPE_F32, {2, 1, 4}), dv(gpu, SN_DTYPE_F32, {2, 1, 4});
    ASSERT_SN_OK(sn_attention_backward(gpu, q, at, kv, kv, 0, 0.5f, q, dq, dk, dv));
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT,
                    "attention_backward on this context read positions[1] = 2");
    const std::vector<float> dq_values = sn_test::download_f32(dq);
    EXPECT_EQ(std::vector<float>(dq_values.begin() + 4, dq_values.end()), std::vector<float>(4, 0.0f));
    // Row 0 alone: one key, P = 1, dS = 0 → dq 0, dv of key 0 = dout of row 0, dk 0.
    const std::vector<float> dv_values = sn_test::download_f32(dv);
    EXPECT_EQ(std::vector<float>(dv_values.begin(), dv_values.begin() + 4), std::vector<float>(4, 0.5f));
}

}  // namespace
