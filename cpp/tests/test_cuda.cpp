// sn_tests_cuda: every CUDA op against the CPU op on the same random inputs (one context of each
// backend), on odd shapes, plus what only the CUDA backend does: graphs, memory figures, out of
// memory, device errors reported later, bad ordinals. Skips itself where no CUDA device is usable.
//
// Inputs are drawn once, rounded to the dtype the CUDA tensor stores (F16 mostly), and given to
// the CPU as F32 of exactly those values, so both backends compute the same function; the
// tolerances then only cover the CUDA side's rounding:
//   - an F16 output is rounded once from F32: relative error <= 2^-11 = 4.9e-4, so 1e-3·|x| (2×);
//   - BF16: 2^-8 = 3.9e-3, so 8e-3·|x|;
//   - F32 results differ only by summation order and expf vs the CPU's exp polynomial: ~1e-6
//     relative, so 1e-5 with a small absolute term for values near zero.
#include "cuda_test_support.h"
#include "test_support.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <string>

using sn_test::count_of;
using sn_test::create_context;
using sn_test::cuda_usable;
using sn_test::CudaVsCpu;
using sn_test::Tensor;
using sn_test::Twin;
using sn_test::twin;
using sn_test::twin_i32;
using sn_test::values_of;

namespace {

// ---- twin tensors -------------------------------------------------------------------------

std::vector<double> as_double(const std::vector<float>& values) {
    return std::vector<double>(values.begin(), values.end());
}

// The CUDA result against the CPU result of the same op.
void expect_match(const Twin& out, double abs_tol, double rel_tol, const std::string& what) {
    sn_test::expect_close(values_of(out.gpu), as_double(values_of(out.cpu)), abs_tol, rel_tol, what);
}

double relative_tolerance(sn_dtype dtype) {
    return dtype == SN_DTYPE_F16 ? 1e-3 : dtype == SN_DTYPE_BF16 ? 8e-3 : 1e-5;
}

const char* name_of(sn_dtype dtype) {
    return dtype == SN_DTYPE_F16 ? "F16" : dtype == SN_DTYPE_BF16 ? "BF16" : "F32";
}

// ---- transfers -------------------------------------------------------------------------------

// Large transfers go through the context's pinned staging buffers in 16 MiB chunks (two of them in
// turn), small ones directly: sizes on both sides of the 4 MiB threshold, whole chunks, a partial
// last chunk, and more chunks than buffers, each byte round-tripped exactly.
TEST_F(CudaVsCpu, UploadAndDownloadOfEverySizeRoundTripExactly) {
    for (const int64_t bytes : {int64_t{4} << 20 | 4, (int64_t{4} << 20) - 4, int64_t{16} << 20, int64_t{32} << 20,
                                (int64_t{53} << 20) + 12}) {
        std::vector<int32_t> values(static_cast<size_t>(bytes / 4));
        uint32_t state = static_cast<uint32_t>(bytes);
        for (int32_t& value : values) value = static_cast<int32_t>(state = state * 1664525u + 1013904223u);
        Tensor tensor(gpu, SN_DTYPE_I32, {bytes / 4});
        ASSERT_SN_OK(sn_tensor_upload(tensor, values.data(), static_cast<size_t>(bytes)));
        std::vector<int32_t> back(values.size(), 0);
        ASSERT_SN_OK(sn_tensor_download(tensor, back.data(), static_cast<size_t>(bytes)));
        EXPECT_TRUE(back == values) << bytes << " bytes";
    }
}

// ---- ops ------------------------------------------------------------------------------------

TEST_F(CudaVsCpu, CopyConvertsBitForBitAndCopiesAnyDtype) {
    const std::vector<float> values = sn_test::random_floats(10007, 1, -70000.0f, 70000.0f);
    for (sn_dtype from : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
        for (sn_dtype to : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
            Twin source = twin(cpu, gpu, from, {10007}, values, from);
            Twin target{Tensor(cpu, to, {10007}), Tensor(gpu, to, {10007})};
            ASSERT_SN_OK(sn_copy(cpu, source.cpu, target.cpu));
            ASSERT_SN_OK(sn_copy(gpu, source.gpu, target.gpu));
            // Values beyond F16's range become inf on both: compare as floats, exactly.
            EXPECT_EQ(values_of(target.gpu), values_of(target.cpu)) << name_of(from) << " -> " << name_of(to);
        }
    }
    const std::vector<int32_t> ints = {5, -7, 2147483647, 0, 3, 9};
    Twin a = twin_i32(cpu, gpu, {2, 3}, ints);
    Tensor reshaped(gpu, SN_DTYPE_I32, {6});
    ASSERT_SN_OK(sn_copy(gpu, a.gpu, reshaped));
    std::vector<int32_t> back(6);
    ASSERT_SN_OK(sn_tensor_download(reshaped, back.data(), 24));
    EXPECT_EQ(back, ints);
    // Partially overlapping views: a move the CUDA backend does not do.
    const int64_t dims[] = {4};
    sn_tensor *first = nullptr, *second = nullptr;
    ASSERT_SN_OK(sn_tensor_view(reshaped, 0, dims, 1, &first));
    ASSERT_SN_OK(sn_tensor_view(reshaped, 1, dims, 1, &second));
    Tensor first_view(first), second_view(second);
    EXPECT_SN_ERROR(sn_copy(gpu, first_view, second_view), SN_ERR_UNSUPPORTED, "partially overlapping");
}

struct MatmulShape {
    int64_t m, n, k;
};

// out (+)= x·Wᵀ + bias on both backends; tolerance from Σ|x·w| (F32 summation order) plus the
// output's rounding, which for matmul_add also covers the rounded starting value and bias.
// The bias is stored in `bias_dtype`.
void check_matmul_bias_dtype(sn_context* cpu, sn_context* gpu, const MatmulShape& s, sn_dtype dtype, sn_dtype out_dtype,
                             bool with_bias, bool accumulate, uint32_t seed, sn_dtype bias_dtype) {
    const std::string what = std::string(accumulate ? "matmul_add" : "matmul") + " M=" + std::to_string(s.m) +
                             " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k) + " " + name_of(dtype) + "->" +
                             name_of(out_dtype) + (with_bias ? std::string(" +bias ") + name_of(bias_dtype) : "");
    SCOPED_TRACE(what);
    const std::vector<float> x = sn_test::rounded_to(dtype, sn_test::random_floats(s.m * s.k, seed));
    const std::vector<float> w = sn_test::rounded_to(dtype, sn_test::random_floats(s.n * s.k, seed + 1));
    const std::vector<float> bias = sn_test::rounded_to(bias_dtype, sn_test::random_floats(s.n, seed + 2));
    const std::vector<float> initial = sn_test::rounded_to(out_dtype, sn_test::random_floats(s.m * s.n, seed + 3));
    Twin tx = twin(cpu, gpu, dtype, {s.m, s.k}, x);
    Twin tw = twin(cpu, gpu, dtype, {s.n, s.k}, w, dtype);
    Twin tb = twin(cpu, gpu, bias_dtype, {s.n}, bias, bias_dtype);
    Twin out = twin(cpu, gpu, out_dtype, {s.m, s.n}, initial);
    const sn_tensor* cpu_bias = with_bias ? tb.cpu.get() : nullptr;
    const sn_tensor* gpu_bias = with_bias ? tb.gpu.get() : nullptr;
    if (accumulate) {
        ASSERT_SN_OK(sn_matmul_add(cpu, tx.cpu, tw.cpu, cpu_bias, out.cpu));
        ASSERT_SN_OK(sn_matmul_add(gpu, tx.gpu, tw.gpu, gpu_bias, out.gpu));
    } else {
        ASSERT_SN_OK(sn_matmul(cpu, tx.cpu, tw.cpu, cpu_bias, out.cpu));
        ASSERT_SN_OK(sn_matmul(gpu, tx.gpu, tw.gpu, gpu_bias, out.gpu));
    }
    const std::vector<float> expected = values_of(out.cpu);
    const std::vector<float> actual = values_of(out.gpu);
    const double rel = relative_tolerance(out_dtype);
    size_t failures = 0;
    for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = 0; j < s.n; ++j) {
            double magnitude = 0.0;
            for (int64_t kk = 0; kk < s.k; ++kk) magnitude += std::fabs(x[i * s.k + kk] * w[j * s.k + kk]);
            const size_t at = static_cast<size_t>(i * s.n + j);
            const double addends = (with_bias ? std::fabs(bias[j]) : 0.0) + (accumulate ? std::fabs(initial[at]) : 0.0);
            const double bound = rel * (std::fabs(expected[at]) + addends) + 2e-5 * magnitude + 1e-6;
            if (std::fabs(actual[at] - expected[at]) > bound && failures++ < 5) {
                ADD_FAILURE() << "[" << i << ", " << j << "] is " << actual[at] << ", CPU " << expected[at];
            }
        }
    }
    EXPECT_EQ(failures, 0u);
}

