// Programmatic dependent launch (compute capability 9.0 and up) in one place, with plain CUDA types
// so that sn_bench_cuda can compile the GEMV sources that use it.
//
// A decode step is a chain of short kernels, each a fraction of the device for a few microseconds;
// launched with launch_chained, a kernel's blocks are scheduled while the kernel before it is still
// finishing, so the launch latency and the ramp-up hide behind that kernel's tail.
//
// The contract for a kernel launched this way: call wait_for_previous_grid() before touching any
// global memory that an earlier kernel may write or read (it returns once the previous grid has
// completed and its writes are visible; earlier grids completed before that one could), and call
// allow_next_grid() once the next grid may be scheduled (immediately, for a kernel of few blocks:
// blocks of the next grid then wait on the SMs, not in the launch queue). Both are no-ops when the
// kernel was launched normally.
//
// The small kernels between the GEMVs of a decode step (norms, rope_kv_write, decode attention,
// swiglu, embedding) call allow_next_grid() before they wait: the next GEMV's blocks then start
// while the GEMV before that small kernel still streams, and (the LUT-GEMV, weights settled)
// request their weights meanwhile; the small kernel itself waits as before. Their ops say so
// (Context::op_releases_early), so that an op reading weights before its wait knows that the op
// before the small one may still be running too (earlier_op_may_have_written, src/backend.h).
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace sn::cuda {

__device__ __forceinline__ void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_next_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// kernel<<<grid, block, shared_bytes, stream>>>(args...), as a programmatic dependent launch when
// `programmatic` (the device supports it; see above for what the kernel must do).
template <class... Params, class... Args>
cudaError_t launch_chained(cudaStream_t stream, bool programmatic, void (*kernel)(Params...), dim3 grid, dim3 block,
                           size_t shared_bytes, Args&&... args) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared_bytes;
    config.stream = stream;
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    if (programmatic) {
        config.attrs = &attribute;
        config.numAttrs = 1;
    }
    return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace sn::cuda
