// Elementwise ops on CUDA, grid-stride loops over the flattened tensors:
//   add, mul   out = a ∘ b, b of a's shape or one row [D] broadcast (b may have another dtype)
//   silu, relu, gelu (erf or tanh form), swiglu = silu(gate)·up
// Every value is computed in float and rounded once to the output dtype. In place is safe: each
// element is read before it is written, by the same thread.
#include "kernels/activation.cuh"
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

enum class Binary { add, mul };
enum class Unary { silu, relu, gelu_erf, gelu_tanh };

template <class T, Binary kOp>
__global__ void binary_kernel(const T* a, FloatInput b, T* out, int64_t count, int64_t b_period) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float x = to_float(a[i]);
        const float y = b[b_period > 0 ? i % b_period : i];
        out[i] = from_float<T>(kOp == Binary::add ? x + y : x * y);
    }
}

template <Unary kOp>
__device__ __forceinline__ float unary_of(float x) {
    if (kOp == Unary::silu) return silu_of(x);
    if (kOp == Unary::relu) return x > 0.0f ? x : 0.0f;
    if (kOp == Unary::gelu_erf) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    // tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

template <class T, Unary kOp>
__global__ void unary_kernel(const T* x, T* out, int64_t count) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        out[i] = from_float<T>(unary_of<kOp>(to_float(x[i])));
    }
}

template <class T>
__global__ void swiglu_kernel(const T* gate, const T* up, T* out, int64_t count) {
    allow_next_grid();  // before the wait: the next op's kernel may start streaming its weights (chained_launch.h)
    wait_for_previous_grid();  // a chained launch (common.cuh): between the gate|up and down GEMVs
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        out[i] = from_float<T>(silu_of(to_float(gate[i])) * to_float(up[i]));
    }
}

template <Binary kOp>
sn_status binary(Context& context, const BinaryArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t count = args.a->numel;
    // Validation allows exactly two shapes for b: a's own, or one row of a's last dimension.
    const int64_t b_period = args.b->numel == count ? 0 : args.b->numel;
    return dispatch_float(args.a->dtype, [&](auto tag) {
        using T = decltype(tag);
        binary_kernel<T, kOp><<<grid_blocks(state, count), kElementwiseThreads, 0, state.stream>>>(
            args.a->data_as<const T>(), float_input(args.b), args.out->data_as<T>(), count, b_period);
        SN_CUDA_CHECK_LAUNCH("binary_kernel");
        return SN_OK;
    });
}

template <Unary kOp>
sn_status unary(Context& context, const Tensor& x, Tensor& out) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t count = x.numel;
    return dispatch_float(x.dtype, [&](auto tag) {
        using T = decltype(tag);
        unary_kernel<T, kOp><<<grid_blocks(state, count), kElementwiseThreads, 0, state.stream>>>(
            x.data_as<const T>(), out.data_as<T>(), count);
        SN_CUDA_CHECK_LAUNCH("unary_kernel");
        return SN_OK;
    });
}

}  // namespace

sn_status add(Context& context, const BinaryArgs& args) {
    return binary<Binary::add>(context, args);
}

sn_status mul(Context& context, const BinaryArgs& args) {
    return binary<Binary::mul>(context, args);
}

sn_status silu(Context& context, const UnaryArgs& args) {
    return unary<Unary::silu>(context, *args.x, *args.out);
}

sn_status relu(Context& context, const UnaryArgs& args) {
    return unary<Unary::relu>(context, *args.x, *args.out);
}

sn_status gelu(Context& context, const GeluArgs& args) {
    return args.tanh_approximation ? unary<Unary::gelu_tanh>(context, *args.x, *args.out)
                                   : unary<Unary::gelu_erf>(context, *args.x, *args.out);
}

sn_status swiglu(Context& context, const SwigluArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    context.op_releases_early = true;  // swiglu_kernel releases the next before its wait
    const int64_t count = args.gate->numel;
    return dispatch_float(args.gate->dtype, [&](auto tag) {
        using T = decltype(tag);
        SN_CUDA_CHECK(launch_chained(state, swiglu_kernel<T>, dim3(grid_blocks(state, count)),
                                     dim3(kElementwiseThreads), 0, args.gate->data_as<const T>(),
                                     args.up->data_as<const T>(), args.out->data_as<T>(), count));
        return SN_OK;
    });
}

}  // namespace sn::cuda