// The bias, when there is one, in the operands' dtype.
void check_matmul(sn_context* cpu, sn_context* gpu, const MatmulShape& s, sn_dtype dtype, sn_dtype out_dtype,
                  bool with_bias, bool accumulate, uint32_t seed) {
    check_matmul_bias_dtype(cpu, gpu, s, dtype, out_dtype, with_bias, accumulate, seed, dtype);
}

TEST_F(CudaVsCpu, MatmulOddShapesEveryDtypeBiasAndResidual) {
    const MatmulShape shapes[] = {{1, 1, 1},       {1, 13, 11},      {1, 67, 600},    {3, 17, 29},
                                  {5, 31, 257},    {13, 65, 129},    {64, 96, 300},   {7, 4133, 9},
                                  {1, 4096, 4096}, {2, 11008, 4096}, {1, 4096, 11008}};
    uint32_t seed = 10;
    for (const MatmulShape& s : shapes) {
        check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, false, false, seed++);
        check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, true, false, seed++);
        check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F32, true, false, seed++);  // the LM head: F32 logits
        check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, true, true, seed++);
        check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, false, true, seed++);
    }
    for (const MatmulShape& s : {MatmulShape{1, 67, 600}, MatmulShape{13, 65, 129}}) {
        check_matmul(cpu, gpu, s, SN_DTYPE_BF16, SN_DTYPE_BF16, true, false, seed++);
        check_matmul(cpu, gpu, s, SN_DTYPE_BF16, SN_DTYPE_F32, false, true, seed++);
        check_matmul(cpu, gpu, s, SN_DTYPE_F32, SN_DTYPE_F32, true, true, seed++);
    }
}

// F16 with M <= 8 rows, K a multiple of 8 and aligned operands runs the hand-written GEMV
// (kernels/gemv.cu); M >= 9, K % 8 != 0 (K = 4099, 7) and misaligned views run cuBLAS. Every
// row count on both sides of that line, N not a multiple of the GEMV's 8-row blocks (odd, and
// below 8), K a multiple of 8 but not of its 32-wide warp step (4104, 24, 8), and the LLaMA
// widths; with and without bias (F16, F32, BF16), matmul_add, and F32 out. Tolerances as in
// check_matmul: the F16 output's rounding (1e-3 relative: one ulp is at most 2^-10 relative, the
// difference where the two F32 sums straddle a rounding boundary) plus 2e-5·Σ|x·w| for the
// different F32 summation order (the GEMV sums on the tensor cores, 16 products a step).
TEST_F(CudaVsCpu, GemvEveryRowCountOddShapesBiasResidual) {
    uint32_t seed = 500;
    for (int64_t m = 1; m <= 9; ++m) {
        for (const MatmulShape& s : {MatmulShape{m, 1031, 4104}, MatmulShape{m, 1029, 4096}, MatmulShape{m, 1031, 4099},
                                     MatmulShape{m, 5, 24}, MatmulShape{m, 77, 8}, MatmulShape{m, 19, 7}}) {
            check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, false, false, seed++);
            check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, true, false, seed++);
            check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F32, true, false, seed++);
            check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, true, true, seed++);
            check_matmul(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F32, false, true, seed++);
        }
    }
    for (const MatmulShape& s : {MatmulShape{1, 1031, 4104}, MatmulShape{3, 1029, 4096}}) {
        check_matmul_bias_dtype(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F16, true, true, seed++, SN_DTYPE_F32);
        check_matmul_bias_dtype(cpu, gpu, s, SN_DTYPE_F16, SN_DTYPE_F32, true, false, seed++, SN_DTYPE_BF16);
    }
    // The decode shapes: fused qkv, fused gate|up, down, and the LM head's F32 logits.
    check_matmul(cpu, gpu, {1, 12288, 4096}, SN_DTYPE_F16, SN_DTYPE_F16, false, false, seed++);
    check_matmul(cpu, gpu, {1, 22016, 4096}, SN_DTYPE_F16, SN_DTYPE_F16, false, false, seed++);
    check_matmul(cpu, gpu, {8, 4096, 11008}, SN_DTYPE_F16, SN_DTYPE_F16, false, true, seed++);
    check_matmul(cpu, gpu, {1, 32000, 4096}, SN_DTYPE_F16, SN_DTYPE_F32, false, false, seed++);
}

// The GEMV's 16-byte loads need 16-byte aligned x and W: a view one element in (K a multiple of
// 8) must go to cuBLAS instead and give the same result.
TEST_F(CudaVsCpu, GemvOnMisalignedViewWithAlignedK) {
    const int64_t m = 3, n = 21, k = 64;
    const std::vector<float> x = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(m * k + 1, 60));
    const std::vector<float> w = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(n * k, 61));
    Twin x_base = twin(cpu, gpu, SN_DTYPE_F16, {m * k + 1}, x);
    Twin tw = twin(cpu, gpu, SN_DTYPE_F16, {n, k}, w, SN_DTYPE_F16);
    Twin out = twin(cpu, gpu, SN_DTYPE_F16, {m, n}, sn_test::random_floats(m * n, 62));
    const int64_t x_dims[] = {m, k};
    sn_tensor* raw = nullptr;
    ASSERT_SN_OK(sn_tensor_view(x_base.cpu, 1, x_dims, 2, &raw));
    Tensor x_cpu(raw);
    ASSERT_SN_OK(sn_tensor_view(x_base.gpu, 1, x_dims, 2, &raw));
    Tensor x_gpu(raw);
    ASSERT_SN_OK(sn_matmul(cpu, x_cpu, tw.cpu, nullptr, out.cpu));
    ASSERT_SN_OK(sn_matmul(gpu, x_gpu, tw.gpu, nullptr, out.gpu));
    // Inputs in [-1, 1], K = 64: |result| < 65; F16 rounding of the result.
    expect_match(out, 4e-2, 2e-3, "matmul on a view at offset 1, K = 64");
}

// Views at odd element offsets (2-byte aligned F16 pointers): cuBLAS must pick kernels that do
// not assume 16-byte alignment.
TEST_F(CudaVsCpu, MatmulOnUnalignedViews) {
    const int64_t n = 7, k = 33;
    const std::vector<float> x = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(k + 1, 50));
    const std::vector<float> w = sn_test::rounded_to(SN_DTYPE_F16, sn_test::random_floats(n * k, 51));
    Twin x_base = twin(cpu, gpu, SN_DTYPE_F16, {1, k + 1}, x);
    Twin tw = twin(cpu, gpu, SN_DTYPE_F16, {n, k}, w, SN_DTYPE_F16);
    Twin out_base = twin(cpu, gpu, SN_DTYPE_F16, {1, n + 3}, sn_test::random_floats(n + 3, 52));
    const int64_t x_dims[] = {1, k}, out_dims[] = {1, n};
    sn_tensor* raw = nullptr;
    ASSERT_SN_OK(sn_tensor_view(x_base.cpu, 1, x_dims, 2, &raw));
    Tensor x_cpu(raw);
    ASSERT_SN_OK(sn_tensor_view(x_base.gpu, 1, x_dims, 2, &raw));
    Tensor x_gpu(raw);
    ASSERT_SN_OK(sn_tensor_view(out_base.cpu, 3, out_dims, 2, &raw));
    Tensor out_cpu(raw);
    ASSERT_SN_OK(sn_tensor_view(out_base.gpu, 3, out_dims, 2, &raw));
    Tensor out_gpu(raw);
    ASSERT_SN_OK(sn_matmul_add(cpu, x_cpu, tw.cpu, nullptr, out_cpu));
    ASSERT_SN_OK(sn_matmul_add(gpu, x_gpu, tw.gpu, nullptr, out_gpu));
    // Inputs in [-1, 1], K = 33: |result| < 34; F16 rounding of the result and the start value.
    expect_match(out_base, 2e-2, 2e-3, "matmul_add on views at offsets 1 and 3");
}

TEST_F(CudaVsCpu, MatmulRejectsMixedOperandDtypes) {
    Tensor x(gpu, SN_DTYPE_F16, {2, 8});
    Tensor w(gpu, SN_DTYPE_F32, {3, 8});
    Tensor out(gpu, SN_DTYPE_F16, {2, 3});
    EXPECT_SN_ERROR(sn_matmul(gpu, x, w, nullptr, out), SN_ERR_UNSUPPORTED, "got x F16, weight F32, out F16");
    Tensor w16(gpu, SN_DTYPE_F16, {3, 8});
    Tensor out_bf16(gpu, SN_DTYPE_BF16, {2, 3});
    EXPECT_SN_ERROR(sn_matmul(gpu, x, w16, nullptr, out_bf16), SN_ERR_UNSUPPORTED, "out BF16");
}

