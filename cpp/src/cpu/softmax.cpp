// Softmax over the last dimension: e^(x − max) / Σ e^(x − max), the sum accumulated in double.
// out may be x: the row's max is taken before the row is overwritten with the exponentials.
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/vmath.h"

#include <cmath>

namespace sn::cpu {
namespace {

SN_ALWAYS_INLINE void softmax_row_body(const float* x, float* out, int64_t width) {
    float maximum = -__builtin_inff();
#pragma omp simd reduction(max : maximum)
    for (int64_t i = 0; i < width; ++i) maximum = x[i] > maximum ? x[i] : maximum;
    // A row of -inf has no finite maximum; subtracting 0 then yields 0/0 = NaN as torch does.
    const float shift = std::isinf(maximum) ? 0.0f : maximum;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < width; ++i) {
        const float value = exp_scalar(x[i] - shift);
        out[i] = value;
        sum += value;
    }
    const float inverse = static_cast<float>(1.0 / sum);
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) out[i] *= inverse;
}
SN_MULTIVERSION(softmax_row, (const float* x, float* out, int64_t width), (x, out, width))

}  // namespace

sn_status softmax(Context& context, const UnaryArgs& args) {
    const int64_t width = args.x->last_dim();
    const int64_t rows = args.x->rows();
    const float* x = args.x->data_as<const float>();
    float* out = args.out->data_as<float>();
    const int threads = worker_count(context, rows * width * 8);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < rows; ++row) softmax_row(x + row * width, out + row * width, width);
    return SN_OK;
}

}  // namespace sn::cpu
