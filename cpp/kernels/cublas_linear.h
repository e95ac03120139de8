// One cuBLAS call for a row-major linear, shared by the dense ops (kernels/matmul.cu), the
// quantized prefill (kernels/lut_gemv.cu) and sn_bench_cuda's baselines.
//
// Row-major operands seen column-major by cuBLAS: W [N, K] row-major is a K×N column-major
// matrix, x [M, K] is K×M, out [M, ldc] is ldc×M. So one cublasGemmEx computes
//   out (N×M, ld ldc) = Wᵀ (op T on K×N, ld K) · x (K×M, ld K)   (+ beta · out),
// accumulating in F32 (CUBLAS_COMPUTE_32F: no TF32 for F32 operands). ldc > N writes N columns of
// a wider output (a slice of W's rows). `compute` is CUBLAS_COMPUTE_32F (exact F32 products) unless
// the caller asks for TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32: the Fisher pass, kernels/
// linear_backward.cu).
#pragma once

#include <cublas_v2.h>

#include <cstdint>

namespace sn::cuda {

inline cublasStatus_t cublas_linear(cublasHandle_t handle, int64_t m, int64_t n, int64_t k, const void* weight,
                                    cudaDataType_t weight_type, const void* x, cudaDataType_t x_type, float beta,
                                    void* out, cudaDataType_t out_type, int64_t ldc,
                                    cublasComputeType_t compute = CUBLAS_COMPUTE_32F) {
    const float alpha = 1.0f;
    return cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                        &alpha, weight, weight_type, static_cast<int>(k), x, x_type, static_cast<int>(k), &beta, out,
                        out_type, static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT);
}

}  // namespace sn::cuda