TEST_F(CudaVsCpu, AddMulBroadcastInPlace) {
    for (sn_dtype dtype : {SN_DTYPE_F16, SN_DTYPE_BF16, SN_DTYPE_F32}) {
        const std::vector<int64_t> dims = {7, 33};
        Twin a = twin(cpu, gpu, dtype, dims, sn_test::random_floats(7 * 33, 1, -3.0f, 3.0f));
        Twin b = twin(cpu, gpu, dtype, dims, sn_test::random_floats(7 * 33, 2, -3.0f, 3.0f));
        Twin row = twin(cpu, gpu, SN_DTYPE_F16, {33}, sn_test::random_floats(33, 3), SN_DTYPE_F16);
        Twin out{Tensor(cpu, SN_DTYPE_F32, dims), Tensor(gpu, dtype, dims)};
        // The CPU takes F32 for every operand: widen the F16 row there.
        Tensor row_cpu(cpu, SN_DTYPE_F32, {33});
        ASSERT_SN_OK(sn_copy(cpu, row.cpu, row_cpu));
        ASSERT_SN_OK(sn_add(cpu, a.cpu, b.cpu, out.cpu));
        ASSERT_SN_OK(sn_add(gpu, a.gpu, b.gpu, out.gpu));
        expect_match(out, 1e-6, relative_tolerance(dtype), std::string("add ") + name_of(dtype));
        ASSERT_SN_OK(sn_mul(cpu, a.cpu, row_cpu, a.cpu));  // broadcast, in place
        ASSERT_SN_OK(sn_mul(gpu, a.gpu, row.gpu, a.gpu));
        expect_match(a, 1e-6, relative_tolerance(dtype), std::string("mul broadcast in place ") + name_of(dtype));
    }
}

TEST_F(CudaVsCpu, Activations) {
    const std::vector<int64_t> dims = {3, 1001};
    const std::vector<float> values = sn_test::random_floats(3 * 1001, 4, -12.0f, 12.0f);
    for (sn_dtype dtype : {SN_DTYPE_F16, SN_DTYPE_F32}) {
        const double rel = relative_tolerance(dtype);
        for (int op = 0; op < 4; ++op) {
            Twin x = twin(cpu, gpu, dtype, dims, values);
            Twin out{Tensor(cpu, SN_DTYPE_F32, dims), Tensor(gpu, dtype, dims)};
            const auto run = [&](sn_context* context, const Tensor& in, const Tensor& result) {
                switch (op) {
                    case 0:
                        return sn_silu(context, in, result);
                    case 1:
                        return sn_relu(context, in, result);
                    case 2:
                        return sn_gelu(context, in, 0, result);
                    default:
                        return sn_gelu(context, in, 1, result);
                }
            };
            ASSERT_SN_OK(run(cpu, x.cpu, out.cpu));
            ASSERT_SN_OK(run(gpu, x.gpu, out.gpu));
            // erf/tanh/exp of CUDA's libdevice are within 2 ulp of F32: absolute 1e-6 near zero.
            expect_match(out, 2e-6, rel, "activation " + std::to_string(op) + " " + name_of(dtype));
        }
        Twin gate = twin(cpu, gpu, dtype, dims, values);
        Twin up = twin(cpu, gpu, dtype, dims, sn_test::random_floats(3 * 1001, 5, -2.0f, 2.0f));
        ASSERT_SN_OK(sn_swiglu(cpu, gate.cpu, up.cpu, gate.cpu));
        ASSERT_SN_OK(sn_swiglu(gpu, gate.gpu, up.gpu, gate.gpu));
        expect_match(gate, 2e-6, rel, std::string("swiglu in place ") + name_of(dtype));
    }
}

TEST_F(CudaVsCpu, NormsAndSoftmaxOverOddRows) {
    // Widths a multiple of 8 up to 32768 take the vectorised RMSNorm (1, 2 or 4 chunks of 8 per
    // thread: 1000, 4096, 5120, 24576), the others the strided one (19, 4097, 40000).
    for (int64_t width : {1, 19, 1000, 4096, 4097, 5120, 24576, 40000}) {
        for (int64_t rows : {1, 7}) {
            for (sn_dtype dtype : {SN_DTYPE_F16, SN_DTYPE_BF16, SN_DTYPE_F32}) {
                const sn_dtype weight_dtype = dtype == SN_DTYPE_BF16 ? SN_DTYPE_F32 : SN_DTYPE_F16;
                const std::string what = "rows=" + std::to_string(rows) + " D=" + std::to_string(width) + " " +
                                         name_of(dtype) + " weight " + name_of(weight_dtype);
                const std::vector<int64_t> dims = {rows, width};
                // A large common offset: LayerNorm must not lose the spread to the mean.
                const std::vector<float> values = sn_test::random_floats(rows * width, 6, 40.0f, 44.0f);
                Twin weight =
                    twin(cpu, gpu, weight_dtype, {width}, sn_test::random_floats(width, 7, 0.5f, 1.5f), weight_dtype);
                Twin bias = twin(cpu, gpu, SN_DTYPE_F32, {width}, sn_test::random_floats(width, 8), SN_DTYPE_F32);
                Twin x = twin(cpu, gpu, dtype, dims, values);
                Twin out{Tensor(cpu, SN_DTYPE_F32, dims), Tensor(gpu, dtype, dims)};
                ASSERT_SN_OK(sn_rms_norm(cpu, x.cpu, weight.cpu, 1e-5f, out.cpu));
                ASSERT_SN_OK(sn_rms_norm(gpu, x.gpu, weight.gpu, 1e-5f, out.gpu));
                expect_match(out, 1e-5, relative_tolerance(dtype), "rms_norm " + what);
                if (width > 1) {
                    ASSERT_SN_OK(sn_layer_norm(cpu, x.cpu, weight.cpu, bias.cpu, 1e-5f, out.cpu));
                    ASSERT_SN_OK(sn_layer_norm(gpu, x.gpu, weight.gpu, bias.gpu, 1e-5f, out.gpu));
                    // Normalised values are O(1); F32 statistics of an offset row lose ~1e-5 absolute.
                    expect_match(out, dtype == SN_DTYPE_F16 ? 4e-3 : 1e-4, relative_tolerance(dtype),
                                 "layer_norm " + what);
                }
                Twin logits = twin(cpu, gpu, dtype, dims, sn_test::random_floats(rows * width, 9, -20.0f, 20.0f));
                ASSERT_SN_OK(sn_softmax(cpu, logits.cpu, logits.cpu));
                ASSERT_SN_OK(sn_softmax(gpu, logits.gpu, logits.gpu));
                expect_match(logits, 1e-7, 2 * relative_tolerance(dtype), "softmax in place " + what);
            }
        }
    }
}

TEST_F(CudaVsCpu, RopeAtShortAndLongPositions) {
    struct Case {
        int64_t heads, head_dim;
        float theta;
        std::vector<int32_t> positions;
    };
    const Case cases[] = {
        {4, 64, 10000.0f, {0, 17, 4095}}, {3, 128, 1000000.0f, {100000}}, {1, 6, 10000.0f, {2, 1, 0, 9}}};
    for (const Case& c : cases) {
        for (sn_dtype dtype : {SN_DTYPE_F16, SN_DTYPE_F32}) {
            const int64_t tokens = static_cast<int64_t>(c.positions.size());
            const std::vector<int64_t> dims = {tokens, c.heads, c.head_dim};
            Twin x = twin(cpu, gpu, dtype, dims, sn_test::random_floats(count_of(dims), 10, -2.0f, 2.0f));
            Twin positions = twin_i32(cpu, gpu, {tokens}, c.positions);
            ASSERT_SN_OK(sn_rope(cpu, x.cpu, positions.cpu, c.theta, x.cpu));
            ASSERT_SN_OK(sn_rope(gpu, x.gpu, positions.gpu, c.theta, x.gpu));
            // Same float angles; cos/sin may differ by 1 ulp: 1e-6 absolute for |x| <= 2.
            expect_match(x, 2e-6, relative_tolerance(dtype),
                         std::string("rope Dh=") + std::to_string(c.head_dim) + " " + name_of(dtype));
        }
    }
}

