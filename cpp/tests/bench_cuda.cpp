// sn_bench_cuda: decode-time linears on this GPU. Times the library's F16 GEMV (kernels/gemv.cu,
// compiled into this program: the kernels sn_matmul launches for M <= 8) next to cuBLAS
// (kernels/cublas_linear.h: W [N, K] transposed, F32 accumulation, the call the library makes otherwise)
// on the LLaMA-7B shapes, and a device-to-device copy for the memory bandwidth to compare with.
//
//   sn_bench_cuda [device] [--lut [--decode] [--rows M,M,...] [--dense] | --lut-one N K BITS SPARSITY M [--swiglu]]
//                 [--variant w=W,s=S,x=X,p=P,k=K,q=Q]...
//
// With --lut it times the quantized products instead, on the path the op takes (the LUT-GEMV of
// kernels/lut_gemv.cu, the LUT-GEMM of kernels/lut_gemm.cu, or dequantize + cuBLAS:
// lut_product_path): 3 and 4 bits, no sparse part (--dense: only that) and the skewed 0.45 %
// pattern, M from 1 to 128 (--rows: other counts), against cuBLAS fp16 of the same shape (the
// issue's shapes, then LLaMA-7B's q|k|v and gate|up with the SwiGLU epilogue, marked g). Each
// --variant adds a column: the same product with LutGemvProblem's tuning overrides (warps of the
// register path, ring stages, x path of one row: 1 ring, 2 registers, 3 shared memory; p=1 the LUT-GEMM wherever
// the product is dense, p=2 never; the LUT-GEMM's splits of K and stages); without one, the other
// warp count. --decode keeps LLaMA-7B's decode products (q|k|v, o, gate|up, down) at M = 1 and 4.
// Each row also shows the read ceiling: a kernel that only reads the codes' bytes in the same
// harness (tests/bench_stream_read.cu).
//
// Method (see the workplace's GPU notes): CUDA events around batches of launches, median over
// many batches; each batch walks through enough copies of W that together exceed 3x the L2, so
// every GEMV streams its weights from device memory; random data, never zeros. Each product is
// timed as plain stream launches and as a CUDA graph of the same launches replayed (how the
// decode step runs), the GEMV also with programmatic dependent launch (PDL: the library's
// setting on sm_90). Bandwidth counts the bytes a GEMV must move (W once, x, out) and, for the
// copy, bytes read plus bytes written. Every GEMV variant's output is first checked against
// cuBLAS's (F32 out, max error relative to the largest output).
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/cublas_linear.h"
#include "kernels/gemv.h"
#include "cuda/state.h"  // DataError, where the LUT-GEMV reports bad CSR entries
#include "kernels/lut_gemv.h"
#include "bench_stream_read.h"
#include "lut_layout.h"
#include "lut_test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
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
// Launches between two events at least (cycling through the copies of W), so that the events' own
// cost stays small next to the launches.
constexpr int kMinPerBatch = 20;

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// Random F16 values in [-1, 1), drawn once (the largest weight) and uploaded wherever the
// benchmark needs data: the copies of W differ in address, which is what defeats the L2.
const std::vector<__half>& random_halves(size_t count) {
    static std::vector<__half> host;
    if (host.size() < count) {
        // xorshift64: a few hundred million values in about a second; quality is not the point.
        uint64_t state = 0x9E3779B97F4A7C15ull;
        host.resize(count);
        for (__half& value : host) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            value = __float2half(static_cast<float>(state >> 40) * (2.0f / 16777216.0f) - 1.0f);
        }
    }
    return host;
}

