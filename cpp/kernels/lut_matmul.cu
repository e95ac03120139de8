// Quantized linears on CUDA (squeeze_native.h, "Quantized linears"): the ops lut_repack and
// lut_matmul around the kernels of kernels/lut_gemv.cu.
//
// lut_matmul takes the tiled layout only (sn_lut_repack writes it once at load time; reading the
// checkpoint layout would need a second, slower kernel, and a silent slow path is what the repack
// exists to avoid). x and out are F16 (the CUDA backend's activations).
//   M <= kGemvRowsMax (64): the LUT-GEMV, 32 rows of x per launch (kernels/lut_gemv.cu).
//   larger M (prefill): W is dequantized to F16 a slice of rows at a time into the context's
//     dequant buffer (32 MiB: 4096 rows of K = 4096) and multiplied on cuBLAS; the decoding is
//     paid once per row however large M is, where the GEMV would stream and decode W again for
//     every 32 rows of x.
#include "kernels/common.cuh"
#include "kernels/lut_gemv.h"
#include "lut_layout.h"
#include "validate.h"

#include <algorithm>

namespace sn::cuda {
namespace {

constexpr int64_t kGemvRowsMax = 64;

// out = bias (broadcast over rows), or out += bias; then cuBLAS adds the products with beta = 1.
template <class Bias>
__global__ void lut_bias_kernel(__half* out, const Bias* bias, int64_t rows, int64_t columns, bool accumulate) {
    const int64_t count = rows * columns;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float base = accumulate ? __half2float(out[i]) : 0.0f;
        out[i] = __float2half_rn(base + to_float(bias[i % columns]));
    }
}

sn_status prefill(Context& context, const LutMatmulArgs& args, const LutGemvProblem& problem, int64_t rows_per_slice) {
    State& state = state_of(context);
    const int64_t m = args.x->rows(), n = problem.n, k = problem.k;
    __half* out = args.out->data_as<__half>();
    if (args.bias != nullptr) {
        const sn_status status = dispatch_float(args.bias->dtype, [&](auto tag) {
            using B = decltype(tag);
            lut_bias_kernel<B><<<grid_blocks(state, m * n), kElementwiseThreads, 0, state.stream>>>(
                out, args.bias->data_as<const B>(), m, n, args.accumulate);
            SN_CUDA_CHECK_LAUNCH("lut_bias_kernel");
            return SN_OK;
        });
        SN_TRY(status);
    }
    const float alpha = 1.0f, beta = args.accumulate || args.bias != nullptr ? 1.0f : 0.0f;
    const int64_t tiles_per_slice = rows_per_slice / lut::kTileRows;
    for (int64_t tile = 0; tile < lut::tiles(n); tile += tiles_per_slice) {
        const int64_t tiles = std::min(tiles_per_slice, lut::tiles(n) - tile);
        const int64_t n0 = tile * lut::kTileRows, rows = std::min(n - n0, tiles * lut::kTileRows);
        SN_CUDA_CHECK(launch_lut_dequant(problem, tile, tiles, state.dequant, state.stream));
        // Row-major W slice [rows, K] is K×rows column-major; out [M, N] is N×M with ld N.
        SN_CUBLAS_CHECK(cublasGemmEx(state.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                                     static_cast<int>(m), static_cast<int>(k), &alpha, state.dequant, CUDA_R_16F,
                                     static_cast<int>(k), args.x->data(), CUDA_R_16F, static_cast<int>(k), &beta,
                                     out + n0, CUDA_R_16F, static_cast<int>(n), CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
    }
    return SN_OK;
}

}  // namespace

sn_status lut_repack(Context& context, const LutRepackArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t n = args.qweight->dims[1], k = args.qweight->dims[0] / args.bits * 32;
    SN_CUDA_CHECK(launch_lut_repack(args.qweight->data_as<const int32_t>(), args.packed->data_as<int32_t>(), n, k,
                                    args.bits, state.stream));
    return SN_OK;
}

sn_status lut_matmul(Context& context, const LutMatmulArgs& args) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    SN_CHECK(args.qweight->ndim == 3, SN_ERR_UNSUPPORTED,
             "qweight: the CUDA backend reads codes in its tiled layout; convert the checkpoint's qweight %s once "
             "with sn_lut_repack (sn_lut_repacked_shape gives the shape)",
             shape_text(*args.qweight).text);
    SN_CHECK(args.x->dtype == SN_DTYPE_F16, SN_ERR_UNSUPPORTED,
             "x: the CUDA backend's quantized linear takes F16 activations (x and out), got %s",
             dtype_name(args.x->dtype));
    SN_CHECK(lut_gemv_fits(args.x->data(), args.lut->data()), SN_ERR_UNSUPPORTED,
             "x and lut must start 16-byte aligned on the CUDA backend (a view at an odd offset?)");
    const int64_t m = args.x->rows(), n = args.lut->dims[0], k = args.x->last_dim();
    SN_CHECK(k <= 0x7FFFFFFF && n <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED,
             "the CUDA LUT-GEMV takes N and K below 2^31, got N = %lld, K = %lld", static_cast<long long>(n),
             static_cast<long long>(k));
    if (m == 0) return SN_OK;
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
    }
    problem.bias = args.bias != nullptr ? args.bias->data() : nullptr;
    problem.bias_dtype = args.bias == nullptr                ? LutBias::none
                         : args.bias->dtype == SN_DTYPE_F16  ? LutBias::f16
                         : args.bias->dtype == SN_DTYPE_BF16 ? LutBias::bf16
                                                             : LutBias::f32;
    problem.accumulate = args.accumulate;
    problem.n = n;
    problem.k = k;
    problem.bits = args.bits;
    problem.data_error = state.data_error_device;
    problem.op = static_cast<int32_t>(OpId::lut_matmul);
    // Rows of W per dequantized slice: whole tiles that fit the buffer.
    const int64_t rows_per_slice =
        static_cast<int64_t>(state.dequant_bytes / (static_cast<size_t>(k) * 2)) / lut::kTileRows * lut::kTileRows;
    if (m > kGemvRowsMax && rows_per_slice >= lut::kTileRows && m <= 0x7FFFFFFF) {
        return prefill(context, args, problem, rows_per_slice);
    }
    for (int64_t m0 = 0; m0 < m; m0 += kLutGemvMaxRows) {
        problem.m = std::min(kLutGemvMaxRows, m - m0);
        problem.x = args.x->data_as<const __half>() + m0 * k;
        problem.out = args.out->data_as<__half>() + m0 * n;
        SN_CUDA_CHECK(launch_lut_gemv(problem, state.stream, state.programmatic_launch));
    }
    return SN_OK;
}

}  // namespace sn::cuda