TEST_F(CudaVsCpu, EmbeddingAndKvWriteAreExact) {
    const int64_t vocabulary = 1000, width = 77;
    const std::vector<int32_t> ids = {3, 999, 0, 3, 512};
    Twin table = twin(cpu, gpu, SN_DTYPE_F16, {vocabulary, width},
                      sn_test::random_floats(vocabulary * width, 11, -2.0f, 2.0f), SN_DTYPE_F16);
    Twin tids = twin_i32(cpu, gpu, {5}, ids);
    for (sn_dtype out_dtype : {SN_DTYPE_F16, SN_DTYPE_F32}) {
        Twin out{Tensor(cpu, SN_DTYPE_F32, {5, width}), Tensor(gpu, out_dtype, {5, width})};
        ASSERT_SN_OK(sn_embedding(cpu, table.cpu, tids.cpu, out.cpu));
        ASSERT_SN_OK(sn_embedding(gpu, table.gpu, tids.gpu, out.gpu));
        EXPECT_EQ(values_of(out.gpu), values_of(out.cpu)) << name_of(out_dtype);
    }
    const int64_t heads = 3, head_dim = 20, cache_len = 9;
    Twin src = twin(cpu, gpu, SN_DTYPE_F16, {2, heads, head_dim}, sn_test::random_floats(2 * heads * head_dim, 12));
    Twin positions = twin_i32(cpu, gpu, {2}, {7, 2});
    Twin cache = twin(cpu, gpu, SN_DTYPE_F16, {cache_len, heads, head_dim},
                      sn_test::random_floats(cache_len * heads * head_dim, 13));
    ASSERT_SN_OK(sn_kv_write(cpu, src.cpu, positions.cpu, cache.cpu));
    ASSERT_SN_OK(sn_kv_write(gpu, src.gpu, positions.gpu, cache.gpu));
    EXPECT_EQ(values_of(cache.gpu), values_of(cache.cpu));
}

// Bad indices live on the device: the call succeeds, the next synchronize or download reports
// the first one (op, argument, index, value), and the context goes on working.
TEST_F(CudaVsCpu, BadDeviceIndicesAreReportedAtTheNextSynchronize) {
    Tensor table = sn_test::make_tensor(gpu, SN_DTYPE_F16, {4, 3}, std::vector<float>(12, 1.0f));
    Tensor ids = sn_test::make_i32(gpu, {3}, {1, 4, 2});
    Tensor out(gpu, SN_DTYPE_F16, {3, 3});
    ASSERT_SN_OK(sn_embedding(gpu, table, ids, out));
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT, "embedding on this context read ids[1] = 4");
    EXPECT_EQ(values_of(out), (std::vector<float>{1, 1, 1, 0, 0, 0, 1, 1, 1}));
    ASSERT_SN_OK(sn_context_synchronize(gpu));  // reported once

    Tensor src = sn_test::make_tensor(gpu, SN_DTYPE_F16, {1, 1, 3}, {5, 6, 7});
    Tensor position = sn_test::make_i32(gpu, {1}, {-1});
    Tensor cache(gpu, SN_DTYPE_F16, {2, 1, 3});
    ASSERT_SN_OK(sn_kv_write(gpu, src, position, cache));
    std::vector<uint16_t> host(6);
    EXPECT_SN_ERROR(sn_tensor_download(cache, host.data(), 12), SN_ERR_INVALID_ARGUMENT, "positions[0] = -1");
    EXPECT_EQ(values_of(cache), std::vector<float>(6, 0.0f));

    Tensor logits = sn_test::make_f32(gpu, {2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor targets = sn_test::make_i32(gpu, {2}, {0, 3});
    Tensor losses(gpu, SN_DTYPE_F32, {2});
    ASSERT_SN_OK(sn_cross_entropy(gpu, logits, targets, losses));
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT, "targets[1] = 3");
    const std::vector<float> loss_values = sn_test::download_f32(losses);
    EXPECT_TRUE(std::isnan(loss_values[1]));
    EXPECT_NEAR(loss_values[0], std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 1.0, 1e-5);

    Tensor q = sn_test::make_tensor(gpu, SN_DTYPE_F16, {1, 1, 4}, {1, 1, 1, 1});
    Tensor kv = sn_test::make_tensor(gpu, SN_DTYPE_F16, {2, 1, 4}, std::vector<float>(8, 1.0f));
    Tensor at = sn_test::make_i32(gpu, {1}, {2});
    Tensor attended(gpu, SN_DTYPE_F16, {1, 1, 4});
    ASSERT_SN_OK(sn_attention(gpu, q, at, kv, kv, 0, 0.5f, attended));
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT,
                    "attention on this context read positions[0] = 2");
}

struct AttentionCase {
    const char* name;
    int64_t q_heads, kv_heads, head_dim, cache_len;
    int32_t window;
    std::vector<int32_t> positions;
    float range;  // q and k in [-range, range]
};

std::vector<int32_t> consecutive(int32_t first, int32_t count) {
    std::vector<int32_t> positions(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i) positions[i] = first + i;
    return positions;
}

TEST_F(CudaVsCpu, AttentionDecodeAndPrefillGqaWindowsLongCaches) {
    const AttentionCase cases[] = {
        {"decode, first position", 2, 2, 8, 1, 0, {0}, 2.0f},
        {"decode GQA 6:1, odd Dh", 6, 1, 20, 40, 0, {33}, 2.0f},
        {"decode over a long cache (split keys)", 32, 8, 128, 4096, 0, {4000}, 2.0f},
        {"decode Dh 256 with window", 4, 2, 256, 700, 100, {650}, 2.0f},
        {"three decode rows, scattered", 8, 2, 64, 3000, 0, {2999, 5, 1024}, 2.0f},
        {"prefill GQA 4:2, odd Dh", 4, 2, 6, 16, 0, consecutive(0, 13), 2.0f},
        {"prefill after cached tokens", 4, 4, 64, 300, 0, consecutive(9, 37), 2.0f},
        {"prefill with window across tiles", 4, 2, 32, 300, 40, consecutive(7, 290), 2.0f},
        {"prefill Dh 128 long", 2, 1, 128, 700, 0, consecutive(0, 600), 2.0f},
        {"prefill Dh 256", 2, 2, 256, 80, 0, consecutive(0, 70), 2.0f},
        {"prefill scattered positions", 6, 2, 12, 64, 5, {63, 0, 12, 40, 41, 6, 20, 3, 3, 50}, 2.0f},
        // OPT-like logits in the thousands: scores must be F32 (F16 products would saturate the
        // softmax differently); the result is then nearly one-hot.
        {"large logits, decode", 4, 4, 64, 50, 0, {49}, 8.0f},
        {"large logits, prefill", 4, 4, 64, 50, 0, consecutive(0, 50), 8.0f},
    };
    for (const AttentionCase& c : cases) {
        for (sn_dtype dtype : {SN_DTYPE_F16, SN_DTYPE_F32}) {
            SCOPED_TRACE(std::string(c.name) + " " + name_of(dtype));
            const int64_t tokens = static_cast<int64_t>(c.positions.size());
            const std::vector<int64_t> q_dims = {tokens, c.q_heads, c.head_dim};
            const std::vector<int64_t> kv_dims = {c.cache_len, c.kv_heads, c.head_dim};
            Twin q = twin(cpu, gpu, dtype, q_dims, sn_test::random_floats(count_of(q_dims), 20, -c.range, c.range));
            Twin k = twin(cpu, gpu, dtype, kv_dims, sn_test::random_floats(count_of(kv_dims), 21, -c.range, c.range));
            Twin v = twin(cpu, gpu, dtype, kv_dims, sn_test::random_floats(count_of(kv_dims), 22));
            Twin positions = twin_i32(cpu, gpu, {tokens}, c.positions);
            Twin out{Tensor(cpu, SN_DTYPE_F32, q_dims), Tensor(gpu, dtype, q_dims)};
            const float scale = c.range > 4.0f ? 1.0f : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
            ASSERT_SN_OK(sn_attention(cpu, q.cpu, positions.cpu, k.cpu, v.cpu, c.window, scale, out.cpu));
            ASSERT_SN_OK(sn_attention(gpu, q.gpu, positions.gpu, k.gpu, v.gpu, c.window, scale, out.gpu));
            // Outputs are convex combinations of values in [-1, 1]: absolute tolerances. F16: one
            // rounding of the output (<= 4.9e-4) plus the F32 differences; F32: summation order
            // and exp implementations, ~1e-7·|score| per score. Scores in the hundreds (large
            // logits) carry ~1e-4 absolute score error into the weights, hence the looser bound.
            const bool large = c.range > 4.0f;
            expect_match(out, dtype == SN_DTYPE_F16 ? (large ? 3e-3 : 1.5e-3) : (large ? 1e-3 : 1e-4), 0.0, c.name);
        }
    }
}

