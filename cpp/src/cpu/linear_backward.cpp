// Gradients of a linear layer y[M, N] = x[M, K] · W[N, K]ᵀ, both through panel_gemm:
//
//   input gradient   dx[M, K] (=, +=)  dy[M, N] · W[N, K]
//                    A = dy as stored; B = W as stored (p = n, j = k), widened from F16/BF16 while packing.
//   Fisher           fisher[N, K] += G ⊙ G,  G = dy[T, N]ᵀ · x[T, K]   (G: the sample's weight gradient)
//                    A = dyᵀ, read through strides (element (n, t) at dy[t·N + n]); B = x (p = t, j = k).
//                    The epilogue squares the finished G of each tile, so G never exists in full.
#include "cpu/ops_quant_backward.h"
#include "cpu/panel_gemm.h"
#include "cpu/scratch.h"

namespace sn::cpu {

sn_status matmul_backward_input(Context& context, const MatmulBackwardInputArgs& args) {
    const int64_t n = args.weight->dims[0];
    const int64_t k = args.weight->dims[1];
    const int64_t m = args.dy->rows();
    const StridedSource weight{args.weight->data(), args.weight->dtype, k, 1};
    const PanelGemm gemm{
        m,
        k,
        n,
        StridedF32{args.dy->data_as<const float>(), n, 1},
        panel_source(&weight),
        args.dx->data_as<float>(),
        k,
        nullptr,
        args.accumulate ? Epilogue::add : Epilogue::store,
    };
    panel_gemm(context, gemm, scratch_floats(panel_gemm_workspace_floats(context)));
    return SN_OK;
}

sn_status fisher_accumulate(Context& context, const FisherAccumulateArgs& args) {
    const int64_t n = args.fisher->dims[0];
    const int64_t k = args.fisher->dims[1];
    const int64_t tokens = args.dy->rows();
    const StridedSource x{args.x->data(), SN_DTYPE_F32, k, 1};
    const PanelGemm gemm{
        n,
        k,
        tokens,
        StridedF32{args.dy->data_as<const float>(), 1, n},
        panel_source(&x),
        args.fisher->data_as<float>(),
        k,
        nullptr,
        Epilogue::add_square,
    };
    panel_gemm(context, gemm, scratch_floats(panel_gemm_workspace_floats(context)));
    return SN_OK;
}

}  // namespace sn::cpu
