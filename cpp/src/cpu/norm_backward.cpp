// Input gradients of RMSNorm and LayerNorm over the last dimension D (weight and bias fixed).
//
//   RMSNorm    y = w ⊙ x·r,  r = (mean(x²) + eps)^(−1/2)
//              dx_i = r·w_i·dy_i − x_i · r³ · (Σ_j dy_j·w_j·x_j) / D
//   LayerNorm  x̂ = (x − mean)·r,  r = (var + eps)^(−1/2) (biased variance),  y = w ⊙ x̂ + b
//              with g = dy ⊙ w:  dx_i = r · (g_i − mean(g) − x̂_i · mean(g ⊙ x̂))
//
// Row sums accumulate in double (as the forward's statistics), the elementwise part is F32.
#include "cpu/convert.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/scratch.h"

#include <cmath>

namespace sn::cpu {
namespace {

SN_ALWAYS_INLINE void rms_norm_backward_row_body(const float* x, const float* weight, const float* dy, float eps,
                                                 float* dx, int64_t width) {
    double sum_squares = 0.0;
    double weighted = 0.0;
#pragma omp simd reduction(+ : sum_squares, weighted)
    for (int64_t i = 0; i < width; ++i) {
        sum_squares += static_cast<double>(x[i]) * x[i];
        weighted += static_cast<double>(dy[i]) * weight[i] * x[i];
    }
    const double inverse_rms = 1.0 / std::sqrt(sum_squares / static_cast<double>(width) + eps);
    const float scale = static_cast<float>(inverse_rms);
    const float correction =
        static_cast<float>(inverse_rms * inverse_rms * inverse_rms * weighted / static_cast<double>(width));
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) dx[i] = scale * weight[i] * dy[i] - x[i] * correction;
}
SN_MULTIVERSION(rms_norm_backward_row,
                (const float* x, const float* weight, const float* dy, float eps, float* dx, int64_t width),
                (x, weight, dy, eps, dx, width))

SN_ALWAYS_INLINE void layer_norm_backward_row_body(const float* x, const float* weight, const float* dy, float eps,
                                                   float* dx, int64_t width) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < width; ++i) sum += x[i];
    const double mean = sum / static_cast<double>(width);
    double sum_squares = 0.0;
    double sum_g = 0.0;
    double sum_g_centered = 0.0;
#pragma omp simd reduction(+ : sum_squares, sum_g, sum_g_centered)
    for (int64_t i = 0; i < width; ++i) {
        const double centered = x[i] - mean;
        const double g = static_cast<double>(dy[i]) * weight[i];
        sum_squares += centered * centered;
        sum_g += g;
        sum_g_centered += g * centered;
    }
    const double inverse_std = 1.0 / std::sqrt(sum_squares / static_cast<double>(width) + eps);
    const float scale = static_cast<float>(inverse_std);
    const float mean_f = static_cast<float>(mean);
    const float mean_g = static_cast<float>(sum_g / static_cast<double>(width));
    // mean(g ⊙ x̂)·r, applied to (x − mean): x̂_i · mean(g ⊙ x̂) = (x_i − mean) · r² · mean(g ⊙ (x − mean)).
    const float centered_factor =
        static_cast<float>(sum_g_centered / static_cast<double>(width) * inverse_std * inverse_std);
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) {
        dx[i] = scale * (dy[i] * weight[i] - mean_g - (x[i] - mean_f) * centered_factor);
    }
}
SN_MULTIVERSION(layer_norm_backward_row,
                (const float* x, const float* weight, const float* dy, float eps, float* dx, int64_t width),
                (x, weight, dy, eps, dx, width))

sn_status norm_backward(const Context& context, const NormBackwardArgs& args, bool layer_norm) {
    const int64_t width = args.x->last_dim();
    const int64_t rows = args.x->rows();
    float* buffer = scratch_floats(aligned_count(static_cast<size_t>(width)));
    const float* weight = as_f32(args.weight->dtype, args.weight->data(), buffer, width);
    const float* x = args.x->data_as<const float>();
    const float* dy = args.dy->data_as<const float>();
    float* dx = args.dx->data_as<float>();
    const float eps = args.eps;
    const int threads = worker_count(context, rows * width * 8);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
        const int64_t offset = row * width;
        if (layer_norm) {
            layer_norm_backward_row(x + offset, weight, dy + offset, eps, dx + offset, width);
        } else {
            rms_norm_backward_row(x + offset, weight, dy + offset, eps, dx + offset, width);
        }
    }
    return SN_OK;
}

}  // namespace

sn_status rms_norm_backward(Context& context, const NormBackwardArgs& args) {
    return norm_backward(context, args, false);
}

sn_status layer_norm_backward(Context& context, const NormBackwardArgs& args) {
    return norm_backward(context, args, true);
}

}  // namespace sn::cpu
