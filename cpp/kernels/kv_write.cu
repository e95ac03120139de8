// KV-cache write on CUDA: cache[positions[t], :, :] = src[t, :, :] converted to the cache's dtype.
// positions are read on the device (graph-safe); a position outside [0, S) is skipped (the header
// contract) and reported through the context's data-error record at the next synchronize or
// download. Of two equal positions, which row lands is unspecified.
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

template <class T>
__global__ void kv_write_kernel(FloatInput src, const int32_t* positions, T* cache, int64_t tokens, int64_t row,
                                int64_t cache_len, DataError* error) {
    const int64_t count = tokens * row;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t t = i / row, j = i % row;
        const int32_t position = positions[t];
        if (position < 0 || position >= cache_len) {
            if (j == 0) report_bad_value(error, OpId::kv_write, t, position, cache_len);
            continue;
        }
        cache[static_cast<int64_t>(position) * row + j] = from_float<T>(src[i]);
    }
}

}  // namespace

sn_status kv_write(Context& context, const KvWriteArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t tokens = args.src->dims[0], row = args.src->dims[1] * args.src->dims[2];
    return dispatch_float(args.cache->dtype, [&](auto tag) {
        using T = decltype(tag);
        kv_write_kernel<T><<<grid_blocks(state, tokens * row), kElementwiseThreads, 0, state.stream>>>(
            float_input(args.src), args.positions->data_as<const int32_t>(), args.cache->data_as<T>(), tokens, row,
            args.cache->dims[0], state.data_error_device);
        SN_CUDA_CHECK_LAUNCH("kv_write_kernel");
        return SN_OK;
    });
}

}  // namespace sn::cuda
