// CPU implementations of the LUT-quantized linear, the per-row k-means and the backward ops (one .cpp per family),
// and their op-table entries. Arguments arrive validated by api_ops_quant.cpp / api_ops_backward.cpp.
#pragma once

#include "backend.h"

namespace sn::cpu {

sn_status lut_matmul(Context& context, const LutMatmulArgs& args);                         // lut_matmul.cpp
sn_status lut_matmul_swiglu(Context& context, const LutMatmulArgs& args);                  // activation.cpp
// lut_matmul's product into `out` [M, N] F32 (args.out is not read): for ops built on it. Takes
// scratch_floats for itself. lut_matmul.cpp.
sn_status lut_matmul_into(Context& context, const LutMatmulArgs& args, float* out);
sn_status lut_repack(Context& context, const LutRepackArgs& args);                         // lut_matmul.cpp
sn_status kmeans_rows(Context& context, const KmeansRowsArgs& args);                       // kmeans.cpp
sn_status matmul_backward_input(Context& context, const MatmulBackwardInputArgs& args);    // linear_backward.cpp
sn_status fisher_accumulate(Context& context, const FisherAccumulateArgs& args);           // linear_backward.cpp
sn_status rms_norm_backward(Context& context, const NormBackwardArgs& args);               // norm_backward.cpp
sn_status layer_norm_backward(Context& context, const NormBackwardArgs& args);             // norm_backward.cpp
sn_status swiglu_backward(Context& context, const SwigluBackwardArgs& args);               // activation_backward.cpp
sn_status activation_backward(Context& context, const ActivationBackwardArgs& args);       // activation_backward.cpp
sn_status rope_backward(Context& context, const RopeBackwardArgs& args);                   // rope.cpp
sn_status attention_backward(Context& context, const AttentionBackwardArgs& args);         // attention_backward.cpp
sn_status cross_entropy_backward(Context& context, const CrossEntropyBackwardArgs& args);  // cross_entropy_backward.cpp

// Fills the entries of these ops in the CPU backend's table (called by cpu_backend.cpp).
void add_quant_backward_ops(OpTable& ops);

}  // namespace sn::cpu
