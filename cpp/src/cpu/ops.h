// CPU implementations of the ops in SN_OP_LIST (one .cpp per family). Arguments arrive
// validated by api_ops.cpp and dtype-checked against the accepts masks in cpu/cpu_backend.cpp.
#pragma once

#include "backend.h"

#include <algorithm>
#include <cstdint>

namespace sn::cpu {

sn_status copy(Context& context, const CopyArgs& args);                   // copy.cpp
sn_status matmul(Context& context, const MatmulArgs& args);               // matmul.cpp
sn_status matmul_add(Context& context, const MatmulArgs& args);           // matmul.cpp
sn_status matmul_swiglu(Context& context, const MatmulArgs& args);        // activation.cpp
sn_status add(Context& context, const BinaryArgs& args);                  // elementwise.cpp
sn_status mul(Context& context, const BinaryArgs& args);                  // elementwise.cpp
sn_status rms_norm(Context& context, const NormArgs& args);               // norm.cpp
sn_status layer_norm(Context& context, const NormArgs& args);             // norm.cpp
sn_status silu(Context& context, const UnaryArgs& args);                  // activation.cpp
sn_status relu(Context& context, const UnaryArgs& args);                  // activation.cpp
sn_status gelu(Context& context, const GeluArgs& args);                   // activation.cpp
sn_status swiglu(Context& context, const SwigluArgs& args);               // activation.cpp
sn_status softmax(Context& context, const UnaryArgs& args);               // softmax.cpp
sn_status rope(Context& context, const RopeArgs& args);                   // rope.cpp
sn_status embedding(Context& context, const EmbeddingArgs& args);         // embedding.cpp
sn_status kv_write(Context& context, const KvWriteArgs& args);            // kv_write.cpp
sn_status rope_kv_write(Context& context, const RopeKvWriteArgs& args);   // rope.cpp
sn_status attention(Context& context, const AttentionArgs& args);         // attention.cpp
sn_status cross_entropy(Context& context, const CrossEntropyArgs& args);  // cross_entropy.cpp
sn_status fill_random(Context& context, const FillRandomArgs& args);      // random.cpp

// matmul's product written to a plain F32 buffer out[M, N] (rows of x × rows of weight), the same
// code and summation as sn_matmul: for ops built on a product (matmul_swiglu). matmul.cpp.
sn_status matmul_into(Context& context, const Tensor& x, const Tensor& weight, const Tensor* bias, float* out);

// Threads worth using for `work` units of about one cheap arithmetic operation each: below
// ~32k units per thread, waking a team costs more than it saves (empirical).
inline int worker_count(const Context& context, int64_t work) {
    constexpr int64_t kMinWorkPerThread = 32768;
    const int64_t useful = std::max<int64_t>(1, work / kMinWorkPerThread);
    return static_cast<int>(std::min<int64_t>(context.num_threads, useful));
}

}  // namespace sn::cpu
