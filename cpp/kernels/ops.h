// The CUDA backend's op functions (one .cu per family in this folder), as listed in its op table
// (src/cuda/cuda_backend.cpp). Arguments arrive validated by src/api_ops.cpp and dtype-checked
// against the table's masks; each op checks what only it knows (dtype combinations, limits),
// enqueues its kernels on the context's stream and checks every launch. No op allocates or
// waits for the device, except kmeans_rows (offline quantization, not a decode op), which takes
// its scratch per call with a stream-ordered allocation.
#pragma once

#include "backend.h"

namespace sn::cuda {

sn_status copy(Context& context, const CopyArgs& args);                   // copy.cu
sn_status matmul(Context& context, const MatmulArgs& args);               // matmul.cu
sn_status matmul_add(Context& context, const MatmulArgs& args);           // matmul.cu
sn_status matmul_swiglu(Context& context, const MatmulArgs& args);        // matmul.cu
sn_status add(Context& context, const BinaryArgs& args);                  // elementwise.cu
sn_status mul(Context& context, const BinaryArgs& args);                  // elementwise.cu
sn_status silu(Context& context, const UnaryArgs& args);                  // elementwise.cu
sn_status relu(Context& context, const UnaryArgs& args);                  // elementwise.cu
sn_status gelu(Context& context, const GeluArgs& args);                   // elementwise.cu
sn_status swiglu(Context& context, const SwigluArgs& args);               // elementwise.cu
sn_status rms_norm(Context& context, const NormArgs& args);               // norm.cu
sn_status layer_norm(Context& context, const NormArgs& args);             // norm.cu
sn_status softmax(Context& context, const UnaryArgs& args);               // softmax.cu
sn_status rope(Context& context, const RopeArgs& args);                   // rope.cu
sn_status embedding(Context& context, const EmbeddingArgs& args);         // embedding.cu
sn_status kv_write(Context& context, const KvWriteArgs& args);            // kv_write.cu
sn_status rope_kv_write(Context& context, const RopeKvWriteArgs& args);   // rope.cu
sn_status attention(Context& context, const AttentionArgs& args);         // attention.cu
sn_status cross_entropy(Context& context, const CrossEntropyArgs& args);  // cross_entropy.cu
sn_status fill_random(Context& context, const FillRandomArgs& args);      // random.cu
sn_status lut_matmul(Context& context, const LutMatmulArgs& args);        // lut_matmul.cu
sn_status lut_matmul_swiglu(Context& context, const LutMatmulArgs& args);  // lut_matmul.cu
sn_status lut_repack(Context& context, const LutRepackArgs& args);        // lut_matmul.cu
sn_status kmeans_rows(Context& context, const KmeansRowsArgs& args);      // kmeans.cu

// The backward ops of the Fisher pass, F32 activations and gradients.
sn_status matmul_backward_input(Context& context, const MatmulBackwardInputArgs& args);    // linear_backward.cu
sn_status fisher_accumulate(Context& context, const FisherAccumulateArgs& args);           // linear_backward.cu
sn_status rms_norm_backward(Context& context, const NormBackwardArgs& args);               // backward.cu
sn_status layer_norm_backward(Context& context, const NormBackwardArgs& args);             // backward.cu
sn_status swiglu_backward(Context& context, const SwigluBackwardArgs& args);               // backward.cu
sn_status activation_backward(Context& context, const ActivationBackwardArgs& args);       // backward.cu
sn_status cross_entropy_backward(Context& context, const CrossEntropyBackwardArgs& args);  // backward.cu
sn_status rope_backward(Context& context, const RopeBackwardArgs& args);                   // rope.cu
sn_status attention_backward(Context& context, const AttentionBackwardArgs& args);         // attention_backward.cu

}  // namespace sn::cuda
