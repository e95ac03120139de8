// CUDA backend: device selection, per-context stream / cuBLAS / workspaces (cuda/state.h),
// storage in device memory, synchronous transfers, CUDA-graph capture, and the op table of the
// kernels in cpp/kernels/.
//
// Activations may be F16, BF16 or F32 (F16 is the usual choice; reductions, norms, softmax and
// attention scores accumulate in F32 whatever the storage type). Index tensors are I32 and are
// read on the device, so the decode step can be captured once and replayed (DESIGN.md).
#include "cuda/cuda_backend.h"

#include "cuda/state.h"
#include "error.h"
#include "kernels/ops.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace sn::cuda {
namespace {

// cuBLAS's recommended workspace on Hopper; also plenty for Ampere.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
// Ops' temporary results (cuda/state.h): attention partial results for up to 16k (row, head,
// split) triples of Dh <= 256, or 4M floats of matmul_swiglu's product.
constexpr size_t kScratchBytes = size_t{16} << 20;
// Quantized prefill: W dequantized to F16 a slice of rows at a time (kernels/lut_matmul.cu).
constexpr size_t kDequantBytes = size_t{32} << 20;
// Large uploads and downloads go through two pinned buffers of this size (cuda/state.h); smaller
// ones copy from pageable memory directly (one call, where the staging's fixed costs would show).
constexpr size_t kStagingBytes = size_t{16} << 20;
constexpr size_t kStagedMinBytes = size_t{4} << 20;
// Decode attention's arrival counters: one per (query row, head), T <= 4 rows of Hq <= 65535 heads.
constexpr size_t kAttentionCounters = size_t{4} * 65536;

bool available(char* reason, size_t reason_capacity) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status == cudaSuccess && count > 0) return true;
    (void)cudaGetLastError();
    int runtime = 0;
    (void)cudaRuntimeGetVersion(&runtime);
    if (status == cudaSuccess || status == cudaErrorNoDevice) {
        std::snprintf(reason, reason_capacity, "no CUDA device (the driver reports none)");
    } else if (status == cudaErrorInsufficientDriver || status == cudaErrorSystemDriverMismatch) {
        std::snprintf(reason, reason_capacity,
                      "no CUDA driver, or one older than this library's CUDA runtime %d.%d needs (%s: %s)",
                      runtime / 1000, runtime % 1000 / 10, cudaGetErrorName(status), cudaGetErrorString(status));
    } else {
        std::snprintf(reason, reason_capacity, "cudaGetDeviceCount failed: %s (%s)", cudaGetErrorName(status),
                      cudaGetErrorString(status));
    }
    return false;
}

void free_state(State* state) noexcept {
    if (state == nullptr) return;
    (void)cudaSetDevice(state->device);
    if (state->stream != nullptr) (void)cudaStreamSynchronize(state->stream);
    if (state->cublas != nullptr) (void)cublasDestroy(state->cublas);
    if (state->cublas_workspace != nullptr) (void)cudaFree(state->cublas_workspace);
    if (state->scratch != nullptr) (void)cudaFree(state->scratch);
    if (state->dequant != nullptr) (void)cudaFree(state->dequant);
    if (state->attention_counters != nullptr) (void)cudaFree(state->attention_counters);
    if (state->data_error_host != nullptr) (void)cudaFreeHost(state->data_error_host);
    for (int i = 0; i < 2; ++i) {
        if (state->staging[i] != nullptr) (void)cudaFreeHost(state->staging[i]);
        if (state->staged[i] != nullptr) (void)cudaEventDestroy(state->staged[i]);
    }
    if (state->stream != nullptr) (void)cudaStreamDestroy(state->stream);
    for (void* data : state->deferred_frees) (void)cudaFree(data);
    delete state;
}

