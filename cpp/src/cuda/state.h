// The CUDA backend's per-context state and its error-checking macros, shared by
// src/cuda/cuda_backend.cpp (contexts, storage, graphs) and the kernels in cpp/kernels/*.cu.
//
// One context = one device, one non-blocking stream, one cuBLAS handle bound to that stream, and
// memory allocated once at creation so that no op ever allocates or synchronises:
//   cublas_workspace  handed to cuBLAS (cublasSetWorkspace), so it never allocates, which also
//                     keeps its calls capturable into CUDA graphs;
//   scratch           the attention kernels' split-K partial results;
//   dequant           quantized prefill: a slice of W's rows dequantized to F16 for cuBLAS;
//   scratch           temporary results of ops (decode attention's per-split partial results,
//                     matmul_swiglu's product on its cuBLAS path); ops run one after another in
//                     stream order, so one op's use never overlaps another's;
//   attention_counters one arrival counter per (query row, head) of decode attention, zeroed at
//                     creation; the last split block of a row merges it and puts the counter back
//                     to 0 (kernels/attention.cu), so every launch finds them at 0;
//   data_error        pinned, mapped host memory where kernels report bad data (an id, a target or
//                     a position out of range) that device code cannot return as a status; the
//                     next sn_context_synchronize or download reports it (report_data_error);
//   staging           two pinned host buffers through which large uploads and downloads go in
//                     chunks, the copy engine on one while the host copies the other (a copy from
//                     pageable memory ran at 1.7 GB/s on an H100 host: 15 s for a 7B model's
//                     Fisher accumulators).
#pragma once

#include "backend.h"
#include "error.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace sn::cuda {

// What a kernel found wrong in the data. `op` is 0 while nothing was found; the first kernel to
// find something claims the record with an atomic compare-and-swap and fills in the rest.
struct DataError {
    int32_t op;  // an OpId + 1
    int32_t padding;
    int64_t index;  // the offending element (e.g. t of ids[t])
    int64_t value;  // its value
    int64_t limit;  // the exclusive upper bound it broke (V, S)
};

struct State {
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    void* cublas_workspace = nullptr;
    size_t cublas_workspace_bytes = 0;
    float* scratch = nullptr;
    size_t scratch_floats = 0;
    void* dequant = nullptr;
    size_t dequant_bytes = 0;
    unsigned* attention_counters = nullptr;
    size_t attention_counter_count = 0;
    DataError* data_error_host = nullptr;        // read by the host after the stream is idle
    DataError* data_error_device = nullptr;      // the same memory as the kernels see it
    void* staging[2] = {nullptr, nullptr};       // pinned, kStagingBytes each (cuda_backend.cpp)
    cudaEvent_t staged[2] = {nullptr, nullptr};  // recorded after the copy through staging[i]
    int multiprocessors = 1;
    // Compute capability 9.0 and up: kernels written for it may use programmatic dependent
    // launch (kernels/gemv.h).
    bool programmatic_launch = false;
    // Storage released while capturing: cudaFree would break the capture, so it waits for the end.
    std::mutex deferred_mutex;
    bool capturing = false;
    std::vector<void*> deferred_frees;
};

inline State& state_of(const Context& context) {
    return *static_cast<State*>(context.backend_state);
}

// Makes the context's device current on the calling thread (contexts may live on different
// devices and be used from any thread); cheap when it already is.
sn_status use_device(const State& state);

// Records the first bad value a kernel found. Device code; `op` is the OpId.
#if defined(__CUDACC__)
__device__ inline void report_bad_value(DataError* error, OpId op, int64_t index, int64_t value, int64_t limit) {
    if (atomicCAS(&error->op, 0, static_cast<int32_t>(op) + 1) == 0) {
        error->index = index;
        error->value = value;
        error->limit = limit;
        __threadfence_system();
    }
}
#endif

}  // namespace sn::cuda

// Returns SN_ERR_CUDA naming the failed runtime call, its error and file:line. Clears the
// runtime's last error so that later calls are not blamed for it (sticky errors stay).
#define SN_CUDA_CHECK(call)                                                                      \
    do {                                                                                         \
        const cudaError_t sn_cuda_status_ = (call);                                              \
        if (sn_cuda_status_ != cudaSuccess) {                                                    \
            (void)cudaGetLastError();                                                            \
            SN_FAIL(SN_ERR_CUDA, "%s failed: %s (%s)", #call, cudaGetErrorName(sn_cuda_status_), \
                    cudaGetErrorString(sn_cuda_status_));                                        \
        }                                                                                        \
    } while (0)

// Checks the launch just made (bad configuration, missing kernel image): every launch is
// followed by this.
#define SN_CUDA_CHECK_LAUNCH(kernel_name)                                                                        \
    do {                                                                                                         \
        const cudaError_t sn_cuda_status_ = cudaGetLastError();                                                  \
        if (sn_cuda_status_ != cudaSuccess) {                                                                    \
            SN_FAIL(SN_ERR_CUDA, "launching %s failed: %s (%s)", kernel_name, cudaGetErrorName(sn_cuda_status_), \
                    cudaGetErrorString(sn_cuda_status_));                                                        \
        }                                                                                                        \
    } while (0)

#define SN_CUBLAS_CHECK(call)                                                                         \
    do {                                                                                              \
        const cublasStatus_t sn_cublas_status_ = (call);                                              \
        if (sn_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                             \
            SN_FAIL(SN_ERR_CUDA, "%s failed: %s (%s)", #call, cublasGetStatusName(sn_cublas_status_), \
                    cublasGetStatusString(sn_cublas_status_));                                        \
        }                                                                                             \
    } while (0)
