// sn_tests_cuda, quantized linears: the CUDA backend's repack + LUT-GEMV against the CPU's
// sn_lut_matmul on the checkpoint layout, with the same codes, LUT, x (F16 values on both sides),
// sparse part and bias. Shapes cover what the tiled layout pads (N not a multiple of 16, K not a
// multiple of 256 or 128), every n-tile count (M = 1..32), the row slices above 32 and the
// prefill path above 64 (W dequantized a slice at a time, then cuBLAS).
//
// Tolerance: the GPU multiplies F16 x by F16 table values exactly and sums in F32 in another order
// than the CPU, then rounds once to F16: 1e-3·|out| for the rounding (2x its 2^-11 bound) plus
// 2e-5·Σ|x·w| for the summation order (plus, on the prefill path, the F16 rounding of dense +
// sparse weights).
#include "cuda_test_support.h"
#include "lut_test_support.h"
#include "test_support.h"

#include <cmath>
#include <string>

using sn_test::Tensor;

namespace {

// One CPU and one CUDA context (cuda_test_support.h).
class CudaLut : public sn_test::CudaVsCpu {};

struct Case {
    int bits;
    int64_t m, n, k;
    double sparse_mean;  // entries per row; 0 = no sparse part
    bool bias, accumulate;
    std::string name() const {
        return std::to_string(bits) + "-bit M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" +
               std::to_string(k) + (sparse_mean > 0 ? " sparse" : "") + (bias ? " bias" : "") +
               (accumulate ? " accumulate" : "");
    }
};

Tensor repacked(sn_context* gpu, const Tensor& qweight, int bits, int64_t n, int64_t k) {
    int32_t ndim = 0;
    int64_t dims[SN_MAX_DIMS] = {};
    EXPECT_EQ(sn_lut_repacked_shape(gpu, bits, n, k, &ndim, dims), SN_OK) << sn_last_error();
    EXPECT_EQ(ndim, 3);
    Tensor packed(gpu, SN_DTYPE_I32, std::vector<int64_t>(dims, dims + ndim));
    EXPECT_EQ(sn_lut_repack(gpu, qweight, bits, packed), SN_OK) << sn_last_error();
    return packed;
}

void check(sn_context* cpu, sn_context* gpu, const Case& c, uint32_t seed) {
    SCOPED_TRACE(c.name());
    const int levels = 1 << c.bits;
    std::mt19937 rng(seed);
    std::vector<uint8_t> codes(static_cast<size_t>(c.n * c.k));
    for (uint8_t& code : codes) code = static_cast<uint8_t>(rng() % levels);
    const std::vector<int32_t> qweight = sn_test::pack_codes(codes, c.n, c.k, c.bits);
    const std::vector<float> lut = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.n * levels, seed + 1));
    const std::vector<float> x = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.m * c.k, seed + 2));
    const std::vector<float> bias = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.n, seed + 3));
    const std::vector<float> initial = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.m * c.n, seed + 4));
    const sn_test::Csr csr = c.sparse_mean > 0 ? sn_test::skewed_csr(c.n, c.k, c.sparse_mean, seed + 5) : sn_test::Csr{};
    const std::vector<float> vals = sn_test::rounded_to(SN_DTYPE_F16, csr.vals);
    const int64_t nnz = static_cast<int64_t>(csr.cols.size());

    // CPU: checkpoint layout, F32 activations holding the F16 values.
    Tensor cx = sn_test::make_f32(cpu, {c.m, c.k}, x);
    Tensor cq = sn_test::make_i32(cpu, {c.k / 32 * c.bits, c.n}, qweight);
    Tensor clut = sn_test::make_tensor(cpu, SN_DTYPE_F16, {c.n, levels}, lut);
    Tensor cbias = sn_test::make_tensor(cpu, SN_DTYPE_F16, {c.n}, bias);
    Tensor cout = sn_test::make_f32(cpu, {c.m, c.n}, initial);
    // GPU: the same values in F16, codes repacked.
    Tensor gx = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, c.k}, x);
    Tensor gq_checkpoint = sn_test::make_i32(gpu, {c.k / 32 * c.bits, c.n}, qweight);
    Tensor gq = repacked(gpu, gq_checkpoint, c.bits, c.n, c.k);
    Tensor glut = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.n, levels}, lut);
    Tensor gbias = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.n}, bias);
    Tensor gout = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, c.n}, initial);
    Tensor crows, ccols, cvals, grows, gcols, gvals;
    if (c.sparse_mean > 0) {
        crows = sn_test::make_i32(cpu, {c.n + 1}, csr.rows);
        ccols = sn_test::make_i32(cpu, {nnz}, csr.cols);
        cvals = sn_test::make_tensor(cpu, SN_DTYPE_F16, {nnz}, vals);
        grows = sn_test::make_i32(gpu, {c.n + 1}, csr.rows);
        gcols = sn_test::make_i32(gpu, {nnz}, csr.cols);
        gvals = sn_test::make_tensor(gpu, SN_DTYPE_F16, {nnz}, vals);
    }
    ASSERT_SN_OK(sn_lut_matmul(cpu, cx, cq, clut, c.bits, crows, ccols, cvals, c.bias ? cbias.get() : nullptr,
                               c.accumulate ? 1 : 0, cout));
    // Twice on the GPU. The first product follows sn_lut_repack, which wrote its codes: its kernel
    // must wait for the repack before reading them. The second follows a product that only read
    // the weights: its kernel streams them before waiting (kernels/lut_gemv.h, weights_settled).
    // Both must give the same values.
    Tensor gfirst = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, c.n}, initial);
    ASSERT_SN_OK(sn_lut_matmul(gpu, gx, gq, glut, c.bits, grows, gcols, gvals, c.bias ? gbias.get() : nullptr,
                               c.accumulate ? 1 : 0, gfirst));
    ASSERT_SN_OK(sn_lut_matmul(gpu, gx, gq, glut, c.bits, grows, gcols, gvals, c.bias ? gbias.get() : nullptr,
                               c.accumulate ? 1 : 0, gout));
    ASSERT_SN_OK(sn_context_synchronize(gpu));
    const std::vector<float> expected = sn_test::download_f32(cout);
    const std::vector<float> actual = sn_test::values_of(gout);
    EXPECT_EQ(sn_test::values_of(gfirst), actual) << "the product after the repack and the one after it differ";

    // Σ_k |w| per row (|x| <= 1); and for the prefill path, which rounds each dense + sparse sum
    // to F16 before cuBLAS multiplies, 2^-11 of those sums' magnitudes.
    std::vector<double> magnitude(static_cast<size_t>(c.n), 0.0), rounding(static_cast<size_t>(c.n), 0.0);
    for (int64_t row = 0; row < c.n; ++row) {
        for (int64_t column = 0; column < c.k; ++column) {
            magnitude[row] += std::fabs(lut[row * levels + codes[row * c.k + column]]);
        }
        for (int32_t j = c.sparse_mean > 0 ? csr.rows[row] : 0; c.sparse_mean > 0 && j < csr.rows[row + 1]; ++j) {
            magnitude[row] += std::fabs(vals[j]);
            const double dense = lut[row * levels + codes[row * c.k + csr.cols[j]]];
            rounding[row] += std::ldexp(std::fabs(dense) + std::fabs(vals[j]), -11);
        }
    }
    size_t failures = 0;
    for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t row = 0; row < c.n; ++row) {
            const size_t at = static_cast<size_t>(i * c.n + row);
            const double addends = (c.bias ? std::fabs(bias[row]) : 0.0) + (c.accumulate ? std::fabs(initial[at]) : 0.0);
            const double bound =
                1e-3 * (std::fabs(expected[at]) + addends) + 2e-5 * magnitude[row] + rounding[row] + 1e-5;
            if (!(std::fabs(actual[at] - expected[at]) <= bound) && failures++ < 5) {
                ADD_FAILURE() << "[" << i << ", " << row << "] is " << actual[at] << ", CPU " << expected[at];
            }
        }
    }
    EXPECT_EQ(failures, 0u);
}

}  // namespace

