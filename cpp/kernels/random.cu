// sn_fill_random on CUDA: element i = random_value(seed, i, scale) (src/backend.h, shared with
// the CPU), rounded to the tensor's dtype to nearest even: the same bits as the CPU backend.
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

template <class T>
__global__ void fill_random_kernel(T* out, int64_t count, uint64_t seed, float scale) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        out[i] = from_float<T>(random_value(seed, static_cast<uint64_t>(i), scale));
    }
}

}  // namespace

sn_status fill_random(Context& context, const FillRandomArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t count = args.tensor->numel;
    return dispatch_float(args.tensor->dtype, [&](auto tag) {
        using T = decltype(tag);
        fill_random_kernel<T><<<grid_blocks(state, count), kElementwiseThreads, 0, state.stream>>>(
            args.tensor->data_as<T>(), count, args.seed, args.scale);
        SN_CUDA_CHECK_LAUNCH("fill_random_kernel");
        return SN_OK;
    });
}

}  // namespace sn::cuda
