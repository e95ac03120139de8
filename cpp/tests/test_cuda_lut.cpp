// sn_tests_cuda, quantized linears: the CUDA backend's repack + LUT-GEMV against the CPU's
// sn_lut_matmul on the checkpoint layout, with the same codes, LUT, x (F16 values on both sides),
// sparse part and bias. Shapes cover what the tiled layout pads (N not a multiple of 16, K not a
// multiple of 256 or 128), every n-tile count (M = 1..32), the row slices above 32, the LUT-GEMM
// of dense products of 9 to 256 rows (with and without splits of K) and the prefill path above 64
// (W dequantized a slice at a time, then cuBLAS; sparse products and more than 256 rows).
//
// Tolerance: the GPU multiplies F16 x by F16 table values exactly and sums in F32 in another order
// than the CPU, then rounds once to F16: 1e-3·|out| for the rounding (2x its 2^-11 bound) plus
// 2e-5·Σ|x·w| for the summation order (plus, on the prefill path, the F16 rounding of dense +
// sparse weights).
#include "cuda_test_support.h"
#include "lut_test_support.h"
#include "test_support.h"

#include <algorithm>
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
    const sn_test::Csr* csr = nullptr;  // a given sparse part instead of the skewed random one
    std::string name() const {
        return std::to_string(bits) + "-bit M=" + std::to_string(m) + " N=" + std::to_string(n) +
               " K=" + std::to_string(k) + (sparse_mean > 0 || csr ? " sparse" : "") + (bias ? " bias" : "") +
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

// A case's random codes, LUT, x, bias, initial out and skewed sparse part: the host values, and the
// same values on the CPU (checkpoint layout, F32 activations holding the F16 values) and on the
// GPU (F16, codes repacked).
struct Operands {
    std::vector<uint8_t> codes;
    std::vector<float> lut, x, bias, initial, vals;
    sn_test::Csr csr;
    Tensor cx, cq, clut, cbias, crows, ccols, cvals;
    Tensor gx, gq_checkpoint, gq, glut, gbias, grows, gcols, gvals;
    sn_tensor* cpu_bias(const Case& c) { return c.bias ? cbias.get() : nullptr; }
    sn_tensor* gpu_bias(const Case& c) { return c.bias ? gbias.get() : nullptr; }
};

Operands make_operands(sn_context* cpu, sn_context* gpu, const Case& c, uint32_t seed) {
    Operands o;
    const int levels = 1 << c.bits;
    std::mt19937 rng(seed);
    o.codes.resize(static_cast<size_t>(c.n * c.k));
    for (uint8_t& code : o.codes) code = static_cast<uint8_t>(rng() % levels);
    const std::vector<int32_t> qweight = sn_test::pack_codes(o.codes, c.n, c.k, c.bits);
    o.lut = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.n * levels, seed + 1));
    o.x = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.m * c.k, seed + 2));
    o.bias = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.n, seed + 3));
    o.initial = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(c.m * c.n, seed + 4));
    o.csr = c.csr != nullptr    ? *c.csr
            : c.sparse_mean > 0 ? sn_test::skewed_csr(c.n, c.k, c.sparse_mean, seed + 5)
                                : sn_test::Csr{};
    o.vals = sn_test::rounded_to(SN_DTYPE_F16, o.csr.vals);
    const int64_t nnz = static_cast<int64_t>(o.csr.cols.size());
    o.cx = sn_test::make_f32(cpu, {c.m, c.k}, o.x);
    o.cq = sn_test::make_i32(cpu, {c.k / 32 * c.bits, c.n}, qweight);
    o.clut = sn_test::make_tensor(cpu, SN_DTYPE_F16, {c.n, levels}, o.lut);
    o.cbias = sn_test::make_tensor(cpu, SN_DTYPE_F16, {c.n}, o.bias);
    o.gx = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, c.k}, o.x);
    o.gq_checkpoint = sn_test::make_i32(gpu, {c.k / 32 * c.bits, c.n}, qweight);
    o.gq = repacked(gpu, o.gq_checkpoint, c.bits, c.n, c.k);
    o.glut = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.n, levels}, o.lut);
    o.gbias = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.n}, o.bias);
    if (!o.csr.rows.empty()) {
        o.crows = sn_test::make_i32(cpu, {c.n + 1}, o.csr.rows);
        o.ccols = sn_test::make_i32(cpu, {nnz}, o.csr.cols);
        o.cvals = sn_test::make_tensor(cpu, SN_DTYPE_F16, {nnz}, o.vals);
        o.grows = sn_test::make_i32(gpu, {c.n + 1}, o.csr.rows);
        o.gcols = sn_test::make_i32(gpu, {nnz}, o.csr.cols);
        o.gvals = sn_test::make_tensor(gpu, SN_DTYPE_F16, {nnz}, o.vals);
    }
    return o;
}