sn_status create_state(Context& context, State& state) {
    int count = 0;
    SN_CUDA_CHECK(cudaGetDeviceCount(&count));
    SN_CHECK(context.device < count, SN_ERR_INVALID_ARGUMENT,
             "options->device: CUDA device ordinal %d out of range (%d device%s)", context.device, count,
             count == 1 ? "" : "s");
    state.device = context.device;
    SN_CUDA_CHECK(cudaSetDevice(state.device));
    cudaDeviceProp properties{};
    SN_CUDA_CHECK(cudaGetDeviceProperties(&properties, state.device));
    state.multiprocessors = properties.multiProcessorCount;
    state.programmatic_launch = properties.major >= 9;
    SN_CUDA_CHECK(cudaStreamCreateWithFlags(&state.stream, cudaStreamNonBlocking));
    SN_CUBLAS_CHECK(cublasCreate(&state.cublas));
    SN_CUBLAS_CHECK(cublasSetStream(state.cublas, state.stream));
    SN_CUDA_CHECK(cudaMalloc(&state.cublas_workspace, kCublasWorkspaceBytes));
    state.cublas_workspace_bytes = kCublasWorkspaceBytes;
    SN_CUBLAS_CHECK(cublasSetWorkspace(state.cublas, state.cublas_workspace, state.cublas_workspace_bytes));
    SN_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&state.scratch), kScratchBytes));
    state.scratch_floats = kScratchBytes / sizeof(float);
    SN_CUDA_CHECK(cudaMalloc(&state.dequant, kDequantBytes));
    state.dequant_bytes = kDequantBytes;
    // Zeroed once, here: the kernels leave them at zero after every launch. The stream is
    // non-blocking, so the zeroing goes on it and is waited for.
    const size_t counter_bytes = kAttentionCounters * sizeof(unsigned);
    SN_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&state.attention_counters), counter_bytes));
    state.attention_counter_count = kAttentionCounters;
    SN_CUDA_CHECK(cudaMemsetAsync(state.attention_counters, 0, counter_bytes, state.stream));
    SN_CUDA_CHECK(cudaStreamSynchronize(state.stream));
    void* error_memory = nullptr;
    SN_CUDA_CHECK(cudaHostAlloc(&error_memory, sizeof(DataError), cudaHostAllocMapped));
    state.data_error_host = static_cast<DataError*>(error_memory);
    *state.data_error_host = DataError{};
    void* error_device = nullptr;
    SN_CUDA_CHECK(cudaHostGetDevicePointer(&error_device, error_memory, 0));
    state.data_error_device = static_cast<DataError*>(error_device);
    for (int i = 0; i < 2; ++i) {
        SN_CUDA_CHECK(cudaHostAlloc(&state.staging[i], kStagingBytes, cudaHostAllocDefault));
        SN_CUDA_CHECK(cudaEventCreateWithFlags(&state.staged[i], cudaEventDisableTiming));
    }
    return SN_OK;
}

sn_status init_context(Context& context) {
    auto state = std::make_unique<State>();
    const sn_status status = create_state(context, *state);
    if (status != SN_OK) {
        free_state(state.release());
        return status;
    }
    context.backend_state = state.release();
    return SN_OK;
}

void release_context(Context& context) noexcept {
    free_state(static_cast<State*>(context.backend_state));
    context.backend_state = nullptr;
}

sn_status allocate(Context& context, size_t nbytes, void** out_data) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    void* data = nullptr;
    const cudaError_t status = cudaMalloc(&data, nbytes);
    if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        size_t free_bytes = 0, total_bytes = 0;
        (void)cudaMemGetInfo(&free_bytes, &total_bytes);
        SN_FAIL(SN_ERR_OUT_OF_MEMORY,
                "cannot allocate %zu bytes (%.2f GiB) on CUDA device %d: %zu bytes (%.2f GiB) of %.2f GiB are free",
                nbytes, static_cast<double>(nbytes) / (1 << 30), state.device, free_bytes,
                static_cast<double>(free_bytes) / (1 << 30), static_cast<double>(total_bytes) / (1 << 30));
    }
    SN_CUDA_CHECK(status);
    // Zeroed in stream order: later work on the context's stream sees the zeros, and the host
    // does not wait.
    const cudaError_t zeroed = cudaMemsetAsync(data, 0, nbytes, state.stream);
    if (zeroed != cudaSuccess) {
        (void)cudaFree(data);
        SN_CUDA_CHECK(zeroed);
    }
    *out_data = data;
    return SN_OK;
}

void release(Context& context, void* data) noexcept {
    State& state = state_of(context);
    {
        std::lock_guard<std::mutex> lock(state.deferred_mutex);
        if (state.capturing) {
            state.deferred_frees.push_back(data);
            return;
        }
    }
    (void)cudaSetDevice(state.device);
    (void)cudaFree(data);
}

