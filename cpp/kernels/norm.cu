// RMSNorm (HF LLaMA) and LayerNorm (torch.nn.LayerNorm) on CUDA: one block per row of D; the
// row's statistics are reduced in float over the block, then every element is normalised and
// rounded once to the output dtype. In place is safe: a row is fully read (first pass) before the
// block's barrier, and each thread later reads and writes the same elements.
//
//   rms:    out = weight · x / sqrt(mean(x²) + eps)
//   layer:  out = (x − mean) / sqrt(mean((x − mean)²) + eps) · weight (+ bias)   two passes, so the
//           variance of rows with a large mean keeps its precision
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

template <class T>
__global__ void rms_norm_kernel(const T* x, FloatInput weight, float eps, T* out, int64_t width) {
    __shared__ float partial[32];
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
    const int64_t width = args.x->last_dim();
    const int64_t rows = args.x->rows();
    SN_CHECK(rows <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED, "the CUDA backend normalises at most 2^31 − 1 rows, got %lld",
             static_cast<long long>(rows));
    const int threads = row_block_threads(width);
    return dispatch_float(args.x->dtype, [&](auto tag) {
        using T = decltype(tag);
        if (layer) {
            layer_norm_kernel<T><<<static_cast<unsigned>(rows), threads, 0, state.stream>>>(
                args.x->data_as<const T>(), float_input(args.weight), float_input(args.bias), args.eps,
                args.out->data_as<T>(), width);
            SN_CUDA_CHECK_LAUNCH("layer_norm_kernel");
        } else {
            rms_norm_kernel<T><<<static_cast<unsigned>(rows), threads, 0, state.stream>>>(
                args.x->data_as<const T>(), float_input(args.weight), args.eps, args.out->data_as<T>(), width);
            SN_CUDA_CHECK_LAUNCH("rms_norm_kernel");
        }
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
