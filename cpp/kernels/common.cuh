// Shared pieces of the CUDA kernels: element types, conversions, dtype dispatch, reductions and
// launch sizes.
//
// Storage types: float (F32), __half (F16), __nv_bfloat16 (BF16). Kernels load every value as
// float, compute in float, and round once when storing (round to nearest even, as the CPU's
// src/half.h).
#pragma once

#include "cuda/state.h"
#include "kernels/activation.cuh"
#include "kernels/chained_launch.h"
#include "kernels/gemv.h"
#include "kernels/ops.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <utility>

namespace sn::cuda {

template <class T>
__device__ __forceinline__ float to_float(T value);
template <>
__device__ __forceinline__ float to_float<float>(float value) {
    return value;
}
template <>
__device__ __forceinline__ float to_float<__half>(__half value) {
    return __half2float(value);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 value) {
    return __bfloat162float(value);
}

template <class T>
__device__ __forceinline__ T from_float(float value);
template <>
__device__ __forceinline__ float from_float<float>(float value) {
    return value;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float value) {
    return __float2half_rn(value);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float value) {
    return __float2bfloat16_rn(value);
}

// A float tensor of any of the three dtypes read element by element as float: for operands whose
// dtype may differ from the main one (weights, biases, the b of add). The switch is uniform
// across the grid, so it costs a branch, not divergence.
struct FloatInput {
    const void* data;
    sn_dtype dtype;

    __device__ __forceinline__ float operator[](int64_t i) const {
        switch (dtype) {
            case SN_DTYPE_F16:
                return __half2float(static_cast<const __half*>(data)[i]);
            case SN_DTYPE_BF16:
                return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[i]);
            default:
                return static_cast<const float*>(data)[i];
        }
    }
};

inline FloatInput float_input(const Tensor* tensor) {
    return tensor != nullptr ? FloatInput{tensor->data(), tensor->dtype} : FloatInput{nullptr, SN_DTYPE_F32};
}

// SwiGLU of a product through scratch (matmul_swiglu's and lut_matmul_swiglu's paths beyond their
// fused GEMV epilogues): product P [rows, 2·columns] (g | u per row, + bias when has_bias), g and u
// rounded to out's dtype T as sn_matmul would store them, out [rows, columns] = silu(g)·u.
template <class P, class T>
__global__ void swiglu_product_kernel(const P* product, FloatInput bias, bool has_bias, T* out, int64_t rows,
                                      int64_t columns) {
    const int64_t count = rows * columns;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t row = i / columns, j = i % columns;
        float gate = to_float(product[row * 2 * columns + j]);
        float up = to_float(product[row * 2 * columns + columns + j]);
        if (has_bias) {
            gate += bias[j];
            up += bias[columns + j];
        }
        gate = to_float(from_float<T>(gate));
        up = to_float(from_float<T>(up));
        out[i] = from_float<T>(silu_of(gate) * up);
    }
}

// Calls body(T{}) with T the storage type of a float dtype; the op table has already limited
// dtypes to these three.
template <class Body>
sn_status dispatch_float(sn_dtype dtype, Body&& body) {
    switch (dtype) {
        case SN_DTYPE_F32:
            return body(float{});
        case SN_DTYPE_F16:
            return body(__half{});
        case SN_DTYPE_BF16:
            return body(__nv_bfloat16{});
        default:
            break;
    }
    SN_FAIL(SN_ERR_INTERNAL, "dtype %d reached a CUDA float kernel", static_cast<int>(dtype));
}

// The GemvBias (kernels/gemv.h) of an optional bias tensor, for the hand-written linears.
inline GemvBias gemv_bias_of(const Tensor* bias) {
    if (bias == nullptr) return GemvBias::none;
    return bias->dtype == SN_DTYPE_F16 ? GemvBias::f16 : bias->dtype == SN_DTYPE_BF16 ? GemvBias::bf16 : GemvBias::f32;
}

// out[rows, columns] (of out_dtype) = bias broadcast over the rows, or += when accumulate: the bias
// of a product that cuBLAS then adds with beta = 1 (kernels/matmul.cu, kernels/lut_matmul.cu).
sn_status add_bias(const State& state, const Tensor* bias, sn_dtype out_dtype, void* out, int64_t rows, int64_t columns,
                   bool accumulate);

// out[M, N] F32 = x[M, K] F32 · weight[N, K]ᵀ (+ beta · out) for a 16-bit weight: widened a slice of
// rows at a time into the dequant buffer, TF32 products (kernels/linear_backward.cu says why).
sn_status linear_f32_by_widened_weight(const State& state, const Tensor* x, const Tensor* weight, float beta,
                                       float* out);

// Causal attention's visibility rule (kernels/attention.cu, attention_backward.cu): the row at
// `position` sees keys first_key .. position, first_key = max(0, position − window + 1) when
// window > 0 (sliding window), else 0.
__device__ __forceinline__ int attention_first_key(int position, int window) {
    return window > 0 ? max(0, position - window + 1) : 0;
}

// Sum / max over a warp, the result in every lane.
__device__ __forceinline__ float warp_sum(float value) {
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}
__device__ __forceinline__ double warp_sum(double value) {
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}
__device__ __forceinline__ float warp_max(float value) {
    for (int offset = 16; offset > 0; offset >>= 1) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
    return value;
}

// Sum / max over the block (blockDim.x a multiple of 32, at most 1024), the result in every
// thread. `shared` holds 32 values; the function ends with a barrier, so it may be called again.
template <class V>
__device__ __forceinline__ V block_sum(V value, V* shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    value = warp_sum(value);
    if (lane == 0) shared[warp] = value;
    __syncthreads();
    V total = lane < warps ? shared[lane] : V(0);
    total = warp_sum(total);
    __syncthreads();
    return total;
}
__device__ __forceinline__ float block_max(float value, float* shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    value = warp_max(value);
    if (lane == 0) shared[warp] = value;
    __syncthreads();
    float total = lane < warps ? shared[lane] : -INFINITY;
    total = warp_max(total);
    __syncthreads();
    return total;
}

// Threads for a kernel with one block per row of `width` elements: enough to give each thread a
// few elements, a multiple of 32, 32..256.
inline int row_block_threads(int64_t width) {
    int64_t threads = (width + 3) / 4;
    threads = (threads + 31) / 32 * 32;
    return static_cast<int>(threads < 32 ? 32 : threads > 256 ? 256 : threads);
}

// Blocks of 256 threads for a grid-stride loop over `count` elements: enough to fill the device,
// no more than the elements need.
inline unsigned grid_blocks(const State& state, int64_t count) {
    const int64_t needed = (count + 255) / 256;
    const int64_t plenty = static_cast<int64_t>(state.multiprocessors) * 16;
    return static_cast<unsigned>(needed < 1 ? 1 : needed < plenty ? needed : plenty);
}
constexpr int kElementwiseThreads = 256;

// launch_chained (kernels/chained_launch.h) on the context's stream, as a programmatic dependent
// launch where the device supports it.
template <class... Params, class... Args>
cudaError_t launch_chained(const State& state, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                           Args&&... args) {
    return launch_chained(state.stream, state.programmatic_launch, kernel, grid, block, shared_bytes,
                          std::forward<Args>(args)...);
}

}  // namespace sn::cuda