void fill_random_halves(void* device, size_t count, size_t offset = 0) {
    const std::vector<__half>& host = random_halves(count + offset);
    BENCH_CHECK(cudaMemcpy(device, host.data() + offset, count * sizeof(__half), cudaMemcpyHostToDevice));
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

// Median seconds of one launch of `body(i)` when the batch of launches is captured once into a
// CUDA graph and the graph replayed; NaN when capturing fails (reported, not fatal).
template <class Body>
double time_graph(cudaStream_t stream, int per_batch, Body&& body) {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    BENCH_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < per_batch; ++i) body(i);
    cudaError_t status = cudaStreamEndCapture(stream, &graph);
    if (status == cudaSuccess) status = cudaGraphInstantiateWithFlags(&exec, graph, 0);
    if (status != cudaSuccess) {
        std::printf("  (graph capture failed: %s)\n", cudaGetErrorString(status));
        (void)cudaGetLastError();
        if (graph != nullptr) (void)cudaGraphDestroy(graph);
        return NAN;
    }
    const double seconds =
        time_launches(stream, 1, [&](int) { BENCH_CHECK(cudaGraphLaunch(exec, stream)); }) / per_batch;
    BENCH_CHECK(cudaGraphExecDestroy(exec));
    BENCH_CHECK(cudaGraphDestroy(graph));
    return seconds;
}

// ---- LUT-GEMV ---------------------------------------------------------------------------------

void fill_random_words(void* device, size_t words) {
    std::vector<uint32_t> host(words);
    uint64_t state = 0x2545F4914F6CDD1Dull + words;
    for (uint32_t& word : host) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word = static_cast<uint32_t>(state >> 16);
    }
    BENCH_CHECK(cudaMemcpy(device, host.data(), words * 4, cudaMemcpyHostToDevice));
}

// One configuration only (for profilers): n, k, bits, sparsity and m all set.
struct LutFilter {
    int n = 0, k = 0, bits = 0, m = 0;
    double sparsity = -1.0;
    std::vector<int> rows;  // --rows M,M,...: these rows of x instead of the default list
    bool swiglu = false;
    bool decode = false;  // LLaMA-7B's decode products only, M = 1 and 4
    bool keeps(int n_, int k_, bool swiglu_) const {
        if (decode) return (n_ == 12288 || n_ == 22016 || n_ == 4096) && k_ <= 11008 && (n_ != 4096 || k_ != 14336);
        return n == 0 || (n == n_ && k == k_ && swiglu == swiglu_);
    }
};

// A kernel choice to time beside the library's (--variant w=W,s=S,x=X: warps of the register path,
// ring stages, x path of one row: 1 ring, 2 registers, 3 shared memory; LutGemvProblem's tuning overrides).
struct LutVariant {
    int warps = 0, stages = 0, x_path = 0, path = 0, splits = 0, gemm_stages = 0;
    std::string name;
    bool other_warps = false;  // the warp count the kernel does not pick for this K (set per shape)
};

LutVariant parse_variant(const std::string& spec) {
    LutVariant v;
    v.name = spec;
    size_t at = 0;
    while (at < spec.size()) {
        const size_t comma = std::min(spec.find(',', at), spec.size());
        const std::string item = spec.substr(at, comma - at);
        const int value = item.size() > 2 ? std::atoi(item.c_str() + 2) : 0;
        if (item.rfind("w=", 0) == 0)
            v.warps = value;
        else if (item.rfind("s=", 0) == 0)
            v.stages = value;
        else if (item.rfind("x=", 0) == 0)
            v.x_path = value;
        else if (item.rfind("p=", 0) == 0)
            v.path = value;
        else if (item.rfind("k=", 0) == 0)
            v.splits = value;
        else if (item.rfind("q=", 0) == 0)
            v.gemm_stages = value;

        else {
            std::fprintf(stderr, "--variant %s: unknown item '%s' (w=, s=, x=, p=, k=, q=)\n", spec.c_str(),
                         item.c_str());
            std::exit(2);
        }
        at = comma + 1;
    }
    return v;
}

