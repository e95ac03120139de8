// Quantized linears on CUDA (squeeze_native.h, "Quantized linears"): the ops lut_repack and
// lut_matmul around the kernels of kernels/lut_gemv.cu.
//
// lut_matmul_swiglu (out[M, I] = silu(g)·u of the product g | u of a stacked gate|up weight): the
// LUT-GEMV's SwiGLU epilogue for decode, else the product through scratch and a SwiGLU kernel.
//
// lut_matmul takes the tiled layout only (sn_lut_repack writes it once at load time; reading the
// checkpoint layout would need a second, slower kernel, and a silent slow path is what the repack
// exists to avoid). x and out are F16 (the CUDA backend's activations).
//   dense products of kLutGemmMinRows .. kLutGemmMaxRows rows (9 .. 256): the LUT-GEMM
//     (kernels/lut_gemm.cu), W decoded once per 64 rows of x into the tensor cores.
//   else M < kLutPrefillMinRows (65): the LUT-GEMV, 32 rows of x per launch (kernels/lut_gemv.cu).
//   else (prefill with a sparse part, or beyond 256 rows): the bias goes into out first
//     (add_bias), then W is dequantized to F16 a slice of rows at a time into the context's
//     dequant buffer (32 MiB: 4096 rows of K = 4096)
//     and multiplied on cuBLAS with beta = 1 (launch_lut_prefill); the decoding is paid once per
//     row however large M is, where the GEMV would stream and decode W again for every 32 rows.
#include "kernels/common.cuh"
#include "kernels/lut_gemv.h"
#include "lut_layout.h"
#include "validate.h"