TEST_F(CudaVsCpu, AttentionRejectsMixedDtypesAndHugeHeads) {
    Tensor q(gpu, SN_DTYPE_F16, {1, 2, 8});
    Tensor kv(gpu, SN_DTYPE_F32, {4, 2, 8});
    Tensor position = sn_test::make_i32(gpu, {1}, {0});
    Tensor out(gpu, SN_DTYPE_F16, {1, 2, 8});
    EXPECT_SN_ERROR(sn_attention(gpu, q, position, kv, kv, 0, 1.0f, out), SN_ERR_UNSUPPORTED, "one dtype");
    Tensor q_wide(gpu, SN_DTYPE_F16, {1, 1, 512});
    Tensor kv_wide(gpu, SN_DTYPE_F16, {4, 1, 512});
    Tensor out_wide(gpu, SN_DTYPE_F16, {1, 1, 512});
    EXPECT_SN_ERROR(sn_attention(gpu, q_wide, position, kv_wide, kv_wide, 0, 1.0f, out_wide), SN_ERR_UNSUPPORTED,
                    "head dimensions up to 256");
}

// ---- fused ops ------------------------------------------------------------------------------

// sn_rope_kv_write against the CPU (whose op is rope ×2 + kv_write ×2 bit for bit) on decode and
// prefill shapes (one head per block up to all of a token's heads per block, on an H100),
// every activation / cache dtype pair, theta = 0 (OPT) and heads wider than a block; and against
// the separate CUDA ops bit for bit (the kernels share the angle and the rotation code, and the
// conversions are the same).
TEST_F(CudaVsCpu, RopeKvWriteMatchesCpuAndTheSeparateOps) {
    struct Case {
        const char* name;
        int64_t q_heads, kv_heads, head_dim, cache_len;
        float theta;
        std::vector<int32_t> positions;
    };
    const Case cases[] = {
        {"LLaMA-7B decode", 32, 32, 128, 2048, 10000.0f, {2000}},
        {"GQA decode at 0", 32, 8, 128, 4096, 500000.0f, {0}},
        {"prefill after cached tokens", 4, 2, 64, 300, 10000.0f, consecutive(9, 37)},
        // Many tokens: blocks take several heads (7 of 36 here, a last block of 1), or all of them.
        {"prefill, blocks of several heads", 30, 6, 128, 300, 10000.0f, consecutive(0, 100)},
        {"long prefill, one block per token", 8, 2, 64, 600, 10000.0f, consecutive(0, 512)},
        {"tiny heads, scattered", 3, 1, 6, 20, 10000.0f, {19, 0, 7}},
        {"OPT, no rotation", 12, 12, 64, 100, 0.0f, {5, 6}},
        {"Dh/2 above a block", 2, 1, 600, 8, 10000.0f, {7}},
        {"odd Dh without rotation", 2, 2, 7, 8, 0.0f, {3}},
    };
    uint32_t seed = 900;
    for (const Case& c : cases) {
        for (sn_dtype dtype : {SN_DTYPE_F16, SN_DTYPE_F32}) {
            for (sn_dtype cache_dtype : {SN_DTYPE_F16, SN_DTYPE_F32, SN_DTYPE_BF16}) {
                SCOPED_TRACE(std::string(c.name) + " " + name_of(dtype) + " -> cache " + name_of(cache_dtype));
                const int64_t tokens = static_cast<int64_t>(c.positions.size());
                const std::vector<int64_t> q_dims = {tokens, c.q_heads, c.head_dim};
                const std::vector<int64_t> kv_dims = {tokens, c.kv_heads, c.head_dim};
                const std::vector<int64_t> cache_dims = {c.cache_len, c.kv_heads, c.head_dim};
                const std::vector<float> q_values =
                    sn_test::rounded_to(dtype, sn_test::random_floats(count_of(q_dims), seed, -2.0f, 2.0f));
                const std::vector<float> k_values =
                    sn_test::rounded_to(dtype, sn_test::random_floats(count_of(kv_dims), seed + 1, -2.0f, 2.0f));
                const std::vector<float> v_values =
                    sn_test::rounded_to(dtype, sn_test::random_floats(count_of(kv_dims), seed + 2, -2.0f, 2.0f));
                const std::vector<float> cache_values =
                    sn_test::rounded_to(cache_dtype, sn_test::random_floats(count_of(cache_dims), seed + 3));
                seed += 4;
                Twin q = twin(cpu, gpu, dtype, q_dims, q_values);
                Twin k = twin(cpu, gpu, dtype, kv_dims, k_values);
                Twin v = twin(cpu, gpu, dtype, kv_dims, v_values);
                Twin positions = twin_i32(cpu, gpu, {tokens}, c.positions);
                Twin k_cache = twin(cpu, gpu, cache_dtype, cache_dims, cache_values, cache_dtype);
                Twin v_cache = twin(cpu, gpu, cache_dtype, cache_dims, cache_values, cache_dtype);
                ASSERT_SN_OK(
                    sn_rope_kv_write(cpu, q.cpu, k.cpu, v.cpu, positions.cpu, c.theta, k_cache.cpu, v_cache.cpu));
                ASSERT_SN_OK(
                    sn_rope_kv_write(gpu, q.gpu, k.gpu, v.gpu, positions.gpu, c.theta, k_cache.gpu, v_cache.gpu));
                // As the rope test: same float angles, cos/sin within 1 ulp, |x| <= 2. The CPU's
                // cache gets F32 rotated values rounded once; CUDA's went through q's dtype first.
                const double rel = std::max(relative_tolerance(dtype), relative_tolerance(cache_dtype));
                expect_match(q, 2e-6, relative_tolerance(dtype), "q");
                expect_match(k, 2e-6, relative_tolerance(dtype), "k");
                expect_match(k_cache, 2e-6, rel, "k_cache");
                expect_match(v_cache, 2e-6, rel, "v_cache");

                // The same through sn_rope, sn_rope, sn_kv_write, sn_kv_write on CUDA: same bits.
                Tensor q2 = sn_test::make_tensor(gpu, dtype, q_dims, q_values);
                Tensor k2 = sn_test::make_tensor(gpu, dtype, kv_dims, k_values);
                Tensor v2 = sn_test::make_tensor(gpu, dtype, kv_dims, v_values);
                Tensor k_cache2 = sn_test::make_tensor(gpu, cache_dtype, cache_dims, cache_values);
                Tensor v_cache2 = sn_test::make_tensor(gpu, cache_dtype, cache_dims, cache_values);
                if (c.theta != 0.0f) {
                    ASSERT_SN_OK(sn_rope(gpu, q2, positions.gpu, c.theta, q2));
                    ASSERT_SN_OK(sn_rope(gpu, k2, positions.gpu, c.theta, k2));
                }
                ASSERT_SN_OK(sn_kv_write(gpu, k2, positions.gpu, k_cache2));
                ASSERT_SN_OK(sn_kv_write(gpu, v2, positions.gpu, v_cache2));
                EXPECT_EQ(values_of(q.gpu), values_of(q2));
                EXPECT_EQ(values_of(k.gpu), values_of(k2));
                EXPECT_EQ(values_of(k_cache.gpu), values_of(k_cache2));
                EXPECT_EQ(values_of(v_cache.gpu), values_of(v_cache2));
            }
        }
    }
}