// The bound on |GPU − CPU| of row `row` of the product (|x| <= 1): 1e-3 of the value and its
// addends for the F16 rounding, 2e-5·Σ_k |w| for the summation order, and for the prefill path,
// which rounds each dense + sparse sum to F16 before cuBLAS multiplies, 2^-11 of those sums.
std::vector<double> row_bounds(const Operands& o, const Case& c) {
    const int levels = 1 << c.bits;
    std::vector<double> bound(static_cast<size_t>(c.n), 0.0);
    for (int64_t row = 0; row < c.n; ++row) {
        double magnitude = 0.0, rounding = 0.0;
        for (int64_t column = 0; column < c.k; ++column) {
            magnitude += std::fabs(o.lut[row * levels + o.codes[row * c.k + column]]);
        }
        const bool sparse = !o.csr.rows.empty();
        for (int32_t j = sparse ? o.csr.rows[row] : 0; sparse && j < o.csr.rows[row + 1]; ++j) {
            magnitude += std::fabs(o.vals[j]);
            const double dense = o.lut[row * levels + o.codes[row * c.k + o.csr.cols[j]]];
            rounding += std::ldexp(std::fabs(dense) + std::fabs(o.vals[j]), -11);
        }
        bound[row] = 2e-5 * magnitude + rounding + 1e-5 + (c.bias ? 1e-3 * std::fabs(o.bias[row]) : 0.0);
    }
    return bound;
}

void check(sn_context* cpu, sn_context* gpu, const Case& c, uint32_t seed) {
    SCOPED_TRACE(c.name());
    Operands o = make_operands(cpu, gpu, c, seed);
    Tensor cout = sn_test::make_f32(cpu, {c.m, c.n}, o.initial);
    Tensor gout = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, c.n}, o.initial);
    ASSERT_SN_OK(sn_lut_matmul(cpu, o.cx, o.cq, o.clut, c.bits, o.crows, o.ccols, o.cvals, o.cpu_bias(c),
                               c.accumulate ? 1 : 0, cout));
    // Twice on the GPU. The first product follows sn_lut_repack, which wrote its codes: its kernel
    // must wait for the repack before reading them. The second follows a product that only read
    // the weights: its kernel streams them before waiting (kernels/lut_gemv.h, weights_settled).
    // Both must give the same values.
    Tensor gfirst = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, c.n}, o.initial);
    ASSERT_SN_OK(sn_lut_matmul(gpu, o.gx, o.gq, o.glut, c.bits, o.grows, o.gcols, o.gvals, o.gpu_bias(c),
                               c.accumulate ? 1 : 0, gfirst));
    ASSERT_SN_OK(sn_lut_matmul(gpu, o.gx, o.gq, o.glut, c.bits, o.grows, o.gcols, o.gvals, o.gpu_bias(c),
                               c.accumulate ? 1 : 0, gout));
    ASSERT_SN_OK(sn_context_synchronize(gpu));
    const std::vector<float> expected = sn_test::download_f32(cout);
    const std::vector<float> actual = sn_test::values_of(gout);
    EXPECT_EQ(sn_test::values_of(gfirst), actual) << "the product after the repack and the one after it differ";

    const std::vector<double> bounds = row_bounds(o, c);
    size_t failures = 0;
    for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t row = 0; row < c.n; ++row) {
            const size_t at = static_cast<size_t>(i * c.n + row);
            const double addend = c.accumulate ? std::fabs(o.initial[at]) : 0.0;
            const double bound = 1e-3 * (std::fabs(expected[at]) + addend) + bounds[row];
            if (!(std::fabs(actual[at] - expected[at]) <= bound) && failures++ < 5) {
                ADD_FAILURE() << "[" << i << ", " << row << "] is " << actual[at] << ", CPU " << expected[at];
            }
        }
    }
    EXPECT_EQ(failures, 0u);
}

