// The Fisher pass's linear products on CUDA: F32 activations and gradients against the model's
// weights as stored (F16/BF16, or F32), on cuBLAS with TF32 tensor cores.
//
//   forward (matmul.cu)      out[M, N] (+)= x[M, K] · W[N, K]ᵀ       x, out F32; W 16-bit
//   matmul_backward_input    dx[M, K] (=, +=) dy[M, N] · W[N, K]      dy, dx F32; W any float
//   fisher_accumulate        fisher[N, K] += G ⊙ G,  G = dy[T, N]ᵀ · x[T, K]   all F32
//
// Why TF32: the pass does ≈ 6·P·T flops per window (P quantizable weights, T tokens), 20 TFLOP a
// window for LLaMA-2-7B at T = 512. Exact F32 products (the CPU's) run at ~50 TFLOP/s on an
// H100, TF32 at several times that; the products' inputs keep F32's range (gradients of a mean
// over 511 tokens reach 1e-9, below F16's), only their mantissas shrink to 10 bits, so each
// product is within ~1e-3 relative of the F32 one. A Fisher diagonal ranks weights and weights
// the k-means; that error moves neither (the tests bound it against the CPU ops).
//
// cuBLAS takes A and B of one type, so a 16-bit W is widened to F32 a slice of rows at a time
// into the context's dequant buffer (32 MiB: 2048 rows of K = 4096), and each slice is one GEMM:
//   forward  out[:, n0:n1]        = x · W[n0:n1]ᵀ               (ldc = N: a column block of out)
//   backward dx (=, +=)          += dy[:, n0:n1] · W[n0:n1]      (beta 1 after the first slice)
// An F32 W needs no widening: one GEMM over all of it. G is never whole either: a slice of its rows
// G[n0:n1] = dy[:, n0:n1]ᵀ · x goes into the context's scratch (16 MiB: 1024 rows of K = 4096),
// then square_add_kernel adds its squares into fisher[n0:n1]. Row-major operands as cuBLAS's
// column-major ones (kernels/cublas_linear.h): W[r, K] is K×r (ld K), dy[M, N] is N×M (ld N).
#include "kernels/common.cuh"
#include "kernels/cublas_linear.h"

#include <algorithm>

namespace sn::cuda {
namespace {

constexpr cublasComputeType_t kTf32 = CUBLAS_COMPUTE_32F_FAST_TF32;

template <class W>
__global__ void widen_kernel(const W* weight, float* out, int64_t count) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        out[i] = to_float(weight[i]);
    }
}

// fisher[i] += g[i]², four at a time where both are 16-byte aligned and the count allows.
__global__ void square_add_kernel(const float* g, float* fisher, int64_t count) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t first = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    const bool vector = (reinterpret_cast<uintptr_t>(g) % 16 == 0) && (reinterpret_cast<uintptr_t>(fisher) % 16 == 0);
    int64_t tail = 0;
    if (vector) {
        const int64_t quads = count / 4;
        for (int64_t i = first; i < quads; i += stride) {
            const float4 v = reinterpret_cast<const float4*>(g)[i];
            float4 f = reinterpret_cast<float4*>(fisher)[i];
            f.x += v.x * v.x;
            f.y += v.y * v.y;
            f.z += v.z * v.z;
            f.w += v.w * v.w;
            reinterpret_cast<float4*>(fisher)[i] = f;
        }
        tail = quads * 4;
    }
    for (int64_t i = tail + first; i < count; i += stride) fisher[i] += g[i] * g[i];
}

template <class W>
sn_status widen_rows(const State& state, const Tensor* weight, int64_t first_row, int64_t rows, float* out) {
    const int64_t k = weight->last_dim();
    widen_kernel<W><<<grid_blocks(state, rows * k), kElementwiseThreads, 0, state.stream>>>(
        weight->data_as<const W>() + first_row * k, out, rows * k);
    SN_CUDA_CHECK_LAUNCH("widen_kernel");
    return SN_OK;
}

// Calls body(first_row, rows, data) for consecutive slices of weight [N, K]'s rows as F32 that
// cuBLAS can read: an F32 weight is one slice, itself; a 16-bit one is widened a slice at a time
// into the dequant buffer (each body runs in stream order before the next slice overwrites it).
template <class Body>
sn_status for_each_f32_slice(const State& state, const Tensor* weight, const char* op, Body&& body) {
    const int64_t n = weight->dims[0], k = weight->dims[1];
    if (weight->dtype == SN_DTYPE_F32) return body(int64_t{0}, n, weight->data_as<const float>());
    const int64_t slice = static_cast<int64_t>(state.dequant_bytes / sizeof(float)) / k;
    SN_CHECK(slice >= 1, SN_ERR_UNSUPPORTED,
             "%s on CUDA widens 16-bit weight rows to F32 in a %zu-byte buffer, and one row of K = %lld does not fit",
             op, state.dequant_bytes, static_cast<long long>(k));
    float* widened = static_cast<float*>(state.dequant);
    for (int64_t first = 0; first < n; first += slice) {
        const int64_t rows = std::min(slice, n - first);
        SN_TRY(dispatch_float(
            weight->dtype, [&](auto tag) { return widen_rows<decltype(tag)>(state, weight, first, rows, widened); }));
        SN_TRY(body(first, rows, static_cast<const float*>(widened)));
    }
    return SN_OK;
}

}  // namespace