// The first bad value a kernel reported since the last check, as an error naming the op.
sn_status report_data_error(State& state) {
    volatile DataError* error = state.data_error_host;
    if (error->op == 0) return SN_OK;
    const OpId op = static_cast<OpId>(error->op - 1);
    const long long index = error->index, value = error->value, limit = error->limit;
    error->op = 0;
    // lut_matmul reports a column index (index = the entry) or a row pointer past nnz (index = the
    // pointer's position, limit nnz: "outside [0, nnz)" then reads as "beyond the entries").
    const bool targets = op == OpId::cross_entropy || op == OpId::cross_entropy_backward;
    const bool lut = op == OpId::lut_matmul || op == OpId::lut_matmul_swiglu;
    const char* argument = op == OpId::embedding ? "ids"
                           : targets             ? "targets"
                           : lut                 ? "sparse_cols (or sparse_rows)"
                                                 : "positions";
    const char* effect = op == OpId::embedding                ? "its output row was set to zero"
                         : op == OpId::cross_entropy          ? "its loss was set to NaN"
                         : op == OpId::cross_entropy_backward ? "its gradient row was set to NaN"
                         : op == OpId::kv_write               ? "the row was not written"
                         : lut                                ? "the entry (or the row's sparse part) was skipped"
                         : op == OpId::rope_kv_write          ? "its k and v rows were not written to the caches"
                         : op == OpId::attention_backward ? "its dq row was set to zero and it added nothing to dk, dv"
                                                          : "its output row was set to zero";
    SN_FAIL(SN_ERR_INVALID_ARGUMENT,
            "an earlier %s on this context read %s[%lld] = %lld, outside [0, %lld); %s (CUDA kernels cannot fail "
            "the call itself, so the next synchronize or download reports it)",
            op_name(op), argument, index, value, limit, effect);
}

sn_status synchronize(Context& context) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    SN_CUDA_CHECK(cudaStreamSynchronize(state.stream));
    return report_data_error(state);
}

// In stream order, then waited for: complete on return, and never overtaking queued kernels
// that still read the tensor. From kStagedMinBytes on, through the pinned staging buffers in
// chunks: the host fills buffer i % 2 while the copy engine sends the other (buffer i % 2 is
// refilled once the copy of chunk i − 2 out of it is done).
sn_status upload(Context& context, void* dst, const void* host_src, size_t nbytes) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    if (nbytes < kStagedMinBytes) {
        SN_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, state.stream));
    } else {
        const size_t chunk = kStagingBytes;
        for (size_t offset = 0, i = 0; offset < nbytes; offset += chunk, ++i) {
            const size_t bytes = std::min(chunk, nbytes - offset);
            if (i >= 2) SN_CUDA_CHECK(cudaEventSynchronize(state.staged[i % 2]));
            std::memcpy(state.staging[i % 2], static_cast<const char*>(host_src) + offset, bytes);
            SN_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + offset, state.staging[i % 2], bytes,
                                          cudaMemcpyHostToDevice, state.stream));
            SN_CUDA_CHECK(cudaEventRecord(state.staged[i % 2], state.stream));
        }
    }
    SN_CUDA_CHECK(cudaStreamSynchronize(state.stream));
    return SN_OK;
}

// As upload, the other way: chunk i goes into buffer i % 2 while the host copies chunk i − 1 out
// of the other.
sn_status download(Context& context, void* host_dst, const void* src, size_t nbytes) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    if (nbytes < kStagedMinBytes) {
        SN_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, state.stream));
        SN_CUDA_CHECK(cudaStreamSynchronize(state.stream));
        return SN_OK;
    }
    const size_t chunk = kStagingBytes;
    const size_t chunks = (nbytes + chunk - 1) / chunk;
    for (size_t i = 0; i <= chunks; ++i) {
        if (i < chunks) {
            const size_t offset = i * chunk;
            SN_CUDA_CHECK(cudaMemcpyAsync(state.staging[i % 2], static_cast<const char*>(src) + offset,
                                          std::min(chunk, nbytes - offset), cudaMemcpyDeviceToHost, state.stream));
            SN_CUDA_CHECK(cudaEventRecord(state.staged[i % 2], state.stream));
        }
        if (i > 0) {
            const size_t offset = (i - 1) * chunk;
            SN_CUDA_CHECK(cudaEventSynchronize(state.staged[(i - 1) % 2]));
            std::memcpy(static_cast<char*>(host_dst) + offset, state.staging[(i - 1) % 2],
                        std::min(chunk, nbytes - offset));
        }
    }
    return SN_OK;
}

