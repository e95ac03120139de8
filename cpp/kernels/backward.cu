// The Fisher pass's row and elementwise backward ops on CUDA, F32 like the CPU's
// (src/cpu/*_backward.cpp, whose headers derive each formula):
//
//   rms_norm_backward     dx_i = r·w_i·dy_i − x_i · r³ · (Σ_j dy_j·w_j·x_j) / D,
//                         r = (mean(x²) + eps)^(−1/2)
//   layer_norm_backward   dx_i = r · (g_i − mean(g) − x̂_i · mean(g ⊙ x̂)),  g = dy ⊙ w
//   cross_entropy_backward  dlogits[t, i] = (softmax(logits[t])_i − [i = targets[t]]) · scale
//   activation_backward   relu, silu, gelu (erf, tanh) at the forward's input; dx may be dy
//   swiglu_backward       dgate = dy · up · silu'(gate),  dup = dy · silu(gate)
//
// The row ops run one block per row and reduce in double, as the CPU does (a 4096-wide row's
// float sum would differ from the CPU's in the 6th digit; double sums agree to rounding). The
// GELU derivatives are evaluated in double like the CPU's. Elementwise ops are grid-stride loops
// where each element is read before the same thread writes it, so in place is safe.
// A target outside [0, V) cannot fail the call (targets live on the device): its row is NaN and
// the next synchronize or download reports it (cuda/state.h).
#include "kernels/common.cuh"

#include <cmath>

namespace sn::cuda {
namespace {

template <bool kLayerNorm>
__global__ void norm_backward_kernel(const float* x, FloatInput weight, float eps, const float* dy, float* dx,
                                     int64_t width) {
    __shared__ double partial[32];
    const int64_t offset = blockIdx.x * width;
    const float* x_row = x + offset;
    const float* dy_row = dy + offset;
    float* dx_row = dx + offset;
    const double inverse_width = 1.0 / static_cast<double>(width);
    if constexpr (!kLayerNorm) {
        double sum_squares = 0.0, weighted = 0.0;
        for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
            const double value = x_row[i];
            sum_squares += value * value;
            weighted += static_cast<double>(dy_row[i]) * weight[i] * value;
        }
        sum_squares = block_sum(sum_squares, partial);
        weighted = block_sum(weighted, partial);
        const double inverse_rms = 1.0 / sqrt(sum_squares * inverse_width + eps);
        const float scale = static_cast<float>(inverse_rms);
        const float correction = static_cast<float>(inverse_rms * inverse_rms * inverse_rms * weighted * inverse_width);
        for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
            dx_row[i] = scale * weight[i] * dy_row[i] - x_row[i] * correction;
        }
    } else {
        double sum = 0.0;
        for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sum += x_row[i];
        const double mean = block_sum(sum, partial) * inverse_width;
        double sum_squares = 0.0, sum_g = 0.0, sum_g_centered = 0.0;
        for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
            const double centered = x_row[i] - mean;
            const double g = static_cast<double>(dy_row[i]) * weight[i];
            sum_squares += centered * centered;
            sum_g += g;
            sum_g_centered += g * centered;
        }
        sum_squares = block_sum(sum_squares, partial);
        sum_g = block_sum(sum_g, partial);
        sum_g_centered = block_sum(sum_g_centered, partial);
        const double inverse_std = 1.0 / sqrt(sum_squares * inverse_width + eps);
        const float scale = static_cast<float>(inverse_std);
        const float mean_f = static_cast<float>(mean);
        const float mean_g = static_cast<float>(sum_g * inverse_width);
        const float centered_factor = static_cast<float>(sum_g_centered * inverse_width * inverse_std * inverse_std);
        for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
            dx_row[i] = scale * (dy_row[i] * weight[i] - mean_g - (x_row[i] - mean_f) * centered_factor);
        }
    }
}

__global__ void cross_entropy_backward_kernel(const float* logits, const int32_t* targets, float scale, float* dlogits,
                                              int64_t width, DataError* error) {
    __shared__ float partial_max[32];
    __shared__ double partial_sum[32];
    const float* row = logits + blockIdx.x * width;
    float* out = dlogits + blockIdx.x * width;
    const int32_t target = targets[blockIdx.x];
    if (target < 0 || target >= width) {
        if (threadIdx.x == 0) report_bad_value(error, OpId::cross_entropy_backward, blockIdx.x, target, width);
        for (int64_t i = threadIdx.x; i < width; i += blockDim.x) out[i] = NAN;
        return;  // uniform over the block: no barrier below is skipped by some threads only
    }
    float maximum = -INFINITY;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) maximum = fmaxf(maximum, row[i]);
    maximum = block_max(maximum, partial_max);
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sum += static_cast<double>(expf(row[i] - maximum));
    sum = block_sum(sum, partial_sum);
    const float factor = static_cast<float>(static_cast<double>(scale) / sum);
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        const float value = expf(row[i] - maximum) * factor;
        out[i] = i == target ? value - scale : value;
    }
}

enum class Activation { relu, silu, gelu_erf, gelu_tanh };

__device__ __forceinline__ float sigmoid_of(float x) {
    return 1.0f / (1.0f + expf(-x));
}

