// Gradient of scale · Σ_t cross_entropy(logits[t], targets[t]) with respect to the logits:
//   dlogits[t, i] = (softmax(logits[t])_i − [i = targets[t]]) · scale
// The softmax denominator is summed in double (V can be 50k+), as in cross_entropy.cpp.
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/vmath.h"
#include "error.h"

namespace sn::cpu {
namespace {

SN_ALWAYS_INLINE void row_gradient_body(const float* logits, int64_t width, int32_t target, float scale,
                                        float* dlogits) {
    float maximum = -__builtin_inff();
#pragma omp simd reduction(max : maximum)
    for (int64_t i = 0; i < width; ++i) maximum = logits[i] > maximum ? logits[i] : maximum;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < width; ++i) {
        dlogits[i] = exp_scalar(logits[i] - maximum);
        sum += dlogits[i];
    }
    const float factor = static_cast<float>(static_cast<double>(scale) / sum);
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) dlogits[i] *= factor;
    dlogits[target] -= scale;
}
SN_MULTIVERSION(row_gradient, (const float* logits, int64_t width, int32_t target, float scale, float* dlogits),
                (logits, width, target, scale, dlogits))

}  // namespace

sn_status cross_entropy_backward(Context& context, const CrossEntropyBackwardArgs& args) {
    const int64_t rows = args.logits->dims[0];
    const int64_t width = args.logits->dims[1];
    const int32_t* targets = args.targets->data_as<const int32_t>();
    for (int64_t row = 0; row < rows; ++row) {
        SN_CHECK(targets[row] >= 0 && targets[row] < width, SN_ERR_INVALID_ARGUMENT,
                 "targets[%lld] = %d is outside [0, V) with V = %lld", static_cast<long long>(row), targets[row],
                 static_cast<long long>(width));
    }
    const float* logits = args.logits->data_as<const float>();
    float* dlogits = args.dlogits->data_as<float>();
    const float scale = args.scale;
    const int threads = worker_count(context, rows * width * 10);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
        row_gradient(logits + row * width, width, targets[row], scale, dlogits + row * width);
    }
    return SN_OK;
}

}  // namespace sn::cpu
