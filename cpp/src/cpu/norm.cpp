// RMSNorm (HF LLaMA) and LayerNorm (torch.nn.LayerNorm) over the last dimension D.
// Statistics accumulate in double; the normalisation itself is F32 in HF's order of operations.
// out may be x (in place): a row's statistics are complete before the row is written.
#include "cpu/convert.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/scratch.h"

#include <cmath>

namespace sn::cpu {
namespace {

// HF: hidden * rsqrt(mean(hidden²) + eps), then weight * that.
SN_ALWAYS_INLINE void rms_norm_row_body(const float* x, const float* weight, float eps, float* out, int64_t width) {
    double sum_squares = 0.0;
#pragma omp simd reduction(+ : sum_squares)
    for (int64_t i = 0; i < width; ++i) sum_squares += static_cast<double>(x[i]) * x[i];
    const float variance = static_cast<float>(sum_squares / static_cast<double>(width));
    const float inverse_rms = 1.0f / std::sqrt(variance + eps);
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) out[i] = weight[i] * (x[i] * inverse_rms);
}
SN_MULTIVERSION(rms_norm_row, (const float* x, const float* weight, float eps, float* out, int64_t width),
                (x, weight, eps, out, width))

// (x − mean) / sqrt(biased variance + eps) · weight + bias; bias may be null.
SN_ALWAYS_INLINE void layer_norm_row_body(const float* x, const float* weight, const float* bias, float eps, float* out,
                                          int64_t width) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < width; ++i) sum += x[i];
    const double mean = sum / static_cast<double>(width);
    double sum_squares = 0.0;
#pragma omp simd reduction(+ : sum_squares)
    for (int64_t i = 0; i < width; ++i) {
        const double centered = x[i] - mean;
        sum_squares += centered * centered;
    }
    const float mean_f = static_cast<float>(mean);
    const float inverse_std = static_cast<float>(1.0 / std::sqrt(sum_squares / static_cast<double>(width) + eps));
    if (bias != nullptr) {
#pragma omp simd
        for (int64_t i = 0; i < width; ++i) out[i] = (x[i] - mean_f) * inverse_std * weight[i] + bias[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < width; ++i) out[i] = (x[i] - mean_f) * inverse_std * weight[i];
    }
}
SN_MULTIVERSION(layer_norm_row,
                (const float* x, const float* weight, const float* bias, float eps, float* out, int64_t width),
                (x, weight, bias, eps, out, width))

sn_status norm(const Context& context, const NormArgs& args, bool layer_norm) {
    const int64_t width = args.x->last_dim();
    const int64_t rows = args.x->rows();
    // Weight and bias as F32: used in place when already F32, else widened once per call.
    float* buffer = scratch_floats(2 * aligned_count(static_cast<size_t>(width)));
    const float* weight = as_f32(args.weight->dtype, args.weight->data(), buffer, width);
    const float* bias = args.bias != nullptr
                            ? as_f32(args.bias->dtype, args.bias->data(), buffer + aligned_count(width), width)
                            : nullptr;
    const float* x = args.x->data_as<const float>();
    float* out = args.out->data_as<float>();
    const float eps = args.eps;
    const int threads = worker_count(context, rows * width * 4);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
        if (layer_norm) {
            layer_norm_row(x + row * width, weight, bias, eps, out + row * width, width);
        } else {
            rms_norm_row(x + row * width, weight, eps, out + row * width, width);
        }
    }
    return SN_OK;
}

}  // namespace

sn_status rms_norm(Context& context, const NormArgs& args) {
    return norm(context, args, false);
}

sn_status layer_norm(Context& context, const NormArgs& args) {
    return norm(context, args, true);
}

}  // namespace sn::cpu