// dy · act'(x) as the CPU rounds it: ReLU selects (no 0 · inf product), SiLU in float, the GELU
// forms in double with one rounding at the end.
template <Activation kActivation>
__device__ __forceinline__ float activation_gradient(float x, float dy) {
    if constexpr (kActivation == Activation::relu) {
        return x > 0.0f ? dy : 0.0f;
    } else if constexpr (kActivation == Activation::silu) {
        const float s = sigmoid_of(x);
        return dy * s * (1.0f + x * (1.0f - s));
    } else if constexpr (kActivation == Activation::gelu_erf) {
        const double value = x;
        const double cdf = 0.5 * (1.0 + erf(value * 0.70710678118654752440));
        const double density = 0.39894228040143267794 * exp(-0.5 * value * value);
        return static_cast<float>(dy * (cdf + value * density));
    } else {
        constexpr double kC = 0.79788456080286535588;  // √(2/π)
        constexpr double kA = 0.044715;
        const double value = x;
        const double t = tanh(kC * (value + kA * value * value * value));
        const double derivative = 0.5 * (1.0 + t) + 0.5 * value * (1.0 - t * t) * kC * (1.0 + 3.0 * kA * value * value);
        return static_cast<float>(dy * derivative);
    }
}

template <Activation kActivation>
__global__ void activation_backward_kernel(const float* x, const float* dy, float* dx, int64_t count) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        dx[i] = activation_gradient<kActivation>(x[i], dy[i]);
    }
}

__global__ void swiglu_backward_kernel(const float* gate, const float* up, const float* dy, float* dgate, float* dup,
                                       int64_t count) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float g = gate[i], s = sigmoid_of(g), gradient = dy[i];
        const float u = up[i];
        dgate[i] = gradient * u * s * (1.0f + g * (1.0f - s));
        dup[i] = gradient * g * s;
    }
}

sn_status norm_backward(Context& context, const NormBackwardArgs& args, bool layer_norm) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t width = args.x->last_dim(), rows = args.x->rows();
    SN_CHECK(rows <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED, "the CUDA backend takes at most 2^31 − 1 rows, got %lld",
             static_cast<long long>(rows));
    auto* const kernel = layer_norm ? norm_backward_kernel<true> : norm_backward_kernel<false>;
    kernel<<<static_cast<unsigned>(rows), row_block_threads(width), 0, state.stream>>>(
        args.x->data_as<const float>(), float_input(args.weight), args.eps, args.dy->data_as<const float>(),
        args.dx->data_as<float>(), width);
    SN_CUDA_CHECK_LAUNCH("norm_backward_kernel");
    return SN_OK;
}

}  // namespace

sn_status rms_norm_backward(Context& context, const NormBackwardArgs& args) {
    return norm_backward(context, args, false);
}

sn_status layer_norm_backward(Context& context, const NormBackwardArgs& args) {
    return norm_backward(context, args, true);
}

sn_status cross_entropy_backward(Context& context, const CrossEntropyBackwardArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t rows = args.logits->dims[0], width = args.logits->dims[1];
    SN_CHECK(rows <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED, "the CUDA backend takes at most 2^31 − 1 logit rows, got %lld",
             static_cast<long long>(rows));
    cross_entropy_backward_kernel<<<static_cast<unsigned>(rows), 256, 0, state.stream>>>(
        args.logits->data_as<const float>(), args.targets->data_as<const int32_t>(), args.scale,
        args.dlogits->data_as<float>(), width, state.data_error_device);
    SN_CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
    return SN_OK;
}

sn_status activation_backward(Context& context, const ActivationBackwardArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t count = args.x->numel;
    const unsigned blocks = grid_blocks(state, count);
    const float* x = args.x->data_as<const float>();
    const float* dy = args.dy->data_as<const float>();
    float* dx = args.dx->data_as<float>();
    const auto run = [&](void (*kernel)(const float*, const float*, float*, int64_t)) {
        kernel<<<blocks, kElementwiseThreads, 0, state.stream>>>(x, dy, dx, count);
    };
    switch (args.activation) {
        case SN_ACTIVATION_RELU:
            run(activation_backward_kernel<Activation::relu>);
            break;
        case SN_ACTIVATION_SILU:
            run(activation_backward_kernel<Activation::silu>);
            break;
        case SN_ACTIVATION_GELU:
            run(activation_backward_kernel<Activation::gelu_erf>);
            break;
        case SN_ACTIVATION_GELU_TANH:
            run(activation_backward_kernel<Activation::gelu_tanh>);
            break;
    }
    SN_CUDA_CHECK_LAUNCH("activation_backward_kernel");
    return SN_OK;
}

sn_status swiglu_backward(Context& context, const SwigluBackwardArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t count = args.gate->numel;
    swiglu_backward_kernel<<<grid_blocks(state, count), kElementwiseThreads, 0, state.stream>>>(
        args.gate->data_as<const float>(), args.up->data_as<const float>(), args.dy->data_as<const float>(),
        args.dgate->data_as<float>(), args.dup->data_as<float>(), count);
    SN_CUDA_CHECK_LAUNCH("swiglu_backward_kernel");
    return SN_OK;
}

}  // namespace sn::cuda
