// The SiLU every CUDA kernel that applies it uses (sn_silu, sn_swiglu and the SwiGLU epilogues of
// the F16 GEMV, matmul_swiglu's prefill path and the LUT-GEMV): one formula, so that a fused
// epilogue computes what the product followed by sn_swiglu computed, bit for bit.
#pragma once

// silu(x) = x·sigmoid(x) = x / (1 + e^-x), as torch.nn.functional.silu.
__device__ __forceinline__ float silu_of(float x) {
    return x / (1.0f + expf(-x));
}
