// sn_copy on CUDA: same dtype is a device-to-device memcpy in stream order; F32/F16/BF16
// conversions widen to float (exact) and round to nearest even, as the CPU does (NaN payloads
// are not kept: CUDA's conversions return the canonical NaN).
#include "kernels/common.cuh"
#include "validate.h"

namespace sn::cuda {
namespace {

template <class Source, class Destination>
__global__ void convert_kernel(const Source* source, Destination* destination, int64_t count) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        destination[i] = from_float<Destination>(to_float(source[i]));
    }
}

}  // namespace

sn_status copy(Context& context, const CopyArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    if (args.src->dtype == args.dst->dtype) {
        if (args.src->data() == args.dst->data()) return SN_OK;
        // cudaMemcpyAsync has no memmove semantics, and a staged move would need memory the op
        // cannot allocate.
        SN_CHECK(!overlaps(*args.src, *args.dst), SN_ERR_UNSUPPORTED,
                 "the CUDA backend does not copy between partially overlapping views (src and dst share bytes)");
        SN_CUDA_CHECK(cudaMemcpyAsync(args.dst->data(), args.src->data(), args.src->nbytes(),
                                      cudaMemcpyDeviceToDevice, state.stream));
        return SN_OK;
    }
    const int64_t count = args.src->numel;
    return dispatch_float(args.src->dtype, [&](auto source_tag) {
        using Source = decltype(source_tag);
        return dispatch_float(args.dst->dtype, [&](auto destination_tag) {
            using Destination = decltype(destination_tag);
            convert_kernel<Source, Destination><<<grid_blocks(state, count), kElementwiseThreads, 0, state.stream>>>(
                args.src->data_as<const Source>(), args.dst->data_as<Destination>(), count);
            SN_CUDA_CHECK_LAUNCH("convert_kernel");
            return SN_OK;
        });
    });
}

}  // namespace sn::cuda
