// Quantized linears on CUDA (squeeze_native.h, "Quantized linears"): the ops lut_repack and
// lut_matmul around the kernels of kernels/lut_gemv.cu.
//
// lut_matmul takes the tiled layout only (sn_lut_repack writes it once at load time; reading the
// checkpoint layout would need a second, slower kernel, and a silent slow path is what the repack
// exists to avoid). x and out are F16 (the CUDA backend's activations). M <= 32 is one launch;
// larger M (prefill) runs in slices of 32 rows, each slice one launch that streams W again: the
// cost grows with M/32, which is fine for prompts of a few hundred tokens.
#include "kernels/common.cuh"
#include "kernels/lut_gemv.h"
#include "validate.h"

#include <algorithm>

namespace sn::cuda {

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
    for (int64_t m0 = 0; m0 < m; m0 += kLutGemvMaxRows) {
        problem.m = std::min(kLutGemvMaxRows, m - m0);
        problem.x = args.x->data_as<const __half>() + m0 * k;
        problem.out = args.out->data_as<__half>() + m0 * n;
        SN_CUDA_CHECK(launch_lut_gemv(problem, state.stream, state.programmatic_launch));
    }
    return SN_OK;
}

}  // namespace sn::cuda