// sn_lut_matmul_swiglu of a gate|up stack (c.n = 2I rows): on the GPU exactly sn_lut_matmul into
// [M, 2I] followed by sn_swiglu of its halves (the fused epilogue for M <= 8 and I % 16 == 0, the
// scratch path otherwise), and within the product's bounds, carried through silu(g)·u, of the
// CPU's sn_lut_matmul_swiglu.
void check_swiglu(sn_context* cpu, sn_context* gpu, const Case& c, uint32_t seed) {
    SCOPED_TRACE("swiglu " + c.name());
    const int64_t columns = c.n / 2;
    Operands o = make_operands(cpu, gpu, c, seed);
    Tensor cout(cpu, SN_DTYPE_F32, {c.m, columns});
    Tensor gout(gpu, SN_DTYPE_F16, {c.m, columns});
    ASSERT_SN_OK(sn_lut_matmul_swiglu(cpu, o.cx, o.cq, o.clut, c.bits, o.crows, o.ccols, o.cvals, o.cpu_bias(c), cout));
    ASSERT_SN_OK(sn_lut_matmul_swiglu(gpu, o.gx, o.gq, o.glut, c.bits, o.grows, o.gcols, o.gvals, o.gpu_bias(c), gout));
    // The unfused GPU pair: product [M, 2I], its halves as two [M, I] tensors, sn_swiglu.
    Tensor gproduct(gpu, SN_DTYPE_F16, {c.m, c.n});
    ASSERT_SN_OK(sn_lut_matmul(gpu, o.gx, o.gq, o.glut, c.bits, o.grows, o.gcols, o.gvals, o.gpu_bias(c), 0, gproduct));
    const std::vector<float> product = sn_test::values_of(gproduct);
    std::vector<float> gate(static_cast<size_t>(c.m * columns)), up(gate.size());
    for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t j = 0; j < columns; ++j) {
            gate[i * columns + j] = product[i * c.n + j];
            up[i * columns + j] = product[i * c.n + columns + j];
        }
    }
    Tensor ggate = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, columns}, gate);
    Tensor gup = sn_test::make_tensor(gpu, SN_DTYPE_F16, {c.m, columns}, up);
    Tensor gpair(gpu, SN_DTYPE_F16, {c.m, columns});
    ASSERT_SN_OK(sn_swiglu(gpu, ggate, gup, gpair));
    const std::vector<float> actual = sn_test::values_of(gout);
    EXPECT_EQ(actual, sn_test::values_of(gpair)) << "the fused op differs from sn_lut_matmul + sn_swiglu";

    // Against the CPU (which does not round g and u to F16): the error of g and u (their bounds,
    // plus the F16 rounding of each) carried through silu(g)·u, whose derivatives are at most
    // 1.1·|u| in g and |silu(g)| <= |g| + 0.3 in u, plus the F16 rounding of the result.
    Tensor cproduct(cpu, SN_DTYPE_F32, {c.m, c.n});
    ASSERT_SN_OK(sn_lut_matmul(cpu, o.cx, o.cq, o.clut, c.bits, o.crows, o.ccols, o.cvals, o.cpu_bias(c), 0, cproduct));
    const std::vector<float> cpu_product = sn_test::download_f32(cproduct);
    const std::vector<float> expected = sn_test::download_f32(cout);
    const std::vector<double> bounds = row_bounds(o, c);
    size_t failures = 0;
    for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t j = 0; j < columns; ++j) {
            const double g = cpu_product[i * c.n + j], u = cpu_product[i * c.n + columns + j];
            const double dg = 2e-3 * std::fabs(g) + bounds[j], du = 2e-3 * std::fabs(u) + bounds[columns + j];
            const double e = expected[i * columns + j];
            const double bound =
                1.1 * (std::fabs(u) + du) * dg + (std::fabs(g) + dg + 0.3) * du + 1e-3 * std::fabs(e) + 1e-5;
            const double a = actual[i * columns + j];
            if (!(std::fabs(a - e) <= bound) && failures++ < 5) {
                ADD_FAILURE() << "[" << i << ", " << j << "] is " << a << ", CPU " << e << " (bound " << bound << ")";
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
        for (const auto& [n, k] :
             {std::pair<int64_t, int64_t>{5, 32}, {77, 96}, {16, 256}, {33, 288}, {1029, 4096}, {257, 11008}}) {
            check(cpu, gpu, {bits, 1, n, k, 0.0, false, false}, seed++);
            check(cpu, gpu, {bits, 4, n, k, 3.0, true, true}, seed++);
            check(cpu, gpu, {bits, 16, n, k, 0.0, false, true}, seed++);
            check(cpu, gpu, {bits, 100, n, k, 3.0, true, true}, seed++);  // prefill: dequantize + cuBLAS
        }
    }
}

