// Per-row cross-entropy: loss[t] = logsumexp(logits[t, :]) − logits[t, targets[t]].
// logsumexp = max + log Σ e^(x − max): each term is in (0, 1], summed in double, so the result
// is accurate to F32 rounding even for V = 50k (summing in float would lose ~log2(V) bits).
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/vmath.h"
#include "error.h"

#include <cmath>

namespace sn::cpu {
namespace {

SN_ALWAYS_INLINE float row_loss_body(const float* logits, int64_t width, int32_t target) {
    float maximum = -__builtin_inff();
#pragma omp simd reduction(max : maximum)
    for (int64_t i = 0; i < width; ++i) maximum = logits[i] > maximum ? logits[i] : maximum;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < width; ++i) sum += exp_scalar(logits[i] - maximum);
    const double log_sum_exp = static_cast<double>(maximum) + std::log(sum);
    return static_cast<float>(log_sum_exp - static_cast<double>(logits[target]));
}

SN_TARGET_AVX512 float row_loss_avx512(const float* logits, int64_t width, int32_t target) {
    return row_loss_body(logits, width, target);
}
SN_TARGET_AVX2 float row_loss_avx2(const float* logits, int64_t width, int32_t target) {
    return row_loss_body(logits, width, target);
}
float row_loss_baseline(const float* logits, int64_t width, int32_t target) {
    return row_loss_body(logits, width, target);
}

}  // namespace

sn_status cross_entropy(Context& context, const CrossEntropyArgs& args) {
    const int64_t rows = args.logits->dims[0];
    const int64_t width = args.logits->dims[1];
    const int32_t* targets = args.targets->data_as<const int32_t>();
    for (int64_t row = 0; row < rows; ++row) {
        SN_CHECK(targets[row] >= 0 && targets[row] < width, SN_ERR_INVALID_ARGUMENT,
                 "targets[%lld] = %d is outside [0, V) with V = %lld", static_cast<long long>(row), targets[row],
                 static_cast<long long>(width));
    }
    const float* logits = args.logits->data_as<const float>();
    float* losses = args.losses->data_as<float>();
    auto row_loss = host_isa() == Isa::avx512 ? row_loss_avx512
                    : host_isa() == Isa::avx2 ? row_loss_avx2
                                              : row_loss_baseline;
    const int threads = worker_count(context, rows * width * 8);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < rows; ++row) losses[row] = row_loss(logits + row * width, width, targets[row]);
    return SN_OK;
}

}  // namespace sn::cpu