TEST_F(CudaLut, OddShapesEveryRowCount) {
    uint32_t seed = 900;
    for (int bits : {3, 4}) {
        for (int64_t m : {1, 2, 3, 8, 9, 16, 17, 31, 32, 33, 70}) {
            check(cpu, gpu, {bits, m, 1031, 4128, 6.0, true, false}, seed++);
        }
        for (const auto& [n, k] : {std::pair<int64_t, int64_t>{5, 32}, {77, 96}, {16, 256}, {33, 288}, {1029, 4096},
                                   {257, 11008}}) {
            check(cpu, gpu, {bits, 1, n, k, 0.0, false, false}, seed++);
            check(cpu, gpu, {bits, 4, n, k, 3.0, true, true}, seed++);
            check(cpu, gpu, {bits, 16, n, k, 0.0, false, true}, seed++);
            check(cpu, gpu, {bits, 100, n, k, 3.0, true, true}, seed++);  // prefill: dequantize + cuBLAS
        }
    }
}

// The LLaMA-7B decode shapes with the skewed 0.45 % pattern (18 entries per row of 4096).
TEST_F(CudaLut, DecodeShapesWithSkewedOutliers) {
    uint32_t seed = 1700;
    for (int bits : {3, 4}) {
        check(cpu, gpu, {bits, 1, 4096, 4096, 18.0, false, false}, seed++);
        check(cpu, gpu, {bits, 1, 11008, 4096, 18.0, false, true}, seed++);
        check(cpu, gpu, {bits, 1, 4096, 11008, 50.0, false, true}, seed++);
    }
}