void run_lut_benchmark(cudaStream_t stream, cublasHandle_t cublas, const cudaDeviceProp& properties,
                       double copy_bandwidth, const LutFilter& filter, std::vector<LutVariant> variants) {
    struct Shape {
        int n, k;
        bool swiglu;  // sn_lut_matmul_swiglu's epilogue: W stacks gate over up (n = 2I), out [M, I]
    };
    // The shapes, then LLaMA-7B's decode products: q|k|v stacked, and gate|up with SwiGLU.
    const Shape all_shapes[] = {{4096, 4096, false},  {11008, 4096, false}, {4096, 11008, false}, {14336, 4096, false},
                                {4096, 14336, false}, {32000, 4096, false}, {12288, 4096, false}, {22016, 4096, true}};
    std::vector<Shape> shapes;
    for (const Shape& shape : all_shapes) {
        if (filter.keeps(shape.n, shape.k, shape.swiglu)) shapes.push_back(shape);
    }
    if (filter.n != 0 && shapes.empty()) shapes.push_back({filter.n, filter.k, filter.swiglu});
    if (variants.empty()) {
        LutVariant other;
        other.name = "other warps";
        other.other_warps = true;
        variants.push_back(other);
    }
    std::vector<int> rows_of_x = {1, 4, 8, 16, 32, 128};
    if (!filter.rows.empty()) rows_of_x = filter.rows;
    if (filter.m != 0) rows_of_x = {filter.m};
    if (filter.decode) rows_of_x = {1, 4};
    std::vector<int> widths = {3, 4};
    if (filter.bits != 0) widths = {filter.bits};
    std::vector<double> sparsities = {0.0, 0.45};
    if (filter.sparsity >= 0) sparsities = {filter.sparsity};
    const size_t dequant_bytes = size_t{32} << 20;  // as the library's context (src/cuda/cuda_backend.cpp)
    void* dequant = nullptr;
    BENCH_CHECK(cudaMalloc(&dequant, dequant_bytes));
    void* sparse_sums = nullptr;  // the op gives the sparse kernel the dequant buffer; the same size here
    BENCH_CHECK(cudaMalloc(&sparse_sums, dequant_bytes));
    unsigned* read_sink = nullptr;  // the read-only kernel's store (never taken in practice)
    BENCH_CHECK(cudaMalloc(&read_sink, sizeof(unsigned)));
    sn::cuda::DataError* data_error = nullptr;
    BENCH_CHECK(cudaMalloc(&data_error, sizeof(sn::cuda::DataError)));
    BENCH_CHECK(cudaMemset(data_error, 0, sizeof(sn::cuda::DataError)));
    std::printf("\nLUT-GEMV, CUDA graph + PDL, us (%% of copy bandwidth) and speedup over cuBLAS fp16 of the same M\n");
    std::printf("(read us: a kernel that only reads the codes' bytes, same harness: the ceiling for this size)\n");
    std::printf("%-12s %4s %6s %5s | %9s %7s %8s | %9s %7s | %8s %7s |", "N x K", "bits", "sparse", "M", "LUT us",
                "% copy", "vs fp16", "cuBLAS us", "% copy", "read us", "% copy");
    for (const LutVariant& variant : variants) std::printf(" %12s", variant.name.c_str());
    std::printf("\n");
    for (const Shape& shape : shapes) {
        const size_t fp16_bytes = static_cast<size_t>(shape.n) * shape.k * 2;
        const int fp16_copies =
            static_cast<int>(std::max<size_t>(2, 3 * static_cast<size_t>(properties.l2CacheSize) / fp16_bytes + 1));
        std::vector<void*> fp16_weights(fp16_copies);
        for (void*& weight : fp16_weights) {
            BENCH_CHECK(cudaMalloc(&weight, fp16_bytes));
            fill_random_halves(weight, fp16_bytes / 2);
        }
        void *x = nullptr, *out = nullptr;
        const size_t max_rows = static_cast<size_t>(*std::max_element(rows_of_x.begin(), rows_of_x.end()));
        BENCH_CHECK(cudaMalloc(&x, max_rows * shape.k * 2));
        BENCH_CHECK(cudaMalloc(&out, max_rows * shape.n * 2));
        fill_random_halves(x, max_rows * shape.k, 777);
        std::vector<double> cublas_seconds;
        for (int m : rows_of_x) {
            const int per_batch = fp16_copies * ((kMinPerBatch + fp16_copies - 1) / fp16_copies);
            cublas_seconds.push_back(time_graph(stream, per_batch, [&](int i) {
                BENCH_CUBLAS(sn::cuda::cublas_linear(cublas, m, shape.n, shape.k, fp16_weights[i % fp16_copies],
                                                     CUDA_R_16F, x, CUDA_R_16F, 0.0f, out, CUDA_R_16F, shape.n));
            }));
        }
        for (void* weight : fp16_weights) BENCH_CHECK(cudaFree(weight));
        for (int bits : widths) {
            for (double sparsity : sparsities) {
                const size_t words =
                    static_cast<size_t>(sn::lut::tiles(shape.n) * sn::lut::units(shape.k) * sn::lut::unit_words(bits));
                const size_t lut_bytes = static_cast<size_t>(shape.n) << bits << 1;
                const sn_test::Csr csr = sparsity > 0
                                             ? sn_test::skewed_csr(shape.n, shape.k, shape.k * sparsity / 100.0, 5)
                                             : sn_test::Csr{};
                const size_t nnz = csr.cols.size();
                const size_t sparse_bytes = sparsity > 0 ? nnz * 6 + (shape.n + 1) * 4 : 0;
                const size_t weight_bytes = words * 4 + lut_bytes + sparse_bytes;
                const int copies = static_cast<int>(
                    std::max<size_t>(2, 3 * static_cast<size_t>(properties.l2CacheSize) / weight_bytes + 1));
                struct Copy {
                    void *codes, *lut, *rows, *cols, *vals;
                };
                std::vector<Copy> weights(copies);
                for (Copy& copy : weights) {
                    BENCH_CHECK(cudaMalloc(&copy.codes, words * 4));
                    fill_random_words(copy.codes, words);
                    BENCH_CHECK(cudaMalloc(&copy.lut, lut_bytes));
                    fill_random_halves(copy.lut, lut_bytes / 2, 99);
                    copy.rows = copy.cols = copy.vals = nullptr;
                    if (sparsity > 0) {
                        BENCH_CHECK(cudaMalloc(&copy.rows, csr.rows.size() * 4));
                        BENCH_CHECK(cudaMalloc(&copy.cols, nnz * 4));
                        BENCH_CHECK(cudaMalloc(&copy.vals, nnz * 2));
                        BENCH_CHECK(
                            cudaMemcpy(copy.rows, csr.rows.data(), csr.rows.size() * 4, cudaMemcpyHostToDevice));
                        BENCH_CHECK(cudaMemcpy(copy.cols, csr.cols.data(), nnz * 4, cudaMemcpyHostToDevice));
                        fill_random_halves(copy.vals, nnz, 5);
                    }
                }
                const int per_batch = copies * ((kMinPerBatch + copies - 1) / copies);
                const double read_seconds = time_graph(stream, per_batch, [&](int i) {
                    BENCH_CHECK(sn_bench::launch_stream_read(weights[i % copies].codes, words * 4, read_sink,
                                                             sn_bench::stream_read_blocks(properties), stream));
                });
                for (size_t mi = 0; mi < rows_of_x.size(); ++mi) {
                    const int m = rows_of_x[mi];
                    // the SwiGLU epilogue's products only (lut_matmul_swiglu splits the rest)
                    if (shape.swiglu && !sn::cuda::lut_gemv_swiglu_fits(m, shape.n, sparsity > 0)) continue;
                    LutVariant variant;
                    auto body = [&](int i) {
                        const Copy& copy = weights[i % copies];
                        sn::cuda::LutGemvProblem p{};
                        p.x = x;
                        p.packed = static_cast<const int32_t*>(copy.codes);
                        p.lut = copy.lut;
                        p.rows = static_cast<const int32_t*>(copy.rows);
                        p.cols = static_cast<const int32_t*>(copy.cols);
                        p.vals = copy.vals;
                        p.nnz = static_cast<int64_t>(nnz);
                        p.sparse_sums = static_cast<float*>(sparse_sums);
                        p.sparse_sums_floats = dequant_bytes / sizeof(float);
                        p.bias_dtype = sn::cuda::GemvBias::none;
                        p.out = out;
                        p.m = m;
                        p.n = shape.n;
                        p.k = shape.k;
                        p.bits = bits;
                        p.data_error = data_error;
                        p.warps = variant.warps;
                        p.stages = variant.stages;
                        p.x_path = variant.x_path;
                        p.path = variant.path;
                        p.gemm_splits = variant.splits;
                        p.gemm_stages = variant.gemm_stages;
                        p.swiglu = shape.swiglu;
                        p.weights_settled = true;  // each copy is written once, before the timing
                        switch (sn::cuda::lut_product_path(p, dequant_bytes)) {  // the op's choice
                            case sn::cuda::LutProductPath::gemm:
                                BENCH_CHECK(sn::cuda::launch_lut_gemm(p, static_cast<float*>(dequant), dequant_bytes,
                                                                      stream, true));
                                break;
                            case sn::cuda::LutProductPath::prefill: {
                                cublasStatus_t cublas_status = CUBLAS_STATUS_SUCCESS;
                                const cudaError_t status = sn::cuda::launch_lut_prefill(
                                    p, cublas, dequant, dequant_bytes, 0.0f, stream, &cublas_status);
                                BENCH_CUBLAS(cublas_status);
                                BENCH_CHECK(status);
                                break;
                            }
                            case sn::cuda::LutProductPath::gemv:
                                BENCH_CHECK(sn::cuda::launch_lut_gemv(p, stream, true));
                                break;
                        }
                    };
                    const double seconds = time_graph(stream, per_batch, body);
                    std::vector<double> variant_seconds;
                    for (const LutVariant& other : variants) {
                        variant = other;
                        if (variant.other_warps)
                            variant.warps = (shape.k + 255) / 256 >= 32 ? 4 : 8;  // lut_gemv.cu picks by K
                        variant_seconds.push_back(time_graph(stream, per_batch, body));
                    }
                    variant = LutVariant{};
                    const double out_columns = shape.swiglu ? shape.n / 2 : shape.n;
                    const double bytes = static_cast<double>(weight_bytes) + 2.0 * m * (shape.k + out_columns);
                    const double fp16_moved = static_cast<double>(fp16_bytes) + 2.0 * m * (shape.k + shape.n);
                    std::printf("%5dx%-6d%s %4d %5.2f%% %5d | %9.2f %6.1f%% %7.2fx | %9.2f %6.1f%% | %8.2f %6.1f%% |",
                                shape.n, shape.k, shape.swiglu ? "g" : " ", bits, sparsity, m, seconds * 1e6,
                                100.0 * bytes / seconds / 1e9 / copy_bandwidth, cublas_seconds[mi] / seconds,
                                cublas_seconds[mi] * 1e6,
                                100.0 * fp16_moved / cublas_seconds[mi] / 1e9 / copy_bandwidth, read_seconds * 1e6,
                                100.0 * words * 4 / read_seconds / 1e9 / copy_bandwidth);
                    for (const double other : variant_seconds) std::printf(" %12.2f", other * 1e6);
                    std::printf("\n");
                }
                for (Copy& copy : weights) {
                    for (void* pointer : {copy.codes, copy.lut, copy.rows, copy.cols, copy.vals}) {
                        if (pointer != nullptr) BENCH_CHECK(cudaFree(pointer));
                    }
                }
            }
        }
        BENCH_CHECK(cudaFree(x));
        BENCH_CHECK(cudaFree(out));
    }
    sn::cuda::DataError host{};
    BENCH_CHECK(cudaMemcpy(&host, data_error, sizeof host, cudaMemcpyDeviceToHost));
    if (host.op != 0) std::printf("LUT-GEMV reported a data error (bad benchmark CSR)\n");
    BENCH_CHECK(cudaFree(data_error));
    BENCH_CHECK(cudaFree(dequant));
    BENCH_CHECK(cudaFree(sparse_sums));
    BENCH_CHECK(cudaFree(read_sink));
}

}  // namespace

