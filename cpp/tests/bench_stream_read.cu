// sn_bench_cuda's read ceiling for the LUT-GEMV: a kernel that only reads a buffer, chained like the
// LUT-GEMV (it releases the next grid at its start and waits for the grid before only at its one
// store), so that the LUT-GEMV's time for a weight can be set beside what reading the same bytes
// alone takes in the same harness (CUDA graph + PDL, copies cycled past the L2). The gap between the
// two is what the decoding, the epilogue and the kernel's structure cost; the gap between this and
// the copy bandwidth is what a kernel of this size cannot recover (launch, ramp-up, tail).
#include "bench_stream_read.h"

#include "kernels/chained_launch.h"

namespace sn_bench {
namespace {

constexpr int kThreads = 256;
constexpr int kInFlight = 4;  // independent 16-byte loads per thread and iteration

__global__ void __launch_bounds__(kThreads) stream_read_kernel(const uint4* data, size_t count, unsigned* sink) {
    sn::cuda::allow_next_grid();
    const size_t stride = static_cast<size_t>(gridDim.x) * kThreads;
    size_t i = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
    unsigned folded = 0;
    for (; i + (kInFlight - 1) * stride < count; i += kInFlight * stride) {
        uint4 v[kInFlight];
#pragma unroll
        for (int j = 0; j < kInFlight; ++j) v[j] = __ldcs(data + i + j * stride);  // read once: streaming
#pragma unroll
        for (int j = 0; j < kInFlight; ++j) folded ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
    }
    for (; i < count; i += stride) {
        const uint4 v = __ldcs(data + i);
        folded ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    sn::cuda::wait_for_previous_grid();
    if (folded == 0x9E3779B9u) *sink = folded;  // keeps the loads; practically never taken
}

}  // namespace

cudaError_t launch_stream_read(const void* data, size_t bytes, unsigned* sink, int blocks, cudaStream_t stream) {
    return sn::cuda::launch_chained(stream, true, stream_read_kernel, dim3(static_cast<unsigned>(blocks)),
                                    dim3(kThreads), 0, static_cast<const uint4*>(data), bytes / 16, sink);
}

int stream_read_blocks(const cudaDeviceProp& properties) {
    return properties.multiProcessorCount * (properties.maxThreadsPerMultiProcessor / kThreads);
}

}  // namespace sn_bench