// Dense products of 9 .. 256 rows take the LUT-GEMM (kernels/lut_gemm.cu): row blocks of 16, 32
// and 64 rows with a partial last one, N past the last full block of 8 tiles, K with a partial
// last unit, bias and accumulate; few blocks with many units split K (partials summed by the
// reduce kernel), a single unit cannot (the epilogue writes out itself); 257 rows go to the
// prefill path again.
TEST_F(CudaLut, DenseProductsOfManyRowsOnTheLutGemm) {
    uint32_t seed = 1500;
    for (int bits : {3, 4}) {
        for (int64_t m : {9, 16, 17, 32, 33, 64, 65, 128, 130}) {
            check(cpu, gpu, {bits, m, 1031, 4128, 0.0, true, m % 2 == 1}, seed++);  // 17 units: split
            check(cpu, gpu, {bits, m, 1031, 256, 0.0, m % 2 == 0, true}, seed++);   // one unit: no split
        }
        check(cpu, gpu, {bits, 200, 33, 288, 0.0, true, false}, seed++);
        check(cpu, gpu, {bits, 40, 300, 11008, 0.0, false, false}, seed++);
        check(cpu, gpu, {bits, 256, 129, 1024, 0.0, true, true}, seed++);
        check(cpu, gpu, {bits, 257, 129, 1024, 0.0, true, true}, seed++);
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

// The balanced sparse kernel (kernels/lut_gemv.cu) at its warp boundaries (256 entries each):
// rows that end exactly at one, a row of exactly one warp's entries, rows that span three
// warps, runs of empty rows between them, and a single row holding every entry.
TEST_F(CudaLut, SparseRowsAtAndAcrossWarpBoundaries) {
    const int64_t n = 40, k = 1024;
    const std::vector<int64_t> counts = {256, 0, 0, 256, 100, 156, 0, 700, 1, 0, 0, 0, 255, 1, 512, 3};
    sn_test::Csr csr;
    csr.rows.push_back(0);
    std::mt19937 rng(77);
    std::uniform_real_distribution<float> value(-2.0f, 2.0f);
    for (int64_t row = 0; row < n; ++row) {
        const int64_t count = row < static_cast<int64_t>(counts.size()) ? counts[static_cast<size_t>(row)] : row % 3;
        for (int64_t j = 0; j < count; ++j) {
            csr.cols.push_back(static_cast<int32_t>((j * 7 + row) % k));  // distinct while count <= k
            csr.vals.push_back(value(rng));
        }
        // columns of a row ascending, as a CSR holds them
        std::sort(csr.cols.end() - count, csr.cols.end());
        csr.rows.push_back(static_cast<int32_t>(csr.cols.size()));
    }
    sn_test::Csr one_row;
    one_row.rows = {0, 1000};
    for (int32_t j = 0; j < 1000; ++j) {
        one_row.cols.push_back(j);
        one_row.vals.push_back(value(rng));
    }
    uint32_t seed = 3100;
    for (int bits : {3, 4}) {
        for (int64_t m : {1, 3, 8, 17}) {
            check(cpu, gpu, {bits, m, n, k, 0.0, false, true, &csr}, seed++);
            check(cpu, gpu, {bits, m, 1, k, 0.0, true, false, &one_row}, seed++);
        }
    }
}

// The fused SwiGLU epilogue (M <= 8, I % 16 == 0, no sparse part: one launch, a gate and an up
// tile per block) and the scratch path (M > 8, I not a multiple of 16, or a sparse part), with and
// without a bias, at K that pads the last unit, and at LLaMA-7B's gate|up shape with and without
// the skewed outliers.
TEST_F(CudaLut, SwigluEqualsTheProductThenSwiglu) {
    uint32_t seed = 2300;
    for (int bits : {3, 4}) {
        for (int64_t m : {1, 2, 8, 9, 70}) {
            check_swiglu(cpu, gpu, {bits, m, 2 * 48, 4128, 6.0, true, false}, seed++);
            check_swiglu(cpu, gpu, {bits, m, 2 * 48, 4128, 0.0, true, false}, seed++);  // ring refilled
            check_swiglu(cpu, gpu, {bits, m, 2 * 40, 288, 0.0, false, false}, seed++);
        }
        check_swiglu(cpu, gpu, {bits, 1, 2 * 16, 32, 2.0, false, false}, seed++);
        check_swiglu(cpu, gpu, {bits, 1, 2 * 11008, 4096, 18.0, false, false}, seed++);
        check_swiglu(cpu, gpu, {bits, 4, 2 * 11008, 4096, 18.0, false, false}, seed++);
        check_swiglu(cpu, gpu, {bits, 1, 2 * 11008, 4096, 0.0, true, false}, seed++);
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
