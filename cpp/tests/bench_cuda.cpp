// sn_bench_cuda: the ceiling for decode-time linears on this GPU. Times cuBLAS F16 GEMV
// (M = 1, the call libsqueezenative makes: cublasGemmEx, W [N, K] transposed, F32 accumulation)
// for the LLaMA-7B shapes, and a device-to-device copy for the memory bandwidth to compare with.
//
//   sn_bench_cuda [device]
//
// Method (see the workplace's GPU notes): CUDA events around batches of launches, median over
// many batches; each batch walks through enough copies of W that together exceed 3× the L2, so
// every GEMV streams its weights from device memory; random data, never zeros. Bandwidth counts
// the bytes a GEMV must move (W once, x, y) and, for the copy, bytes read plus bytes written.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

#define BENCH_CHECK(call)                                                                                            \
    do {                                                                                                             \
        const cudaError_t status_ = (call);                                                                          \
        if (status_ != cudaSuccess) {                                                                                \
            std::fprintf(stderr, "%s failed: %s [%s:%d]\n", #call, cudaGetErrorString(status_), __FILE__, __LINE__); \
            std::exit(1);                                                                                            \
        }                                                                                                            \
    } while (0)
#define BENCH_CUBLAS(call)                                                                                         \
    do {                                                                                                           \
        const cublasStatus_t status_ = (call);                                                                     \
        if (status_ != CUBLAS_STATUS_SUCCESS) {                                                                    \
            std::fprintf(stderr, "%s failed: %d [%s:%d]\n", #call, static_cast<int>(status_), __FILE__, __LINE__); \
            std::exit(1);                                                                                          \
        }                                                                                                          \
    } while (0)

constexpr int kWarmupBatches = 5;
constexpr int kBatches = 60;

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// Random F16 values in [-1, 1) uploaded to `count` halves of device memory.
void fill_random_halves(void* device, size_t count, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<__half> host(count);
    for (__half& value : host) value = __float2half(uniform(rng));
    BENCH_CHECK(cudaMemcpy(device, host.data(), count * sizeof(__half), cudaMemcpyHostToDevice));
}

// Median seconds of one launch of `body(i)`, timed in batches of `per_batch` launches.
template <class Body>
double time_launches(cudaStream_t stream, int per_batch, Body&& body) {
    cudaEvent_t start, stop;
    BENCH_CHECK(cudaEventCreate(&start));
    BENCH_CHECK(cudaEventCreate(&stop));
    std::vector<double> seconds;
    for (int batch = 0; batch < kWarmupBatches + kBatches; ++batch) {
        BENCH_CHECK(cudaEventRecord(start, stream));
        for (int i = 0; i < per_batch; ++i) body(i);
        BENCH_CHECK(cudaEventRecord(stop, stream));
        BENCH_CHECK(cudaEventSynchronize(stop));
        float milliseconds = 0.0f;
        BENCH_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
        if (batch >= kWarmupBatches) seconds.push_back(milliseconds * 1e-3 / per_batch);
    }
    BENCH_CHECK(cudaEventDestroy(start));
    BENCH_CHECK(cudaEventDestroy(stop));
    return median(seconds);
}

}  // namespace

int main(int argc, char** argv) {
    const int device = argc > 1 ? std::atoi(argv[1]) : 0;
    BENCH_CHECK(cudaSetDevice(device));
    cudaDeviceProp properties{};
    BENCH_CHECK(cudaGetDeviceProperties(&properties, device));
    std::printf("device %d: %s, %d SMs, L2 %.0f MB\n", device, properties.name, properties.multiProcessorCount,
                properties.l2CacheSize / 1e6);
    cudaStream_t stream;
    BENCH_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

    // Device-to-device copy of 1 GiB: the practical memory bandwidth.
    const size_t copy_bytes = size_t{1} << 30;
    void *copy_source = nullptr, *copy_destination = nullptr;
    BENCH_CHECK(cudaMalloc(&copy_source, copy_bytes));
    BENCH_CHECK(cudaMalloc(&copy_destination, copy_bytes));
    fill_random_halves(copy_source, copy_bytes / sizeof(__half), 7);
    const double copy_seconds = time_launches(stream, 1, [&](int) {
        BENCH_CHECK(cudaMemcpyAsync(copy_destination, copy_source, copy_bytes, cudaMemcpyDeviceToDevice, stream));
    });
    const double copy_bandwidth = 2.0 * copy_bytes / copy_seconds / 1e9;
    std::printf("device-to-device copy, 1 GiB: %.1f us, %.0f GB/s (read + write)\n", copy_seconds * 1e6,
                copy_bandwidth);
    BENCH_CHECK(cudaFree(copy_source));
    BENCH_CHECK(cudaFree(copy_destination));

    cublasHandle_t cublas;
    BENCH_CUBLAS(cublasCreate(&cublas));
    BENCH_CUBLAS(cublasSetStream(cublas, stream));
    void* workspace = nullptr;
    const size_t workspace_bytes = size_t{32} << 20;
    BENCH_CHECK(cudaMalloc(&workspace, workspace_bytes));
    BENCH_CUBLAS(cublasSetWorkspace(cublas, workspace, workspace_bytes));

    struct Shape {
        int n, k;
    };
    const Shape shapes[] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
    std::printf("\n%-14s %7s %10s %9s %8s\n", "GEMV N x K", "copies", "us", "GB/s", "% copy");
    for (const Shape& shape : shapes) {
        const size_t weight_bytes = static_cast<size_t>(shape.n) * shape.k * sizeof(__half);
        const int copies =
            static_cast<int>(std::max<size_t>(2, (3 * static_cast<size_t>(properties.l2CacheSize)) / weight_bytes + 1));
        std::vector<void*> weights(copies);
        for (int c = 0; c < copies; ++c) {
            BENCH_CHECK(cudaMalloc(&weights[c], weight_bytes));
            fill_random_halves(weights[c], weight_bytes / sizeof(__half), 100 + c);
        }
        void *x = nullptr, *y = nullptr;
        BENCH_CHECK(cudaMalloc(&x, shape.k * sizeof(__half)));
        BENCH_CHECK(cudaMalloc(&y, shape.n * sizeof(__half)));
        fill_random_halves(x, shape.k, 1);
        const float alpha = 1.0f, beta = 0.0f;
        const double seconds = time_launches(stream, copies, [&](int i) {
            BENCH_CUBLAS(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, shape.n, 1, shape.k, &alpha, weights[i],
                                      CUDA_R_16F, shape.k, x, CUDA_R_16F, shape.k, &beta, y, CUDA_R_16F, shape.n,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        });
        const double bytes = static_cast<double>(weight_bytes) + (shape.k + shape.n) * sizeof(__half);
        const double bandwidth = bytes / seconds / 1e9;
        char name[32];
        std::snprintf(name, sizeof name, "%d x %d", shape.n, shape.k);
        std::printf("%-14s %7d %10.1f %9.0f %7.0f%%\n", name, copies, seconds * 1e6, bandwidth,
                    100.0 * bandwidth / copy_bandwidth);
        for (void* weight : weights) BENCH_CHECK(cudaFree(weight));
        BENCH_CHECK(cudaFree(x));
        BENCH_CHECK(cudaFree(y));
    }
    BENCH_CUBLAS(cublasDestroy(cublas));
    BENCH_CHECK(cudaFree(workspace));
    BENCH_CHECK(cudaStreamDestroy(stream));
    return 0;
}
