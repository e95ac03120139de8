// Linear layers on CUDA: out[M, N] (+)= x[M, K] · W[N, K]ᵀ (+ bias[N]).
//
// F16 x and W with M <= 8 rows (decode: one token, or a few sequences), K a multiple of 8 and
// 16-byte aligned operands go to the hand-written GEMV (kernels/gemv.cu): on an H100, replayed
// in a CUDA graph as decode runs, it streams W at 87-103 % of copy bandwidth where cuBLAS's
// M = 1 kernels reach 73-93 % (sn_bench_cuda prints both; cpp/README.md has the table).
// Everything else goes to cuBLAS, and so does everything on a context created with
// SN_CONTEXT_FLAG_DENSE_CUBLAS (the "cuBLAS fp16" baseline of the benchmarks):
//
// One cublasGemmEx per product (kernels/cublas_linear.h maps the row-major operands), beta = 0 for
// matmul, 1 for matmul_add (the residual stays in out). For M = 1 cuBLAS picks its
// GEMV-like kernels itself. Products accumulate in F32 (CUBLAS_COMPUTE_32F; no TF32 for F32
// operands). Supported (x = weight, out) pairs: F16 → F16 or F32, BF16 → BF16 or F32, F32 → F32;
// and F32 x by an F16/BF16 weight into F32 (the Fisher pass: the weight widened slice by slice,
// TF32 products, kernels/linear_backward.cu).
//
// The bias goes in first, by a small kernel: out = bias (matmul) or out += bias (matmul_add),
// then the product runs with beta = 1 on top of it.
//
// matmul_swiglu (out[M, I] = silu(g)·u of the product g | u = x · W[2I, K]ᵀ + bias): where the
// GEMV runs, its SwiGLU epilogue (kernels/gemv.cu) does it in one launch. Elsewhere (prefill
// sizes, BF16/F32, misaligned views, SN_CONTEXT_FLAG_DENSE_CUBLAS) cuBLAS writes the F32 product of
// as many rows as fit into the context's scratch, and swiglu_product_kernel adds the bias, rounds g
// and u to out's dtype (as sn_matmul would store them) and writes silu(g)·u; slice after slice,
// two launches each. Nothing is allocated: the scratch exists for the context's lifetime and ops
// use it one after another in stream order.
#include "kernels/common.cuh"
#include "kernels/cublas_linear.h"
#include "kernels/gemv.h"
#include "validate.h"

#include <algorithm>

namespace sn::cuda {
namespace {

cudaDataType_t cuda_type(sn_dtype dtype) {
    return dtype == SN_DTYPE_F16 ? CUDA_R_16F : dtype == SN_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

// Whether the F16 GEMV (kernels/gemv.cu) takes this product: F16, M <= 8 rows, K a multiple of 8
// and 16-byte aligned operands, unless the context asked for cuBLAS everywhere (benchmark baselines).
bool runs_gemv(const Context& context, const MatmulArgs& args, int64_t m, int64_t k) {
    const bool cublas_only = (context.flags & SN_CONTEXT_FLAG_DENSE_CUBLAS) != 0;
    return !cublas_only && args.x->dtype == SN_DTYPE_F16 && m <= kGemvMaxRows &&
           gemv_f16_fits(args.x->data(), args.weight->data(), k);
}

GemvProblem gemv_problem(const MatmulArgs& args, int64_t m, int64_t n, int64_t k) {
    GemvProblem problem{};
    problem.x = args.x->data();
    problem.weight = args.weight->data();
    problem.bias = args.bias != nullptr ? args.bias->data() : nullptr;
    problem.bias_dtype = gemv_bias_of(args.bias);
    problem.out = args.out->data();
    problem.m = m;
    problem.n = n;
    problem.k = k;
    return problem;
}

sn_status linear(Context& context, const MatmulArgs& args, bool accumulate) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const sn_dtype x_dtype = args.x->dtype, out_dtype = args.out->dtype;
    // F32 activations against a 16-bit weight: the Fisher pass's forward (kernels/linear_backward.cu).
    const bool widened = x_dtype == SN_DTYPE_F32 && out_dtype == SN_DTYPE_F32 && args.weight->dtype != SN_DTYPE_F32;
    SN_CHECK(widened || (args.weight->dtype == x_dtype && (out_dtype == x_dtype || out_dtype == SN_DTYPE_F32)),
             SN_ERR_UNSUPPORTED,
             "the CUDA backend multiplies x and weight of one dtype into out of that dtype or F32 (F16·F16 → F16/F32, "
             "BF16·BF16 → BF16/F32, F32·F32 → F32), or F32 x by an F16/BF16 weight into F32, got x %s, weight %s, "
             "out %s",
             dtype_name(x_dtype), dtype_name(args.weight->dtype), dtype_name(out_dtype));
    const int64_t m = args.x->rows(), n = args.weight->dims[0], k = args.weight->dims[1];
    SN_CHECK(m <= 0x7FFFFFFF && n <= 0x7FFFFFFF && k <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED,
             "cuBLAS takes dimensions below 2^31, got M = %lld, N = %lld, K = %lld", static_cast<long long>(m),
             static_cast<long long>(n), static_cast<long long>(k));

    if (runs_gemv(context, args, m, k)) {
        if (m == 0 || n == 0) return SN_OK;
        GemvProblem problem = gemv_problem(args, m, n, k);
        problem.out_f32 = out_dtype == SN_DTYPE_F32;
        problem.accumulate = accumulate;
        SN_CUDA_CHECK(launch_gemv_f16(problem, state.stream, state.programmatic_launch));
        return SN_OK;
    }
    if (args.bias != nullptr) SN_TRY(add_bias(state, args.bias, out_dtype, args.out->data(), m, n, accumulate));
    const float beta = accumulate || args.bias != nullptr ? 1.0f : 0.0f;
    if (widened) return linear_f32_by_widened_weight(state, args.x, args.weight, beta, args.out->data_as<float>());
    SN_CUBLAS_CHECK(cublas_linear(state.cublas, m, n, k, args.weight->data(), cuda_type(x_dtype), args.x->data(),
                                  cuda_type(x_dtype), beta, args.out->data(), cuda_type(out_dtype), n));
    return SN_OK;
}

template <class T>
__global__ void add_bias_kernel(T* out, FloatInput bias, int64_t rows, int64_t columns, bool accumulate) {
    const int64_t count = rows * columns;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float base = accumulate ? to_float(out[i]) : 0.0f;
        out[i] = from_float<T>(base + bias[i % columns]);
    }
}

}  // namespace

