// sn_bench_cpu: GFLOP/s of sn_matmul (and a prefill-sized sn_attention) on the CPU backend.
// Not a test: it prints measurements and asserts nothing.
//
//   build/native/sn_bench_cpu [threads]      (default: every core; CI machines have 2)
//
// Each shape is run once to warm up (first-touch, scratch growth), then timed over enough
// repetitions to last ~0.5 s; the median repetition is reported.
#include "squeeze_native.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

void check(sn_status status, const char* what) {
    if (status != SN_OK) {
        std::fprintf(stderr, "%s failed: %s: %s\n", what, sn_status_name(status), sn_last_error());
        std::exit(1);
    }
}

sn_tensor* make_tensor(sn_context* context, sn_dtype dtype, std::vector<int64_t> dims, std::mt19937& rng) {
    sn_tensor* tensor = nullptr;
    check(sn_tensor_create(context, dtype, dims.data(), static_cast<int32_t>(dims.size()), &tensor),
          "sn_tensor_create");
    sn_tensor_info info{};
    check(sn_tensor_get_info(tensor, &info), "sn_tensor_get_info");
    std::vector<float> values(static_cast<size_t>(info.numel));
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (float& value : values) value = uniform(rng);
    sn_tensor* staging = nullptr;
    check(sn_tensor_create(context, SN_DTYPE_F32, dims.data(), static_cast<int32_t>(dims.size()), &staging),
          "sn_tensor_create");
    check(sn_tensor_upload(staging, values.data(), values.size() * sizeof(float)), "sn_tensor_upload");
    check(sn_copy(context, staging, tensor), "sn_copy");
    check(sn_tensor_destroy(staging), "sn_tensor_destroy");
    return tensor;
}

template <class Run>
double median_seconds(Run run) {
    run();  // warm-up
    std::vector<double> times;
    double total = 0.0;
    while (times.size() < 5 || (total < 0.5 && times.size() < 200)) {
        const auto start = std::chrono::steady_clock::now();
        run();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        times.push_back(seconds);
        total += seconds;
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

const char* dtype_label(sn_dtype dtype) {
    return dtype == SN_DTYPE_F32 ? "f32" : dtype == SN_DTYPE_F16 ? "f16" : "bf16";
}

void bench_matmul(sn_context* context, int64_t m, int64_t n, int64_t k, sn_dtype weight_dtype, std::mt19937& rng) {
    sn_tensor* x = make_tensor(context, SN_DTYPE_F32, {m, k}, rng);
    sn_tensor* weight = make_tensor(context, weight_dtype, {n, k}, rng);
    sn_tensor* out = make_tensor(context, SN_DTYPE_F32, {m, n}, rng);
    const double seconds = median_seconds([&] { check(sn_matmul(context, x, weight, nullptr, out), "sn_matmul"); });
    const double gflops =
        2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / seconds * 1e-9;
    std::printf("matmul    M=%-5lld N=%-6lld K=%-5lld W=%-4s  %9.3f ms  %7.1f GFLOP/s", static_cast<long long>(m),
                static_cast<long long>(n), static_cast<long long>(k), dtype_label(weight_dtype), seconds * 1e3, gflops);
    if (m <= 4) {
        // Decoding is bound by streaming the weights once: report that rate too.
        const double weight_gbs = static_cast<double>(n * k) * sn_dtype_size(weight_dtype) / seconds * 1e-9;
        std::printf("  (weights %.1f GB/s)", weight_gbs);
    }
    std::printf("\n");
    sn_tensor_destroy(x);
    sn_tensor_destroy(weight);
    sn_tensor_destroy(out);
}

void bench_attention(sn_context* context, int64_t tokens, int64_t heads, int64_t kv_heads, int64_t head_dim,
                     int32_t window, std::mt19937& rng) {
    sn_tensor* q = make_tensor(context, SN_DTYPE_F32, {tokens, heads, head_dim}, rng);
    sn_tensor* k = make_tensor(context, SN_DTYPE_F32, {tokens, kv_heads, head_dim}, rng);
    sn_tensor* v = make_tensor(context, SN_DTYPE_F32, {tokens, kv_heads, head_dim}, rng);
    sn_tensor* out = make_tensor(context, SN_DTYPE_F32, {tokens, heads, head_dim}, rng);
    const float scale = 1.0f / 8.0f;
    const double seconds =
        median_seconds([&] { check(sn_attention(context, q, k, v, 0, window, scale, out), "sn_attention"); });
    // Causal: about T²/2 visible pairs per head (or T·window), 4·Dh flops each (QKᵀ and PV).
    double pairs = static_cast<double>(tokens) * static_cast<double>(tokens + 1) / 2.0;
    if (window > 0 && window < tokens)
        pairs = static_cast<double>(tokens) * window - static_cast<double>(window) * (window - 1) / 2.0;
    const double gflops = 4.0 * pairs * static_cast<double>(head_dim) * static_cast<double>(heads) / seconds * 1e-9;
    std::printf("attention T=%-5lld Hq=%-3lld Hkv=%-3lld Dh=%-4lld window=%-4d  %9.3f ms  %7.1f GFLOP/s\n",
                static_cast<long long>(tokens), static_cast<long long>(heads), static_cast<long long>(kv_heads),
                static_cast<long long>(head_dim), window, seconds * 1e3, gflops);
    sn_tensor_destroy(q);
    sn_tensor_destroy(k);
    sn_tensor_destroy(v);
    sn_tensor_destroy(out);
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
    sn_context_options options{};
    options.backend = SN_BACKEND_CPU;
    options.num_threads = threads;
    sn_context* context = nullptr;
    check(sn_context_create(&options, &context), "sn_context_create");
    std::printf("libsqueezenative %s, CPU backend, threads=%s\n", sn_version(), threads > 0 ? argv[1] : "all cores");

    std::mt19937 rng(7);
    // The CI target shape, then the LLaMA test model's linears at a 1024-token window, then decode.
    bench_matmul(context, 1024, 1024, 384, SN_DTYPE_F32, rng);
    bench_matmul(context, 1024, 1024, 384, SN_DTYPE_F16, rng);
    bench_matmul(context, 1024, 384, 384, SN_DTYPE_F32, rng);
    bench_matmul(context, 1024, 384, 1024, SN_DTYPE_F32, rng);
    bench_matmul(context, 1024, 32000, 384, SN_DTYPE_F16, rng);
    bench_matmul(context, 1024, 32000, 384, SN_DTYPE_F32, rng);
    bench_matmul(context, 1, 1024, 384, SN_DTYPE_F32, rng);
    bench_matmul(context, 1, 32000, 384, SN_DTYPE_F16, rng);
    bench_matmul(context, 1, 4096, 4096, SN_DTYPE_F16, rng);
    bench_attention(context, 1024, 6, 6, 64, 0, rng);
    bench_attention(context, 1024, 4, 2, 64, 256, rng);

    check(sn_context_destroy(context), "sn_context_destroy");
    return 0;
}