TEST_F(CudaLut, RejectsTheCheckpointLayoutAndF32Activations) {
    Tensor x(gpu, SN_DTYPE_F16, {1, 64});
    Tensor q(gpu, SN_DTYPE_I32, {8, 20});
    Tensor lut(gpu, SN_DTYPE_F16, {20, 16});
    Tensor out(gpu, SN_DTYPE_F16, {1, 20});
    EXPECT_SN_ERROR(sn_lut_matmul(gpu, x, q, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, out), SN_ERR_UNSUPPORTED,
                    "sn_lut_repack");
    Tensor packed = repacked(gpu, q, 4, 20, 64);
    Tensor x32(gpu, SN_DTYPE_F32, {1, 64});
    Tensor out32(gpu, SN_DTYPE_F32, {1, 20});
    EXPECT_SN_ERROR(sn_lut_matmul(gpu, x32, packed, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, out32),
                    SN_ERR_UNSUPPORTED, "F16");
    ASSERT_SN_OK(sn_lut_matmul(gpu, x, packed, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, out));
}

// A column index out of range is skipped by the kernel and reported at the next synchronize.
TEST_F(CudaLut, BadSparseColumnIsReportedAtSynchronize) {
    Tensor x(gpu, SN_DTYPE_F16, {1, 64});
    Tensor q(gpu, SN_DTYPE_I32, {8, 20});
    Tensor packed = repacked(gpu, q, 4, 20, 64);
    Tensor lut(gpu, SN_DTYPE_F16, {20, 16});
    Tensor out(gpu, SN_DTYPE_F16, {1, 20});
    std::vector<int32_t> rows(21, 1);
    rows[0] = 0;
    Tensor trows = sn_test::make_i32(gpu, {21}, rows);
    Tensor tcols = sn_test::make_i32(gpu, {1}, {64});
    Tensor tvals = sn_test::make_tensor(gpu, SN_DTYPE_F16, {1}, {1.0f});
    ASSERT_SN_OK(sn_lut_matmul(gpu, x, packed, lut, 4, trows, tcols, tvals, nullptr, 0, out));
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT, "lut_matmul");
}