sn_status add_bias(const State& state, const Tensor* bias, sn_dtype out_dtype, void* out, int64_t rows, int64_t columns,
                   bool accumulate) {
    return dispatch_float(out_dtype, [&](auto tag) {
        using T = decltype(tag);
        add_bias_kernel<T><<<grid_blocks(state, rows * columns), kElementwiseThreads, 0, state.stream>>>(
            static_cast<T*>(out), float_input(bias), rows, columns, accumulate);
        SN_CUDA_CHECK_LAUNCH("add_bias_kernel");
        return SN_OK;
    });
}

sn_status matmul(Context& context, const MatmulArgs& args) {
    return linear(context, args, false);
}

sn_status matmul_add(Context& context, const MatmulArgs& args) {
    return linear(context, args, true);
}

sn_status matmul_swiglu(Context& context, const MatmulArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const sn_dtype dtype = args.x->dtype;
    SN_CHECK(args.weight->dtype == dtype && args.out->dtype == dtype, SN_ERR_UNSUPPORTED,
             "the CUDA backend's matmul_swiglu takes x, weight and out of one dtype, got x %s, weight %s, out %s",
             dtype_name(dtype), dtype_name(args.weight->dtype), dtype_name(args.out->dtype));
    const int64_t m = args.x->rows(), n = args.weight->dims[0], k = args.weight->dims[1];
    const int64_t columns = n / 2;  // I
    SN_CHECK(m <= 0x7FFFFFFF && n <= 0x7FFFFFFF && k <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED,
             "cuBLAS takes dimensions below 2^31, got M = %lld, 2I = %lld, K = %lld", static_cast<long long>(m),
             static_cast<long long>(n), static_cast<long long>(k));
    if (runs_gemv(context, args, m, k)) {
        GemvProblem problem = gemv_problem(args, m, n, k);
        problem.swiglu = true;
        SN_CUDA_CHECK(launch_gemv_f16(problem, state.stream, state.programmatic_launch));
        return SN_OK;
    }
    const int64_t slice_rows = std::min<int64_t>(m, static_cast<int64_t>(state.scratch_floats) / n);
    SN_CHECK(slice_rows >= 1, SN_ERR_UNSUPPORTED,
             "the CUDA backend's matmul_swiglu needs one row of the F32 product (2I = %lld floats) in its scratch of "
             "%zu floats",
             static_cast<long long>(n), state.scratch_floats);
    return dispatch_float(dtype, [&](auto tag) {
        using T = decltype(tag);
        for (int64_t first = 0; first < m; first += slice_rows) {
            const int64_t rows = std::min(slice_rows, m - first);
            const T* x = args.x->data_as<const T>() + first * k;
            // product [rows, 2I] F32 = x · Wᵀ
            SN_CUBLAS_CHECK(cublas_linear(state.cublas, rows, n, k, args.weight->data(), cuda_type(dtype), x,
                                          cuda_type(dtype), 0.0f, state.scratch, CUDA_R_32F, n));
            swiglu_product_kernel<float, T>
                <<<grid_blocks(state, rows * columns), kElementwiseThreads, 0, state.stream>>>(
                    state.scratch, float_input(args.bias), args.bias != nullptr,
                    args.out->data_as<T>() + first * columns, rows, columns);
            SN_CUDA_CHECK_LAUNCH("swiglu_product_kernel");
        }
        return SN_OK;
    });
}

}  // namespace sn::cuda