int main(int argc, char** argv) {
    int device = 0;
    bool lut = false;
    LutFilter filter;
    std::vector<LutVariant> variants;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--lut") {
            lut = true;
        } else if (std::string(argv[i]) == "--decode") {
            filter.decode = true;
        } else if (std::string(argv[i]) == "--swiglu") {
            filter.swiglu = true;
        } else if (std::string(argv[i]) == "--rows" && i + 1 < argc) {
            for (const char* at = argv[++i]; *at != '\0';) {
                char* end = nullptr;
                filter.rows.push_back(static_cast<int>(std::strtol(at, &end, 10)));
                if (end == at || filter.rows.back() < 1) {
                    std::fprintf(stderr, "--rows %s: expected positive counts separated by commas\n", argv[i]);
                    return 2;
                }
                at = *end == ',' ? end + 1 : end;
            }
        } else if (std::string(argv[i]) == "--dense") {
            filter.sparsity = 0.0;
        } else if (std::string(argv[i]) == "--variant" && i + 1 < argc) {
            variants.push_back(parse_variant(argv[++i]));
        } else if (std::string(argv[i]) == "--lut-one" && i + 5 < argc) {
            lut = true;
            filter.n = std::atoi(argv[i + 1]);
            filter.k = std::atoi(argv[i + 2]);
            filter.bits = std::atoi(argv[i + 3]);
            filter.sparsity = std::atof(argv[i + 4]);
            filter.m = std::atoi(argv[i + 5]);
            i += 5;
        } else {
            device = std::atoi(argv[i]);
        }
    }
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
    // A copy's speed does not depend on the values: a byte pattern will do (not zeros).
    BENCH_CHECK(cudaMemset(copy_source, 0x5A, copy_bytes));
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

    if (lut) {
        run_lut_benchmark(stream, cublas, properties, copy_bandwidth, filter, variants);
        BENCH_CUBLAS(cublasDestroy(cublas));
        BENCH_CHECK(cudaFree(workspace));
        BENCH_CHECK(cudaStreamDestroy(stream));
        return 0;
    }

    struct Shape {
        int m, n, k;
        bool out_f32;
        const char* what;
    };
    // The LLaMA-7B decode linears (M = 1), then a few rows at once, and a tiny W whose time is
    // mostly the launch and the first load's latency.
    const Shape shapes[] = {
        {1, 4096, 4096, false, "q/k/v/o"},      {1, 12288, 4096, false, "fused qkv"},
        {1, 22016, 4096, false, "gate|up"},     {1, 4096, 11008, false, "down"},
        {1, 32000, 4096, true, "LM head F32"},  {1, 11008, 4096, false, "gate or up"},
        {4, 4096, 4096, false, "M=4"},          {8, 4096, 4096, false, "M=8"},
        {8, 22016, 4096, false, "M=8 gate|up"}, {1, 4096, 64, false, "launch+latency"},
    };
    constexpr int kVariantShapes = 5;  // the variant sweep covers the first five shapes
    struct Row {
        const Shape* shape;
        double bytes;
        double cublas_stream, cublas_graph, gemv_stream, gemv_pdl, gemv_graph, gemv_graph_pdl;  // seconds
    };
    std::vector<Row> rows;
    std::printf("\nGEMV variants (warps/unroll/L2 evict-first), stream launches: us (max error vs cuBLAS)\n");
    for (const Shape& shape : shapes) {
        const size_t weight_count = static_cast<size_t>(shape.n) * shape.k;
        const size_t weight_bytes = weight_count * sizeof(__half);
        const int copies =
            static_cast<int>(std::max<size_t>(2, (3 * static_cast<size_t>(properties.l2CacheSize)) / weight_bytes + 1));
        const int per_batch = copies * ((kMinPerBatch + copies - 1) / copies);
        std::vector<void*> weights(copies);
        for (int c = 0; c < copies; ++c) {
            BENCH_CHECK(cudaMalloc(&weights[c], weight_bytes));
            fill_random_halves(weights[c], weight_count);
        }
        const size_t x_count = static_cast<size_t>(shape.m) * shape.k;
        const size_t out_count = static_cast<size_t>(shape.m) * shape.n;
        const size_t out_size = shape.out_f32 ? sizeof(float) : sizeof(__half);
        void *x = nullptr, *out = nullptr, *reference = nullptr, *check = nullptr;
        BENCH_CHECK(cudaMalloc(&x, x_count * sizeof(__half)));
        BENCH_CHECK(cudaMalloc(&out, out_count * out_size));
        BENCH_CHECK(cudaMalloc(&reference, out_count * sizeof(float)));
        BENCH_CHECK(cudaMalloc(&check, out_count * sizeof(float)));
        fill_random_halves(x, x_count, 12345);
        const cudaDataType_t out_type = shape.out_f32 ? CUDA_R_32F : CUDA_R_16F;
        auto run_cublas = [&](int i, void* destination, cudaDataType_t type) {
            BENCH_CUBLAS(sn::cuda::cublas_linear(cublas, shape.m, shape.n, shape.k, weights[i % copies], CUDA_R_16F, x,
                                                 CUDA_R_16F, 0.0f, destination, type, shape.n));
        };
        auto run_gemv = [&](int i, void* destination, bool out_f32, bool programmatic, sn::cuda::GemvConfig config) {
            sn::cuda::GemvProblem problem{};
            problem.x = x;
            problem.weight = weights[i % copies];
            problem.bias_dtype = sn::cuda::GemvBias::none;
            problem.out = destination;
            problem.out_f32 = out_f32;
            problem.m = shape.m;
            problem.n = shape.n;
            problem.k = shape.k;
            BENCH_CHECK(sn::cuda::launch_gemv_f16(problem, stream, programmatic, config));
        };
        // The reference: cuBLAS into F32, downloaded once.
        run_cublas(0, reference, CUDA_R_32F);
        BENCH_CHECK(cudaStreamSynchronize(stream));
        std::vector<float> expected(out_count), actual(out_count);
        BENCH_CHECK(cudaMemcpy(expected.data(), reference, out_count * sizeof(float), cudaMemcpyDeviceToHost));
        double scale = 0.0;
        for (float value : expected) scale = std::max(scale, static_cast<double>(std::fabs(value)));
        // Max error of a GEMV variant (F32 out) relative to the largest reference output; the
        // output is poisoned (NaN) first so that an unwritten element shows.
        auto error_of = [&](sn::cuda::GemvConfig config) {
            BENCH_CHECK(cudaMemsetAsync(check, 0xFF, out_count * sizeof(float), stream));
            run_gemv(0, check, true, false, config);
            BENCH_CHECK(cudaStreamSynchronize(stream));
            BENCH_CHECK(cudaMemcpy(actual.data(), check, out_count * sizeof(float), cudaMemcpyDeviceToHost));
            double worst = 0.0;
            for (size_t i = 0; i < out_count; ++i) {
                const double difference = std::fabs(static_cast<double>(actual[i]) - expected[i]);
                worst = std::isnan(difference) ? INFINITY : std::max(worst, difference);
            }
            return worst / scale;
        };
        auto gemv_body = [&](bool programmatic, sn::cuda::GemvConfig config) {
            return [&, programmatic, config](int i) { run_gemv(i, out, shape.out_f32, programmatic, config); };
        };
        char name[48];
        std::snprintf(name, sizeof name, "%dx%dx%d", shape.m, shape.n, shape.k);
        std::printf("%-16s", name);
        if (&shape - shapes < kVariantShapes) {
            for (const sn::cuda::GemvConfig& config : sn::cuda::kGemvBenchConfigs) {
                const double error = error_of(config);
                std::printf(" %d/%d/%d %5.1f (%.0e)", config.warps, config.unroll, config.evict_first ? 1 : 0,
                            time_launches(stream, per_batch, gemv_body(false, config)) * 1e6, error);
            }
        }
        const double default_error = error_of(sn::cuda::kGemvDefaultConfig);
        std::printf(" default: error %.1e%s\n", default_error, default_error > 1e-4 ? "  <-- WRONG" : "");
        Row row{&shape, static_cast<double>(weight_bytes) + x_count * sizeof(__half) + out_count * out_size};
        auto cublas_body = [&](int i) { run_cublas(i, out, out_type); };
        const sn::cuda::GemvConfig d = sn::cuda::kGemvDefaultConfig;
        row.cublas_stream = time_launches(stream, per_batch, cublas_body);
        row.gemv_stream = time_launches(stream, per_batch, gemv_body(false, d));
        row.gemv_pdl = time_launches(stream, per_batch, gemv_body(true, d));
        row.cublas_graph = time_graph(stream, per_batch, cublas_body);
        row.gemv_graph = time_graph(stream, per_batch, gemv_body(false, d));
        row.gemv_graph_pdl = time_graph(stream, per_batch, gemv_body(true, d));
        rows.push_back(row);
        for (void* weight : weights) BENCH_CHECK(cudaFree(weight));
        BENCH_CHECK(cudaFree(x));
        BENCH_CHECK(cudaFree(out));
        BENCH_CHECK(cudaFree(reference));
        BENCH_CHECK(cudaFree(check));
    }

    // us and % of the copy bandwidth, per way of launching.
    const sn::cuda::GemvConfig d = sn::cuda::kGemvDefaultConfig;
    std::printf("\nus per product (%% of copy bandwidth); GEMV %d warps, unroll %d, evict-first %d\n", d.warps,
                d.unroll, d.evict_first ? 1 : 0);
    std::printf("%-30s %6s | %-14s %-14s | %-14s %-14s %-14s %-14s\n", "M x N x K (what)", "MB", "cuBLAS stream",
                "cuBLAS graph", "GEMV stream", "GEMV PDL", "GEMV graph", "GEMV graph+PDL");
    auto cell = [&](const Row& row, double seconds) {
        static char text[8][32];
        static int next = 0;
        char* out = text[next++ % 8];
        std::snprintf(out, 32, "%6.1f (%5.1f%%)", seconds * 1e6, 100.0 * row.bytes / seconds / 1e9 / copy_bandwidth);
        return out;
    };
    for (const Row& row : rows) {
        char name[64];
        std::snprintf(name, sizeof name, "%dx%dx%d (%s)", row.shape->m, row.shape->n, row.shape->k, row.shape->what);
        std::printf("%-30s %6.1f | %s %s | %s %s %s %s\n", name, row.bytes / 1e6, cell(row, row.cublas_stream),
                    cell(row, row.cublas_graph), cell(row, row.gemv_stream), cell(row, row.gemv_pdl),
                    cell(row, row.gemv_graph), cell(row, row.gemv_graph_pdl));
    }
    BENCH_CUBLAS(cublasDestroy(cublas));
    BENCH_CHECK(cudaFree(workspace));
    BENCH_CHECK(cudaStreamDestroy(stream));
    return 0;
}