TEST_F(CudaVsCpu, RopeKvWriteReportsBadPositionsAtTheNextSynchronize) {
    Tensor q = sn_test::make_tensor(gpu, SN_DTYPE_F16, {1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
    Tensor k = sn_test::make_tensor(gpu, SN_DTYPE_F16, {1, 1, 4}, {1, 0, 0, 1});
    Tensor v = sn_test::make_tensor(gpu, SN_DTYPE_F16, {1, 1, 4}, {5, 6, 7, 8});
    Tensor position = sn_test::make_i32(gpu, {1}, {2});
    Tensor k_cache(gpu, SN_DTYPE_F16, {2, 1, 4});
    Tensor v_cache(gpu, SN_DTYPE_F16, {2, 1, 4});
    ASSERT_SN_OK(sn_rope_kv_write(gpu, q, k, v, position, 10000.0f, k_cache, v_cache));
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT,
                    "rope_kv_write on this context read positions[0] = 2, outside [0, 2)");
    EXPECT_EQ(values_of(k_cache), std::vector<float>(8, 0.0f));
    EXPECT_EQ(values_of(v_cache), std::vector<float>(8, 0.0f));
    ASSERT_SN_OK(sn_context_synchronize(gpu));  // reported once
}

// out = silu(g)·u of x·Wᵀ (+ bias) with W = gate rows over up rows, CUDA against CPU. The
// tolerance carries the product's (check_matmul: F16 rounding of g and u, 2e-5·Σ|x·w| for the
// summation order) through the activation, |∂out/∂g| <= 1.1·|u| and |∂out/∂u| <= |g| + 0.3, plus
// the output's own rounding. Where the GEMV runs (F16, M <= 8, K % 8 == 0, aligned), its SwiGLU
// epilogue must also equal sn_matmul of the gate rows and of the up rows (the same GEMV sums,
// each rounded to F16) followed by sn_swiglu bit for bit: what decode computed before the fusion.
void check_matmul_swiglu(sn_context* cpu, sn_context* gpu, const MatmulShape& s, sn_dtype dtype, bool with_bias,
                         sn_dtype bias_dtype, uint32_t seed, bool gemv_context = true) {
    const int64_t n = 2 * s.n;  // s.n is I
    const std::string what = "matmul_swiglu M=" + std::to_string(s.m) + " I=" + std::to_string(s.n) +
                             " K=" + std::to_string(s.k) + " " + name_of(dtype) +
                             (with_bias ? std::string(" +bias ") + name_of(bias_dtype) : "");
    SCOPED_TRACE(what);
    const std::vector<float> x = sn_test::rounded_to(dtype, sn_test::random_floats(s.m * s.k, seed));
    const std::vector<float> w = sn_test::rounded_to(dtype, sn_test::random_floats(n * s.k, seed + 1));
    const std::vector<float> bias = sn_test::rounded_to(bias_dtype, sn_test::random_floats(n, seed + 2));
    Twin tx = twin(cpu, gpu, dtype, {s.m, s.k}, x);
    Twin tw = twin(cpu, gpu, dtype, {n, s.k}, w, dtype);
    Twin tb = twin(cpu, gpu, bias_dtype, {n}, bias, bias_dtype);
    Twin out{Tensor(cpu, SN_DTYPE_F32, {s.m, s.n}), Tensor(gpu, dtype, {s.m, s.n})};
    ASSERT_SN_OK(sn_fill_random(gpu, out.gpu, seed, 100.0f));  // nothing left over from before
    ASSERT_SN_OK(sn_matmul_swiglu(cpu, tx.cpu, tw.cpu, with_bias ? tb.cpu.get() : nullptr, out.cpu));
    ASSERT_SN_OK(sn_matmul_swiglu(gpu, tx.gpu, tw.gpu, with_bias ? tb.gpu.get() : nullptr, out.gpu));
    Tensor product(cpu, SN_DTYPE_F32, {s.m, n});
    ASSERT_SN_OK(sn_matmul(cpu, tx.cpu, tw.cpu, with_bias ? tb.cpu.get() : nullptr, product));
    const std::vector<float> gu = values_of(product);
    const std::vector<float> expected = values_of(out.cpu);
    const std::vector<float> actual = values_of(out.gpu);
    const double rel = relative_tolerance(dtype);
    size_t failures = 0;
    for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = 0; j < s.n; ++j) {
            double magnitude_g = 0.0, magnitude_u = 0.0;
            for (int64_t kk = 0; kk < s.k; ++kk) {
                magnitude_g += std::fabs(x[i * s.k + kk] * w[j * s.k + kk]);
                magnitude_u += std::fabs(x[i * s.k + kk] * w[(s.n + j) * s.k + kk]);
            }
            const double g = gu[i * n + j], u = gu[i * n + s.n + j];
            const double error_g = rel * std::fabs(g) + 2e-5 * magnitude_g + 1e-6;
            const double error_u = rel * std::fabs(u) + 2e-5 * magnitude_u + 1e-6;
            const size_t at = static_cast<size_t>(i * s.n + j);
            const double bound =
                rel * std::fabs(expected[at]) + 1.1 * std::fabs(u) * error_g + (std::fabs(g) + 0.3) * error_u + 1e-6;
            if (!(std::fabs(actual[at] - expected[at]) <= bound) && failures++ < 5) {
                ADD_FAILURE() << "[" << i << ", " << j << "] is " << actual[at] << ", CPU " << expected[at];
            }
        }
    }
    EXPECT_EQ(failures, 0u);

    if (gemv_context && dtype == SN_DTYPE_F16 && s.m <= 8 && s.k % 8 == 0) {
        const auto rows_of = [&](const Tensor& base, int64_t first, int64_t rows, int64_t width) {
            const int64_t dims[] = {rows, width};
            sn_tensor* raw = nullptr;
            EXPECT_EQ(sn_tensor_view(base, first * width, dims, 2, &raw), SN_OK) << sn_last_error();
            return Tensor(raw);
        };
        const auto part_of = [&](const Tensor& base, int64_t first, int64_t count) {
            const int64_t dims[] = {count};
            sn_tensor* raw = nullptr;
            EXPECT_EQ(sn_tensor_view(base, first, dims, 1, &raw), SN_OK) << sn_last_error();
            return Tensor(raw);
        };
        Tensor w_gate = rows_of(tw.gpu, 0, s.n, s.k), w_up = rows_of(tw.gpu, s.n, s.n, s.k);
        Tensor b_gate = part_of(tb.gpu, 0, s.n), b_up = part_of(tb.gpu, s.n, s.n);
        Tensor gate(gpu, dtype, {s.m, s.n}), up(gpu, dtype, {s.m, s.n}), separate(gpu, dtype, {s.m, s.n});
        ASSERT_SN_OK(sn_matmul(gpu, tx.gpu, w_gate, with_bias ? b_gate.get() : nullptr, gate));
        ASSERT_SN_OK(sn_matmul(gpu, tx.gpu, w_up, with_bias ? b_up.get() : nullptr, up));
        ASSERT_SN_OK(sn_swiglu(gpu, gate, up, separate));
        EXPECT_EQ(actual, values_of(separate)) << "the GEMV's SwiGLU epilogue against GEMV, GEMV, swiglu";
    }
}

TEST_F(CudaVsCpu, MatmulSwigluGemvEpilogueAndCublasSlices) {
    uint32_t seed = 1200;
    for (int64_t m = 1; m <= 9; ++m) {
        // I odd (a partial last block of 4 pairs), I < 4, K % 8 != 0 (cuBLAS).
        for (const MatmulShape& s : {MatmulShape{m, 517, 4104}, MatmulShape{m, 3, 24}, MatmulShape{m, 19, 7}}) {
            check_matmul_swiglu(cpu, gpu, s, SN_DTYPE_F16, false, SN_DTYPE_F16, seed++);
            check_matmul_swiglu(cpu, gpu, s, SN_DTYPE_F16, true, SN_DTYPE_F16, seed++);
            check_matmul_swiglu(cpu, gpu, s, SN_DTYPE_F16, true, SN_DTYPE_F32, seed++);
        }
    }
    check_matmul_swiglu(cpu, gpu, {1, 11008, 4096}, SN_DTYPE_F16, false, SN_DTYPE_F16, seed++);  // LLaMA-7B decode
    check_matmul_swiglu(cpu, gpu, {3, 65, 129}, SN_DTYPE_BF16, true, SN_DTYPE_BF16, seed++);
    check_matmul_swiglu(cpu, gpu, {5, 33, 64}, SN_DTYPE_F32, true, SN_DTYPE_F32, seed++);
    // 2I = 131072 floats a row: 32 rows per scratch slice, so M = 70 takes three slices.
    check_matmul_swiglu(cpu, gpu, {70, 65536, 64}, SN_DTYPE_F16, true, SN_DTYPE_F16, seed++);
}

TEST_F(CudaVsCpu, MatmulSwigluOnACublasOnlyContext) {
    sn_context_options options{};
    options.backend = SN_BACKEND_CUDA;
    options.flags = SN_CONTEXT_FLAG_DENSE_CUBLAS;
    sn_context* baseline = nullptr;
    ASSERT_SN_OK(sn_context_create(&options, &baseline));
    { check_matmul_swiglu(cpu, baseline, {1, 517, 4104}, SN_DTYPE_F16, true, SN_DTYPE_F16, 1300, false); }
    ASSERT_SN_OK(sn_context_destroy(baseline));
}

TEST_F(CudaVsCpu, MatmulSwigluRejectsMixedDtypes) {
    Tensor x(gpu, SN_DTYPE_F16, {1, 8});
    Tensor w(gpu, SN_DTYPE_F16, {6, 8});
    Tensor out_f32(gpu, SN_DTYPE_F32, {1, 3});
    EXPECT_SN_ERROR(sn_matmul_swiglu(gpu, x, w, nullptr, out_f32), SN_ERR_UNSUPPORTED, "x F16, weight F16, out F32");
}

