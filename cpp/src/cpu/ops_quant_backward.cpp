// The CPU backend's table entries for the LUT-quantized linear, the per-row k-means and the
// backward ops.
// Activations, gradients and outputs are F32 (the Fisher pass runs in F32 on the CPU); linear and
// norm weights and biases may be any float dtype; codes, indices and positions are I32; the LUT
// and the sparse values are F16 as in the checkpoint. k-means reads F32 values and weights, U8 or
// I32 exclusion flags, and writes an F32 LUT and U8 codes.
#include "cpu/ops_quant_backward.h"

namespace sn::cpu {

void add_quant_backward_ops(OpTable& ops) {
    constexpr DtypeMask kMaskF16 = dtype_bit(SN_DTYPE_F16);
    ops.lut_matmul = {cpu::lut_matmul,
                      {kMaskF32, kMaskI32, kMaskF16, kMaskI32, kMaskI32, kMaskF16, kMaskFloat, kMaskF32}};
    ops.lut_matmul_swiglu = {cpu::lut_matmul_swiglu,
                             {kMaskF32, kMaskI32, kMaskF16, kMaskI32, kMaskI32, kMaskF16, kMaskFloat, kMaskF32}};
    ops.lut_repack = {cpu::lut_repack, {kMaskI32, kMaskI32}};
    ops.kmeans_rows = {cpu::kmeans_rows,
                       {kMaskF32, kMaskF32, dtype_bit(SN_DTYPE_U8) | kMaskI32, kMaskF32, dtype_bit(SN_DTYPE_U8)}};
    ops.matmul_backward_input = {cpu::matmul_backward_input, {kMaskF32, kMaskFloat, kMaskF32}};
    ops.fisher_accumulate = {cpu::fisher_accumulate, {kMaskF32, kMaskF32, kMaskF32}};
    ops.rms_norm_backward = {cpu::rms_norm_backward, {kMaskF32, kMaskFloat, kMaskF32, kMaskF32}};
    ops.layer_norm_backward = {cpu::layer_norm_backward, {kMaskF32, kMaskFloat, kMaskF32, kMaskF32}};
    ops.swiglu_backward = {cpu::swiglu_backward, {kMaskF32, kMaskF32, kMaskF32, kMaskF32, kMaskF32}};
    ops.activation_backward = {cpu::activation_backward, {kMaskF32, kMaskF32, kMaskF32}};
    ops.rope_backward = {cpu::rope_backward, {kMaskF32, kMaskI32, kMaskF32}};
    ops.attention_backward = {cpu::attention_backward,
                              {kMaskF32, kMaskI32, kMaskF32, kMaskF32, kMaskF32, kMaskF32, kMaskF32, kMaskF32}};
    ops.cross_entropy_backward = {cpu::cross_entropy_backward, {kMaskF32, kMaskI32, kMaskF32}};
}

}  // namespace sn::cpu