namespace sn::cuda {

sn_status lut_repack(Context& context, const LutRepackArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t n = args.qweight->dims[1], k = args.qweight->dims[0] / args.bits * 32;
    SN_CUDA_CHECK(launch_lut_repack(args.qweight->data_as<const int32_t>(), args.packed->data_as<int32_t>(), n, k,
                                    args.bits, state.stream));
    return SN_OK;
}

namespace {

// The problem of a LUT product (x, out and m still to be set by the caller), after the checks the
// CUDA backend adds to api_ops_quant.cpp's.
sn_status lut_problem(Context& context, const LutMatmulArgs& args, OpId op, LutGemvProblem* out_problem) {
    State& state = state_of(context);
    SN_CHECK(args.qweight->ndim == 3, SN_ERR_UNSUPPORTED,
             "qweight: the CUDA backend reads codes in its tiled layout; convert the checkpoint's qweight %s once "
             "with sn_lut_repack (sn_lut_repacked_shape gives the shape)",
             shape_text(*args.qweight).text);
    SN_CHECK(args.x->dtype == SN_DTYPE_F16, SN_ERR_UNSUPPORTED,
             "x: the CUDA backend's quantized linear takes F16 activations (x and out), got %s",
             dtype_name(args.x->dtype));
    SN_CHECK(lut_gemv_fits(args.x->data(), args.lut->data()), SN_ERR_UNSUPPORTED,
             "x and lut must start 16-byte aligned on the CUDA backend (a view at an odd offset?)");
    const int64_t n = args.lut->dims[0], k = args.x->last_dim();
    SN_CHECK(k <= 0x7FFFFFFF && n <= 0x7FFFFFFF && args.x->rows() <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED,
             "the CUDA LUT-GEMV takes M, N and K below 2^31, got M = %lld, N = %lld, K = %lld",
             static_cast<long long>(args.x->rows()), static_cast<long long>(n), static_cast<long long>(k));
    LutGemvProblem problem{};
    problem.packed = args.qweight->data_as<const int32_t>();
    problem.lut = args.lut->data();
    if (args.sparse_rows != nullptr) {
        // The kernel stages values 4 bytes at a time (cp.async): the values must start 4-byte aligned.
        SN_CHECK(reinterpret_cast<uintptr_t>(args.sparse_vals->data()) % 4 == 0, SN_ERR_UNSUPPORTED,
                 "sparse_vals must start 4-byte aligned on the CUDA backend (a view at an odd offset?)");
        problem.rows = args.sparse_rows->data_as<const int32_t>();
        problem.cols = args.sparse_cols->data_as<const int32_t>();
        problem.vals = args.sparse_vals->data();
        problem.nnz = args.sparse_cols->numel;
        // The sparse kernel's sums go to the dequant buffer, which only the prefill path uses
        // otherwise (a product takes one path or the other).
        problem.sparse_sums = static_cast<float*>(state.dequant);
        problem.sparse_sums_floats = state.dequant_bytes / sizeof(float);
        const int64_t rows_x = args.x->rows();
        SN_CHECK(rows_x >= kLutPrefillMinRows ||
                     lut_sparse_sums_floats(rows_x, n, problem.nnz) <= problem.sparse_sums_floats,
                 SN_ERR_UNSUPPORTED,
                 "the CUDA LUT-GEMV's sparse part needs %zu floats of scratch for N = %lld and %lld sparse entries; "
                 "the context has %zu",
                 lut_sparse_sums_floats(rows_x, n, problem.nnz), static_cast<long long>(n),
                 static_cast<long long>(problem.nnz), problem.sparse_sums_floats);
    }
    problem.bias = args.bias != nullptr ? args.bias->data() : nullptr;
    problem.bias_dtype = gemv_bias_of(args.bias);
    problem.accumulate = args.accumulate;
    problem.n = n;
    problem.k = k;
    problem.bits = args.bits;
    problem.data_error = state.data_error_device;
    problem.op = static_cast<int32_t>(op);
    problem.weights_settled = true;
    const Tensor* weights[] = {args.qweight, args.lut, args.sparse_rows, args.sparse_cols, args.sparse_vals};
    for (const Tensor* weight : weights) {
        if (earlier_op_may_have_written(context, weight)) problem.weights_settled = false;
    }
    *out_problem = problem;
    return SN_OK;
}

// out (+)= x · Wᵀ (+ bias) for problem.m rows, on the path lut_product_path picks: the LUT-GEMM
// (its split-K partials in the dequant buffer), the prefill path, or the LUT-GEMV.
sn_status run_lut_product(const State& state, const LutMatmulArgs& args, LutGemvProblem problem) {
    const int64_t m = problem.m, n = problem.n;
    switch (lut_product_path(problem, state.dequant_bytes)) {
        case LutProductPath::gemm:
            SN_CUDA_CHECK(launch_lut_gemm(problem, static_cast<float*>(state.dequant), state.dequant_bytes,
                                          state.stream, state.programmatic_launch));
            return SN_OK;
        case LutProductPath::prefill: {
            if (args.bias != nullptr) {
                SN_TRY(add_bias(state, args.bias, SN_DTYPE_F16, problem.out, m, n, problem.accumulate));
            }
            cublasStatus_t cublas_status = CUBLAS_STATUS_SUCCESS;
            const float beta = problem.accumulate || args.bias != nullptr ? 1.0f : 0.0f;
            const cudaError_t status = launch_lut_prefill(problem, state.cublas, state.dequant, state.dequant_bytes,
                                                          beta, state.stream, &cublas_status);
            SN_CUBLAS_CHECK(cublas_status);
            SN_CUDA_CHECK(status);
            return SN_OK;
        }
        case LutProductPath::gemv:
            break;
    }
    SN_CUDA_CHECK(launch_lut_gemv(problem, state.stream, state.programmatic_launch));
    return SN_OK;
}

}  // namespace

sn_status lut_matmul(Context& context, const LutMatmulArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    LutGemvProblem problem{};
    SN_TRY(lut_problem(context, args, OpId::lut_matmul, &problem));
    problem.m = args.x->rows();
    problem.x = args.x->data();
    problem.out = args.out->data();
    return run_lut_product(state, args, problem);
}

// Decode (lut_gemv_swiglu_fits, no sparse part): one LUT-GEMV launch with the SwiGLU epilogue.
// Otherwise (more rows, or a sparse part: kernels/lut_gemv.cu builds the epilogue for dense
// products only) slices of rows go through the context's scratch: the product [rows, 2I] in F16
// (what sn_lut_matmul stores), then silu(g)·u of it.
sn_status lut_matmul_swiglu(Context& context, const LutMatmulArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    LutGemvProblem problem{};
    SN_TRY(lut_problem(context, args, OpId::lut_matmul_swiglu, &problem));
    const int64_t m = args.x->rows(), n = problem.n, k = problem.k, columns = n / 2;
    problem.accumulate = false;
    if (lut_gemv_swiglu_fits(m, n, args.sparse_rows != nullptr)) {
        problem.swiglu = true;
        problem.m = m;
        problem.x = args.x->data();
        problem.out = args.out->data();
        SN_CUDA_CHECK(launch_lut_gemv(problem, state.stream, state.programmatic_launch));
        return SN_OK;
    }
    const int64_t slice_rows = std::min<int64_t>(m, static_cast<int64_t>(state.scratch_floats * 2) / n);
    SN_CHECK(slice_rows >= 1, SN_ERR_UNSUPPORTED,
             "the CUDA backend's lut_matmul_swiglu needs one row of the F16 product (2I = %lld values) in its "
             "scratch of %zu floats",
             static_cast<long long>(n), state.scratch_floats);
    __half* product = reinterpret_cast<__half*>(state.scratch);
    for (int64_t first = 0; first < m; first += slice_rows) {
        const int64_t rows = std::min(slice_rows, m - first);
        problem.m = rows;
        problem.x = args.x->data_as<const __half>() + first * k;
        problem.out = product;
        SN_TRY(run_lut_product(state, args, problem));
        // The bias is in the product already (run_lut_product); g and u are F16 there.
        swiglu_product_kernel<__half, __half>
            <<<grid_blocks(state, rows * columns), kElementwiseThreads, 0, state.stream>>>(
                product, FloatInput{nullptr, SN_DTYPE_F32}, false, args.out->data_as<__half>() + first * columns, rows,
                columns);
        SN_CUDA_CHECK_LAUNCH("swiglu_product_kernel");
    }
    return SN_OK;
}

}  // namespace sn::cuda