// Decode attention is one launch whatever the context length: the grid is sized for the cache
// (S = 4096 with 32 heads gives several splits on any GPU of more than 8 SMs), each row takes part
// with the splits that hold its keys and the last of them merges. Rows with one split (short
// contexts, a short window), two, and all of them, several rows per launch; the output is filled
// with garbage before every launch (a row nobody wrote would show), and a repeated launch and a
// graph replay must give the same bits (fixed merge order; counters back at zero every time).
TEST_F(CudaVsCpu, AttentionDecodeIsOneLaunchForShortAndLongContexts) {
    const int64_t q_heads = 32, kv_heads = 8, head_dim = 128, cache_len = 4096;
    const std::vector<int64_t> kv_dims = {cache_len, kv_heads, head_dim};
    Twin k = twin(cpu, gpu, SN_DTYPE_F16, kv_dims, sn_test::random_floats(count_of(kv_dims), 40, -2.0f, 2.0f));
    Twin v = twin(cpu, gpu, SN_DTYPE_F16, kv_dims, sn_test::random_floats(count_of(kv_dims), 41));
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    struct Case {
        std::vector<int32_t> positions;
        int32_t window;
    };
    const Case cases[] = {{{0}, 0},    {{63}, 0},   {{64}, 0},    {{240}, 0},     {{241}, 0},
                          {{1000}, 0}, {{4095}, 0}, {{500}, 100}, {{4095}, 2000}, {{5, 4095, 300, 2000}, 0}};
    uint32_t seed = 42;
    for (const Case& c : cases) {
        const int64_t tokens = static_cast<int64_t>(c.positions.size());
        SCOPED_TRACE("first position " + std::to_string(c.positions[0]) + ", " + std::to_string(tokens) +
                     " rows, window " + std::to_string(c.window));
        const std::vector<int64_t> q_dims = {tokens, q_heads, head_dim};
        Twin q = twin(cpu, gpu, SN_DTYPE_F16, q_dims, sn_test::random_floats(count_of(q_dims), seed++, -2.0f, 2.0f));
        Twin positions = twin_i32(cpu, gpu, {tokens}, c.positions);
        Twin out{Tensor(cpu, SN_DTYPE_F32, q_dims), Tensor(gpu, SN_DTYPE_F16, q_dims)};
        ASSERT_SN_OK(sn_attention(cpu, q.cpu, positions.cpu, k.cpu, v.cpu, c.window, scale, out.cpu));
        ASSERT_SN_OK(sn_fill_random(gpu, out.gpu, seed++, 100.0f));
        ASSERT_SN_OK(sn_attention(gpu, q.gpu, positions.gpu, k.gpu, v.gpu, c.window, scale, out.gpu));
        expect_match(out, 1.5e-3, 0.0, "decode attention");
        const std::vector<float> first = values_of(out.gpu);
        ASSERT_SN_OK(sn_fill_random(gpu, out.gpu, seed++, 100.0f));
        ASSERT_SN_OK(sn_attention(gpu, q.gpu, positions.gpu, k.gpu, v.gpu, c.window, scale, out.gpu));
        EXPECT_EQ(values_of(out.gpu), first) << "a second launch";
    }

    // One captured launch replayed while the context grows from one split to all of them.
    const std::vector<int64_t> q_dims = {1, q_heads, head_dim};
    Twin q = twin(cpu, gpu, SN_DTYPE_F16, q_dims, sn_test::random_floats(count_of(q_dims), 50, -2.0f, 2.0f));
    Twin position = twin_i32(cpu, gpu, {1}, {0});
    Twin out{Tensor(cpu, SN_DTYPE_F32, q_dims), Tensor(gpu, SN_DTYPE_F16, q_dims)};
    Tensor direct(gpu, SN_DTYPE_F16, q_dims);
    ASSERT_SN_OK(sn_graph_begin_capture(gpu));
    ASSERT_SN_OK(sn_attention(gpu, q.gpu, position.gpu, k.gpu, v.gpu, 0, scale, out.gpu));
    sn_graph* graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(gpu, &graph));
    int64_t nodes = 0;
    ASSERT_SN_OK(sn_graph_get_node_count(graph, &nodes));
    EXPECT_EQ(nodes, 1) << "decode attention is one kernel";
    for (int32_t p : {0, 1, 100, 240, 241, 700, 1500, 3000, 4095}) {
        SCOPED_TRACE("replay at position " + std::to_string(p));
        ASSERT_SN_OK(sn_tensor_upload(position.cpu, &p, sizeof p));
        ASSERT_SN_OK(sn_tensor_upload(position.gpu, &p, sizeof p));
        ASSERT_SN_OK(sn_fill_random(gpu, out.gpu, static_cast<uint64_t>(p) + 7, 100.0f));
        ASSERT_SN_OK(sn_graph_launch(graph));
        ASSERT_SN_OK(sn_attention(cpu, q.cpu, position.cpu, k.cpu, v.cpu, 0, scale, out.cpu));
        expect_match(out, 1.5e-3, 0.0, "replayed decode attention");
        ASSERT_SN_OK(sn_attention(gpu, q.gpu, position.gpu, k.gpu, v.gpu, 0, scale, direct));
        EXPECT_EQ(values_of(out.gpu), values_of(direct));
    }
    ASSERT_SN_OK(sn_graph_destroy(graph));
}

TEST_F(CudaVsCpu, CrossEntropyLargeVocabulary) {
    struct Case {
        int64_t rows, vocabulary;
        sn_dtype dtype;
    };
    for (const Case& c : {Case{3, 50257, SN_DTYPE_F32}, Case{5, 1001, SN_DTYPE_F16}, Case{1, 32000, SN_DTYPE_F32}}) {
        const std::vector<int64_t> dims = {c.rows, c.vocabulary};
        Twin logits = twin(cpu, gpu, c.dtype, dims, sn_test::random_floats(count_of(dims), 30, -15.0f, 15.0f));
        std::vector<int32_t> targets(static_cast<size_t>(c.rows));
        for (int64_t t = 0; t < c.rows; ++t) targets[t] = static_cast<int32_t>((t * 7919) % c.vocabulary);
        Twin ttargets = twin_i32(cpu, gpu, {c.rows}, targets);
        Twin losses{Tensor(cpu, SN_DTYPE_F32, {c.rows}), Tensor(gpu, SN_DTYPE_F32, {c.rows})};
        ASSERT_SN_OK(sn_cross_entropy(cpu, logits.cpu, ttargets.cpu, losses.cpu));
        ASSERT_SN_OK(sn_cross_entropy(gpu, logits.gpu, ttargets.gpu, losses.gpu));
        // Both sum in double; the F32 loss itself is ~10–30: 2e-6 relative.
        expect_match(losses, 1e-5, 2e-6, "cross_entropy V=" + std::to_string(c.vocabulary));
    }
}

TEST_F(CudaVsCpu, FillRandomIsBitIdentical) {
    for (sn_dtype dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
        Twin t{Tensor(cpu, dtype, {100003}), Tensor(gpu, dtype, {100003})};
        ASSERT_SN_OK(sn_fill_random(cpu, t.cpu, 0xABCDEF12345ull, 0.05f));
        ASSERT_SN_OK(sn_fill_random(gpu, t.gpu, 0xABCDEF12345ull, 0.05f));
        EXPECT_EQ(values_of(t.gpu), values_of(t.cpu)) << name_of(dtype);
    }
}

// ---- graphs ---------------------------------------------------------------------------------

// A decode step: embedding, norm, fused projection split by views, RoPE, cache writes,
// attention, a residual linear; ids and position come from tensors.
struct Step {
    static constexpr int64_t kVocab = 50, kHidden = 64, kHeads = 4, kHeadDim = 16, kCache = 32;
    Tensor table, norm_weight, w_qkv, w_out, ids, position, h, x, qkv, q, k, v, attn, attn_flat, k_cache, v_cache;

    static Tensor view(const Tensor& base, int64_t offset, const std::vector<int64_t>& dims) {
        sn_tensor* raw = nullptr;
        EXPECT_EQ(sn_tensor_view(base, offset, dims.data(), static_cast<int32_t>(dims.size()), &raw), SN_OK)
            << sn_last_error();
        return Tensor(raw);
    }

