// Softmax over the last dimension on CUDA: one block per row; max and Σe^(x − max) reduced in
// float over the block, then out = e^(x − max) / Σ rounded once. In place is safe (each thread
// reads and writes the same elements, after the row's reductions).
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

template <class T>
__global__ void softmax_kernel(const T* x, T* out, int64_t width) {
    __shared__ float partial[32];
    const T* row = x + blockIdx.x * width;
    T* out_row = out + blockIdx.x * width;
    float maximum = -INFINITY;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) maximum = fmaxf(maximum, to_float(row[i]));
    maximum = block_max(maximum, partial);
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sum += expf(to_float(row[i]) - maximum);
    const float inverse = 1.0f / block_sum(sum, partial);
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        out_row[i] = from_float<T>(expf(to_float(row[i]) - maximum) * inverse);
    }
}

}  // namespace

sn_status softmax(Context& context, const UnaryArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t width = args.x->last_dim();
    const int64_t rows = args.x->rows();
    SN_CHECK(rows <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED, "the CUDA backend takes at most 2^31 − 1 softmax rows, got %lld",
             static_cast<long long>(rows));
    return dispatch_float(args.x->dtype, [&](auto tag) {
        using T = decltype(tag);
        softmax_kernel<T><<<static_cast<unsigned>(rows), row_block_threads(width), 0, state.stream>>>(
            args.x->data_as<const T>(), args.out->data_as<T>(), width);
        SN_CUDA_CHECK_LAUNCH("softmax_kernel");
        return SN_OK;
    });
}

}  // namespace sn::cuda