sn_status linear_f32_by_widened_weight(const State& state, const Tensor* x, const Tensor* weight, float beta,
                                       float* out) {
    const int64_t m = x->rows(), n = weight->dims[0], k = weight->dims[1];
    return for_each_f32_slice(state, weight, "matmul with F32 x and a 16-bit weight",
                              [&](int64_t first, int64_t rows, const float* slice) -> sn_status {
                                  SN_CUBLAS_CHECK(cublas_linear(state.cublas, m, rows, k, slice, CUDA_R_32F, x->data(),
                                                                CUDA_R_32F, beta, out + first, CUDA_R_32F, n, kTf32));
                                  return SN_OK;
                              });
}

sn_status matmul_backward_input(Context& context, const MatmulBackwardInputArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t m = args.dy->rows(), n = args.weight->dims[0], k = args.weight->dims[1];
    SN_CHECK(m <= 0x7FFFFFFF && n <= 0x7FFFFFFF && k <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED,
             "cuBLAS takes dimensions below 2^31, got M = %lld, N = %lld, K = %lld", static_cast<long long>(m),
             static_cast<long long>(n), static_cast<long long>(k));
    const float alpha = 1.0f;
    const float* dy = args.dy->data_as<const float>();
    float* dx = args.dx->data_as<float>();
    // dxᶜ (K×M, ld K) (+)= W[n0:n1]ᶜ (K×r, ld K) · dy[:, n0:n1]ᶜ (r×M, ld N); beta 1 after the first slice
    return for_each_f32_slice(
        state, args.weight, "matmul_backward_input", [&](int64_t first, int64_t rows, const float* slice) -> sn_status {
            const float beta = first == 0 && !args.accumulate ? 0.0f : 1.0f;
            SN_CUBLAS_CHECK(cublasGemmEx(state.cublas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(k),
                                         static_cast<int>(m), static_cast<int>(rows), &alpha, slice, CUDA_R_32F,
                                         static_cast<int>(k), dy + first, CUDA_R_32F, static_cast<int>(n), &beta, dx,
                                         CUDA_R_32F, static_cast<int>(k), kTf32, CUBLAS_GEMM_DEFAULT));
            return SN_OK;
        });
}

sn_status fisher_accumulate(Context& context, const FisherAccumulateArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t n = args.fisher->dims[0], k = args.fisher->dims[1], tokens = args.dy->rows();
    SN_CHECK(tokens <= 0x7FFFFFFF && n <= 0x7FFFFFFF && k <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED,
             "cuBLAS takes dimensions below 2^31, got T = %lld, N = %lld, K = %lld", static_cast<long long>(tokens),
             static_cast<long long>(n), static_cast<long long>(k));
    const int64_t slice = static_cast<int64_t>(state.scratch_floats) / k;
    SN_CHECK(slice >= 1, SN_ERR_UNSUPPORTED,
             "fisher_accumulate on CUDA forms the gradient a slice of rows at a time in a %zu-float scratch, and one "
             "row of K = %lld does not fit",
             state.scratch_floats, static_cast<long long>(k));
    const float alpha = 1.0f, beta = 0.0f;
    const float* dy = args.dy->data_as<const float>();
    float* fisher = args.fisher->data_as<float>();
    for (int64_t first = 0; first < n; first += slice) {
        const int64_t rows = std::min(slice, n - first);
        // G[n0:n1]ᶜ (K×r, ld K) = xᶜ (K×T, ld K) · (dy[:, n0:n1]ᶜ (r×T, ld N))ᵀ
        SN_CUBLAS_CHECK(cublasGemmEx(
            state.cublas, CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(k), static_cast<int>(rows),
            static_cast<int>(tokens), &alpha, args.x->data(), CUDA_R_32F, static_cast<int>(k), dy + first, CUDA_R_32F,
            static_cast<int>(n), &beta, state.scratch, CUDA_R_32F, static_cast<int>(k), kTf32, CUBLAS_GEMM_DEFAULT));
        square_add_kernel<<<grid_blocks(state, rows * k / 4 + 1), kElementwiseThreads, 0, state.stream>>>(
            state.scratch, fisher + first * k, rows * k);
        SN_CUDA_CHECK_LAUNCH("square_add_kernel");
    }
    return SN_OK;
}

}  // namespace sn::cuda