void describe_device(const Context& context, char* buffer, size_t capacity) {
    const State& state = state_of(context);
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, state.device) != cudaSuccess) {
        (void)cudaGetLastError();
        std::snprintf(buffer, capacity, "CUDA device %d", state.device);
        return;
    }
    std::snprintf(buffer, capacity, "%s (sm_%d%d, %d SMs, %.1f GiB)", properties.name, properties.major,
                  properties.minor, properties.multiProcessorCount,
                  static_cast<double>(properties.totalGlobalMem) / (1 << 30));
}

sn_status device_memory(const Context& context, int64_t* out_free, int64_t* out_total) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    size_t free_bytes = 0, total_bytes = 0;
    SN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    *out_free = static_cast<int64_t>(free_bytes);
    *out_total = static_cast<int64_t>(total_bytes);
    return SN_OK;
}

// ---- graphs -----------------------------------------------------------------------------------
// Thread-local capture mode: only this thread's unsafe calls (a cudaMalloc, a synchronize) are
// refused during the capture; other threads keep working on their own contexts.

void free_deferred(State& state) noexcept {
    std::vector<void*> frees;
    {
        std::lock_guard<std::mutex> lock(state.deferred_mutex);
        state.capturing = false;
        frees.swap(state.deferred_frees);
    }
    for (void* data : frees) (void)cudaFree(data);
}

sn_status begin_capture(Context& context) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    {
        std::lock_guard<std::mutex> lock(state.deferred_mutex);
        state.capturing = true;
    }
    const cudaError_t status = cudaStreamBeginCapture(state.stream, cudaStreamCaptureModeThreadLocal);
    if (status != cudaSuccess) free_deferred(state);
    SN_CUDA_CHECK(status);
    return SN_OK;
}

sn_status end_capture(Context& context, bool keep, void** out_graph, int64_t* out_node_count) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(state.stream, &graph);
    free_deferred(state);
    if (!keep) {
        // Discarding: an invalidated capture (its own error) matters less than the op's failure.
        if (ended != cudaSuccess) (void)cudaGetLastError();
        if (graph != nullptr) (void)cudaGraphDestroy(graph);
        return SN_OK;
    }
    SN_CUDA_CHECK(ended);
    size_t nodes = 0;
    cudaGraphExec_t executable = nullptr;
    cudaError_t status = cudaGraphGetNodes(graph, nullptr, &nodes);
    if (status == cudaSuccess) status = cudaGraphInstantiateWithFlags(&executable, graph, 0);
    // The executable graph needs nothing from the graph it was made from.
    (void)cudaGraphDestroy(graph);
    SN_CUDA_CHECK(status);
    *out_graph = executable;
    *out_node_count = static_cast<int64_t>(nodes);
    return SN_OK;
}

sn_status launch_graph(Context& context, void* graph) {
    State& state = state_of(context);
    SN_TRY(use_device(state));
    SN_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), state.stream));
    return SN_OK;
}

