// RMSNorm (HF LLaMA) and LayerNorm (torch.nn.LayerNorm) on CUDA: one block per row of D; the
// row's statistics are reduced in float over the block, then every element is normalised and
// rounded once to the output dtype. In place is safe: a row is fully read (first pass) before the
// block's barrier, and each thread later reads and writes the same elements.
//
//   rms:    out = weight · x / sqrt(mean(x²) + eps)
//   layer:  out = (x − mean) / sqrt(mean((x − mean)²) + eps) · weight (+ bias)   two passes, so the
//           variance of rows with a large mean keeps its precision
//
// Decode rows (16-bit x, width a multiple of 8, at most kVectorMaxChunks · 1024 · 8): each thread
// loads all of its 16-byte chunks of x and of the weight into registers before reducing, so a row
// costs one memory latency instead of one per turn of a strided loop (the strided kernel took
// 15 µs for a 4096-wide row on an H100, 65 times per LLaMA-7B token; this one takes a few).
// Same arithmetic per element, so both kernels give the same values up to the order of the sum.
//
// Both are chained launches (common.cuh): they wait for the previous grid before their first load
// and let the next grid (the GEMV that reads the normalised row) be scheduled at once.
#include "kernels/common.cuh"

#include <algorithm>
#include <type_traits>

namespace sn::cuda {
namespace {

constexpr int kVectorMaxChunks = 4;  // 16-byte chunks per thread: rows up to 4 · 1024 · 8 = 32768 wide

// 8 consecutive elements of a float tensor as floats (16-byte aligned loads).
template <class W>
__device__ __forceinline__ void load8(const W* at, float (&v)[8]) {
    if constexpr (std::is_same_v<W, float>) {
        const float4 a = *reinterpret_cast<const float4*>(at), b = *reinterpret_cast<const float4*>(at + 4);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
        const uint4 raw = *reinterpret_cast<const uint4*>(at);
        const W* e = reinterpret_cast<const W*>(&raw);
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = to_float(e[i]);
    }
}

template <class T, class W, int kChunks>
__global__ void rms_norm_vector_kernel(const T* x, const W* weight, float eps, T* out, int64_t width) {
    static_assert(sizeof(T) == 2, "16-bit activations: 8 per 16-byte chunk");
    __shared__ float partial[32];
    allow_next_grid();  // before the wait: the next op's kernel may start streaming its weights (chained_launch.h)
    wait_for_previous_grid();
    const T* row = x + blockIdx.x * width;
    T* out_row = out + blockIdx.x * width;
    const int64_t chunks = width / 8;
    uint4 xv[kChunks];
    float w[kChunks][8];
    float sum_squares = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const int64_t chunk = threadIdx.x + static_cast<int64_t>(c) * blockDim.x;
        xv[c] = chunk < chunks ? *reinterpret_cast<const uint4*>(row + 8 * chunk) : make_uint4(0u, 0u, 0u, 0u);
        if (chunk < chunks) load8(weight + 8 * chunk, w[c]);
    }
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const T* e = reinterpret_cast<const T*>(&xv[c]);
#pragma unroll
        for (int i = 0; i < 8; ++i) sum_squares += to_float(e[i]) * to_float(e[i]);
    }
    sum_squares = block_sum(sum_squares, partial);
    const float inverse_rms = rsqrtf(sum_squares / static_cast<float>(width) + eps);
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const int64_t chunk = threadIdx.x + static_cast<int64_t>(c) * blockDim.x;
        if (chunk >= chunks) continue;
        const T* e = reinterpret_cast<const T*>(&xv[c]);
        uint4 packed;
        T* o = reinterpret_cast<T*>(&packed);
#pragma unroll
        for (int i = 0; i < 8; ++i) o[i] = from_float<T>(w[c][i] * (to_float(e[i]) * inverse_rms));
        *reinterpret_cast<uint4*>(out_row + 8 * chunk) = packed;
    }
}

// Whether rms_norm_vector_kernel takes these rows, and its chunks per thread and threads.
bool vector_rows(const NormArgs& args, int64_t width, int* chunks_per_thread, int* threads) {
    if (args.x->dtype == SN_DTYPE_F32 || width % 8 != 0 || width > int64_t{kVectorMaxChunks} * 1024 * 8) return false;
    const void* pointers[] = {args.x->data(), args.out->data(), args.weight->data()};
    for (const void* at : pointers) {
        if (reinterpret_cast<uintptr_t>(at) % 16 != 0) return false;  // 16-byte loads and stores
    }
    const int64_t chunks = width / 8;
    *chunks_per_thread = chunks <= 1024 ? 1 : chunks <= 2048 ? 2 : 4;
    const int64_t per_thread = *chunks_per_thread;
    *threads = static_cast<int>(std::max<int64_t>(32, ((chunks + per_thread - 1) / per_thread + 31) / 32 * 32));
    return true;
}