    explicit Step(sn_context* context) {
        const sn_dtype f16 = SN_DTYPE_F16;
        table = sn_test::make_tensor(context, f16, {kVocab, kHidden}, sn_test::random_floats(kVocab * kHidden, 1));
        norm_weight = sn_test::make_tensor(context, f16, {kHidden}, sn_test::random_floats(kHidden, 2, 0.5f, 1.5f));
        w_qkv = sn_test::make_tensor(context, f16, {3 * kHidden, kHidden},
                                     sn_test::random_floats(3 * kHidden * kHidden, 3, -0.2f, 0.2f));
        w_out = sn_test::make_tensor(context, f16, {kHidden, kHidden},
                                     sn_test::random_floats(kHidden * kHidden, 4, -0.2f, 0.2f));
        ids = sn_test::make_i32(context, {1}, {0});
        position = sn_test::make_i32(context, {1}, {0});
        h = Tensor(context, f16, {1, kHidden});
        x = Tensor(context, f16, {1, kHidden});
        qkv = Tensor(context, f16, {1, 3 * kHidden});
        q = view(qkv, 0, {1, kHeads, kHeadDim});
        k = view(qkv, kHidden, {1, kHeads, kHeadDim});
        v = view(qkv, 2 * kHidden, {1, kHeads, kHeadDim});
        attn = Tensor(context, f16, {1, kHeads, kHeadDim});
        attn_flat = view(attn, 0, {1, kHidden});
        k_cache = Tensor(context, f16, {kCache, kHeads, kHeadDim});
        v_cache = Tensor(context, f16, {kCache, kHeads, kHeadDim});
    }
    // fused: sn_rope_kv_write in place of rope, rope, kv_write, kv_write (as the decoder does).
    void emit(sn_context* context, bool fused = false) const {
        ASSERT_SN_OK(sn_embedding(context, table, ids, h));
        ASSERT_SN_OK(sn_rms_norm(context, h, norm_weight, 1e-5f, x));
        ASSERT_SN_OK(sn_matmul(context, x, w_qkv, nullptr, qkv));
        if (fused) {
            ASSERT_SN_OK(sn_rope_kv_write(context, q, k, v, position, 10000.0f, k_cache, v_cache));
        } else {
            ASSERT_SN_OK(sn_rope(context, q, position, 10000.0f, q));
            ASSERT_SN_OK(sn_rope(context, k, position, 10000.0f, k));
            ASSERT_SN_OK(sn_kv_write(context, k, position, k_cache));
            ASSERT_SN_OK(sn_kv_write(context, v, position, v_cache));
        }
        ASSERT_SN_OK(sn_attention(context, q, position, k_cache, v_cache, 0, 0.25f, attn));
        ASSERT_SN_OK(sn_matmul_add(context, attn_flat, w_out, nullptr, h));
    }
    void set_inputs(int32_t id, int32_t pos) const {
        ASSERT_SN_OK(sn_tensor_upload(ids, &id, sizeof id));
        ASSERT_SN_OK(sn_tensor_upload(position, &pos, sizeof pos));
    }
};

TEST_F(CudaVsCpu, GraphReplayEqualsDirectExecutionWithNewInputs) {
    const std::vector<std::pair<int32_t, int32_t>> tokens = {{3, 0}, {7, 1}, {49, 2}, {0, 3}, {3, 4}};
    std::vector<std::vector<float>> direct;
    {
        Step step(gpu);
        for (const auto& [id, pos] : tokens) {
            step.set_inputs(id, pos);
            step.emit(gpu);
            direct.push_back(values_of(step.h));
        }
    }
    Step step(gpu);
    // Released during the capture: freed only after it (cudaFree would break the capture).
    Tensor released(gpu, SN_DTYPE_F32, {1000});
    ASSERT_SN_OK(sn_context_synchronize(gpu));
    ASSERT_SN_OK(sn_graph_begin_capture(gpu));
    step.emit(gpu);
    released.reset();
    sn_graph* graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(gpu, &graph));
    int64_t nodes = 0;
    ASSERT_SN_OK(sn_graph_get_node_count(graph, &nodes));
    EXPECT_GE(nodes, 9) << "one kernel (or more) per op";
    EXPECT_EQ(values_of(step.h), std::vector<float>(Step::kHidden, 0.0f)) << "capturing ran nothing";
    for (size_t i = 0; i < tokens.size(); ++i) {
        step.set_inputs(tokens[i].first, tokens[i].second);
        ASSERT_SN_OK(sn_graph_launch(graph));
        EXPECT_EQ(values_of(step.h), direct[i]) << "token " << i;  // same kernels, same data: same bits
    }
    ASSERT_SN_OK(sn_graph_destroy(graph));
}

// The step with sn_rope_kv_write: three kernels fewer in its graph, the same bits as the
// separate ops (replayed for every token, the cache growing).
TEST_F(CudaVsCpu, GraphWithRopeKvWriteHasThreeLaunchesLessAndTheSameBits) {
    const std::vector<std::pair<int32_t, int32_t>> tokens = {{3, 0}, {7, 1}, {49, 2}, {0, 3}, {3, 4}};
    int64_t nodes[2] = {0, 0};
    std::vector<std::vector<float>> results[2];
    for (int fused = 0; fused < 2; ++fused) {
        Step step(gpu);
        ASSERT_SN_OK(sn_graph_begin_capture(gpu));
        step.emit(gpu, fused == 1);
        sn_graph* graph = nullptr;
        ASSERT_SN_OK(sn_graph_end_capture(gpu, &graph));
        ASSERT_SN_OK(sn_graph_get_node_count(graph, &nodes[fused]));
        for (const auto& [id, pos] : tokens) {
            step.set_inputs(id, pos);
            ASSERT_SN_OK(sn_graph_launch(graph));
            results[fused].push_back(values_of(step.h));
        }
        ASSERT_SN_OK(sn_graph_destroy(graph));
    }
    EXPECT_EQ(nodes[1], nodes[0] - 3);
    EXPECT_EQ(results[1], results[0]);
}

TEST_F(CudaVsCpu, FailedCaptureLeavesTheContextUsable) {
    Tensor a = sn_test::make_tensor(gpu, SN_DTYPE_F16, {4}, {1, -2, 3, -4});
    Tensor wrong(gpu, SN_DTYPE_F16, {5});
    Tensor out(gpu, SN_DTYPE_F16, {4});
    ASSERT_SN_OK(sn_graph_begin_capture(gpu));
    ASSERT_SN_OK(sn_relu(gpu, a, out));
    EXPECT_SN_ERROR(sn_add(gpu, a, wrong, out), SN_ERR_SHAPE_MISMATCH, "b");
    EXPECT_SN_ERROR(sn_context_synchronize(gpu), SN_ERR_INVALID_ARGUMENT, "capturing");
    sn_graph* graph = nullptr;
    EXPECT_SN_ERROR(sn_graph_end_capture(gpu, &graph), SN_ERR_SHAPE_MISMATCH, "failed during capture");
    EXPECT_EQ(graph, nullptr);
    ASSERT_SN_OK(sn_relu(gpu, a, out));
    EXPECT_EQ(values_of(out), (std::vector<float>{1, 0, 3, 0}));
}

// ---- context, memory, errors ---------------------------------------------------------------

TEST_F(CudaVsCpu, MemoryFiguresAndDeviceName) {
    sn_memory_info before{};
    ASSERT_SN_OK(sn_context_get_memory(gpu, &before));
    EXPECT_EQ(before.allocated_bytes, 0);
    EXPECT_GT(before.device_total_bytes, int64_t{1} << 30);
    EXPECT_GT(before.device_free_bytes, 0);
    EXPECT_LE(before.device_free_bytes, before.device_total_bytes);
    {
        Tensor big(gpu, SN_DTYPE_F16, {1024, 1024, 64});  // 128 MiB
        sn_memory_info during{};
        ASSERT_SN_OK(sn_context_get_memory(gpu, &during));
        EXPECT_EQ(during.allocated_bytes, int64_t{128} << 20);
        EXPECT_LT(during.device_free_bytes, before.device_free_bytes);
    }
    sn_memory_info after{};
    ASSERT_SN_OK(sn_context_get_memory(gpu, &after));
    EXPECT_EQ(after.allocated_bytes, 0);
    EXPECT_EQ(after.peak_allocated_bytes, int64_t{128} << 20);
    const std::string name = sn_context_device_name(gpu);
    EXPECT_NE(name.find("(sm_"), std::string::npos) << name;
    EXPECT_NE(name.find(" SMs, "), std::string::npos) << name;
    EXPECT_NE(name.find(" GiB)"), std::string::npos) << name;
}

TEST_F(CudaVsCpu, OutOfMemoryIsReportedAndTheContextKeepsWorking) {
    const int64_t absurd[] = {int64_t{1} << 40};  // 2 TiB of F16
    sn_tensor* tensor = nullptr;
    EXPECT_SN_ERROR(sn_tensor_create(gpu, SN_DTYPE_F16, absurd, 1, &tensor), SN_ERR_OUT_OF_MEMORY,
                    "cannot allocate 2199023255552 bytes");
    EXPECT_NE(std::string(sn_last_error()).find("are free"), std::string::npos) << sn_last_error();
    EXPECT_EQ(tensor, nullptr);
    Tensor small = sn_test::make_tensor(gpu, SN_DTYPE_F16, {3}, {-1, 2, -3});
    ASSERT_SN_OK(sn_relu(gpu, small, small));
    EXPECT_EQ(values_of(small), (std::vector<float>{0, 2, 0}));
}

TEST(Cuda, BadOrdinalNamesTheDeviceCount) {
    if (!cuda_usable()) GTEST_SKIP() << "no usable CUDA backend";
    sn_context_options options{};
    options.backend = SN_BACKEND_CUDA;
    options.device = 99;
    sn_context* context = nullptr;
    EXPECT_SN_ERROR(sn_context_create(&options, &context), SN_ERR_INVALID_ARGUMENT,
                    "CUDA device ordinal 99 out of range");
    EXPECT_EQ(context, nullptr);
}

}  // namespace
