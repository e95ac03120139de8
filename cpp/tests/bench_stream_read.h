// sn_bench_cuda's read ceiling (bench_stream_read.cu): a kernel that only reads `bytes` (a multiple
// of 16, 16-byte aligned) with every block resident, chained (PDL) like the LUT-GEMV.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace sn_bench {

cudaError_t launch_stream_read(const void* data, size_t bytes, unsigned* sink, int blocks, cudaStream_t stream);

// Blocks that fill the device (every SM at its thread limit).
int stream_read_blocks(const cudaDeviceProp& properties);

}  // namespace sn_bench