template <class T>
__global__ void rms_norm_kernel(const T* x, FloatInput weight, float eps, T* out, int64_t width) {
    __shared__ float partial[32];
    allow_next_grid();  // before the wait: the next op's kernel may start streaming its weights (chained_launch.h)
    wait_for_previous_grid();
    const T* row = x + blockIdx.x * width;
    T* out_row = out + blockIdx.x * width;
    float sum_squares = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        const float value = to_float(row[i]);
        sum_squares += value * value;
    }
    sum_squares = block_sum(sum_squares, partial);
    const float inverse_rms = rsqrtf(sum_squares / static_cast<float>(width) + eps);
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        out_row[i] = from_float<T>(weight[i] * (to_float(row[i]) * inverse_rms));
    }
}

template <class T>
__global__ void layer_norm_kernel(const T* x, FloatInput weight, FloatInput bias, float eps, T* out, int64_t width) {
    __shared__ float partial[32];
    allow_next_grid();  // before the wait: the next op's kernel may start streaming its weights (chained_launch.h)
    wait_for_previous_grid();
    const T* row = x + blockIdx.x * width;
    T* out_row = out + blockIdx.x * width;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sum += to_float(row[i]);
    const float mean = block_sum(sum, partial) / static_cast<float>(width);
    float sum_squares = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        const float centered = to_float(row[i]) - mean;
        sum_squares += centered * centered;
    }
    const float inverse_std = rsqrtf(block_sum(sum_squares, partial) / static_cast<float>(width) + eps);
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        float value = (to_float(row[i]) - mean) * inverse_std * weight[i];
        if (bias.data != nullptr) value += bias[i];
        out_row[i] = from_float<T>(value);
    }
}

sn_status norm(Context& context, const NormArgs& args, bool layer) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    context.op_releases_early = true;  // every norm kernel releases the next before its wait
    const int64_t width = args.x->last_dim();
    const int64_t rows = args.x->rows();
    SN_CHECK(rows <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED, "the CUDA backend normalises at most 2^31 − 1 rows, got %lld",
             static_cast<long long>(rows));
    const int threads = row_block_threads(width);
    const dim3 grid(static_cast<unsigned>(rows));
    return dispatch_float(args.x->dtype, [&](auto tag) -> sn_status {
        using T = decltype(tag);
        if (layer) {
            SN_CUDA_CHECK(launch_chained(state, layer_norm_kernel<T>, grid, dim3(threads), 0, args.x->data_as<const T>(),
                                         float_input(args.weight), float_input(args.bias), args.eps,
                                         args.out->data_as<T>(), width));
            return SN_OK;
        }
        int chunks_per_thread = 0, vector_threads = 0;
        if constexpr (sizeof(T) == 2) {
            if (vector_rows(args, width, &chunks_per_thread, &vector_threads)) {
                return dispatch_float(args.weight->dtype, [&](auto weight_tag) -> sn_status {
                    using W = decltype(weight_tag);
                    const T* x = args.x->data_as<const T>();
                    const W* weight = args.weight->data_as<const W>();
                    T* out = args.out->data_as<T>();
                    const dim3 block(vector_threads);
                    if (chunks_per_thread == 1) {
                        SN_CUDA_CHECK(launch_chained(state, rms_norm_vector_kernel<T, W, 1>, grid, block, 0, x, weight,
                                                     args.eps, out, width));
                    } else if (chunks_per_thread == 2) {
                        SN_CUDA_CHECK(launch_chained(state, rms_norm_vector_kernel<T, W, 2>, grid, block, 0, x, weight,
                                                     args.eps, out, width));
                    } else {
                        SN_CUDA_CHECK(launch_chained(state, rms_norm_vector_kernel<T, W, kVectorMaxChunks>, grid, block,
                                                     0, x, weight, args.eps, out, width));
                    }
                    return SN_OK;
                });
            }
        }
        SN_CUDA_CHECK(launch_chained(state, rms_norm_kernel<T>, grid, dim3(threads), 0, args.x->data_as<const T>(),
                                     float_input(args.weight), args.eps, args.out->data_as<T>(), width));
        return SN_OK;
    });
}

}  // namespace

sn_status rms_norm(Context& context, const NormArgs& args) {
    return norm(context, args, false);
}

sn_status layer_norm(Context& context, const NormArgs& args) {
    return norm(context, args, true);
}

}  // namespace sn::cuda