void destroy_graph(Context& context, void* graph) noexcept {
    (void)cudaSetDevice(state_of(context).device);
    (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
}

// ---- the op table -----------------------------------------------------------------------------
// What each role takes; combinations beyond the masks (matmul's x/weight pairs, attention's one
// dtype for q, caches and out) are checked by the op and reported as SN_ERR_UNSUPPORTED.
OpTable make_ops() {
    OpTable ops;
    ops.copy = {cuda::copy, {kMaskAny, kMaskAny}};
    ops.matmul = {cuda::matmul, {kMaskFloat, kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.matmul_add = {cuda::matmul_add, {kMaskFloat, kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.matmul_swiglu = {cuda::matmul_swiglu, {kMaskFloat, kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.add = {cuda::add, {kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.mul = {cuda::mul, {kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.rms_norm = {cuda::rms_norm, {kMaskFloat, kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.layer_norm = {cuda::layer_norm, {kMaskFloat, kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.silu = {cuda::silu, {kMaskFloat, kMaskFloat}};
    ops.relu = {cuda::relu, {kMaskFloat, kMaskFloat}};
    ops.gelu = {cuda::gelu, {kMaskFloat, kMaskFloat}};
    ops.swiglu = {cuda::swiglu, {kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.softmax = {cuda::softmax, {kMaskFloat, kMaskFloat}};
    ops.rope = {cuda::rope, {kMaskFloat, kMaskI32, kMaskFloat}};
    ops.embedding = {cuda::embedding, {kMaskFloat, kMaskI32, kMaskFloat}};
    ops.kv_write = {cuda::kv_write, {kMaskFloat, kMaskI32, kMaskFloat}};
    ops.rope_kv_write = {cuda::rope_kv_write, {kMaskFloat, kMaskFloat, kMaskFloat, kMaskI32, kMaskFloat, kMaskFloat}};
    ops.attention = {cuda::attention, {kMaskFloat, kMaskI32, kMaskFloat, kMaskFloat, kMaskFloat}};
    ops.cross_entropy = {cuda::cross_entropy, {kMaskFloat, kMaskI32, kMaskF32}};
    ops.fill_random = {cuda::fill_random, {kMaskFloat}};
    constexpr DtypeMask kMaskF16 = dtype_bit(SN_DTYPE_F16);
    ops.lut_matmul = {cuda::lut_matmul,
                      {kMaskF16, kMaskI32, kMaskF16, kMaskI32, kMaskI32, kMaskF16, kMaskFloat, kMaskF16}};
    ops.lut_matmul_swiglu = {cuda::lut_matmul_swiglu,
                             {kMaskF16, kMaskI32, kMaskF16, kMaskI32, kMaskI32, kMaskF16, kMaskFloat, kMaskF16}};
    ops.lut_repack = {cuda::lut_repack, {kMaskI32, kMaskI32}};
    constexpr DtypeMask kMaskU8 = dtype_bit(SN_DTYPE_U8);
    ops.kmeans_rows = {cuda::kmeans_rows, {kMaskF32, kMaskF32, kMaskU8 | kMaskI32, kMaskF32, kMaskU8}};
    // The Fisher pass: F32 activations and gradients, weights as stored (kernels/linear_backward.cu).
    ops.matmul_backward_input = {cuda::matmul_backward_input, {kMaskF32, kMaskFloat, kMaskF32}};
    ops.fisher_accumulate = {cuda::fisher_accumulate, {kMaskF32, kMaskF32, kMaskF32}};
    ops.rms_norm_backward = {cuda::rms_norm_backward, {kMaskF32, kMaskFloat, kMaskF32, kMaskF32}};
    ops.layer_norm_backward = {cuda::layer_norm_backward, {kMaskF32, kMaskFloat, kMaskF32, kMaskF32}};
    ops.swiglu_backward = {cuda::swiglu_backward, {kMaskF32, kMaskF32, kMaskF32, kMaskF32, kMaskF32}};
    ops.activation_backward = {cuda::activation_backward, {kMaskF32, kMaskF32, kMaskF32}};
    ops.rope_backward = {cuda::rope_backward, {kMaskF32, kMaskI32, kMaskF32}};
    ops.attention_backward = {cuda::attention_backward,
                              {kMaskF32, kMaskI32, kMaskF32, kMaskF32, kMaskF32, kMaskF32, kMaskF32, kMaskF32}};
    ops.cross_entropy_backward = {cuda::cross_entropy_backward, {kMaskF32, kMaskI32, kMaskF32}};
    return ops;
}

}  // namespace

sn_status use_device(const State& state) {
    SN_CUDA_CHECK(cudaSetDevice(state.device));
    return SN_OK;
}

const Backend& backend() {
    static const Backend instance = {
        SN_BACKEND_CUDA, "CUDA",      available,    init_context,  release_context, allocate,
        release,         upload,      download,     synchronize,   describe_device, device_memory,
        begin_capture,   end_capture, launch_graph, destroy_graph, make_ops(),
    };
    return instance;
}

}  // namespace sn::cuda
