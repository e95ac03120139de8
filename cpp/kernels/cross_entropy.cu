// Per-row cross-entropy on CUDA: losses[t] = logsumexp(logits[t, :]) − logits[t, targets[t]], one
// block per row. The max is reduced first, then Σ e^(x − max) with per-thread sums in double (as
// the CPU sums in double: a 50k-term float sum would lose bits), then the loss in double. targets
// are read on the device; a target outside [0, V) gives a NaN loss and is reported through the
// context's data-error record at the next synchronize or download.
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

template <class T>
__global__ void cross_entropy_kernel(const T* logits, const int32_t* targets, float* losses, int64_t width,
                                     DataError* error) {
    __shared__ float partial_max[32];
    __shared__ double partial_sum[32];
    const T* row = logits + blockIdx.x * width;
    float maximum = -INFINITY;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) maximum = fmaxf(maximum, to_float(row[i]));
    maximum = block_max(maximum, partial_max);
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sum += static_cast<double>(expf(to_float(row[i]) - maximum));
    sum = block_sum(sum, partial_sum);
    if (threadIdx.x == 0) {
        const int32_t target = targets[blockIdx.x];
        if (target < 0 || target >= width) {
            report_bad_value(error, OpId::cross_entropy, blockIdx.x, target, width);
            losses[blockIdx.x] = NAN;
        } else {
            losses[blockIdx.x] =
                static_cast<float>(static_cast<double>(maximum) + log(sum) - static_cast<double>(to_float(row[target])));
        }
    }
}

}  // namespace

sn_status cross_entropy(Context& context, const CrossEntropyArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t rows = args.logits->dims[0], width = args.logits->dims[1];
    SN_CHECK(rows <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED, "the CUDA backend takes at most 2^31 − 1 logit rows, got %lld",
             static_cast<long long>(rows));
    return dispatch_float(args.logits->dtype, [&](auto tag) {
        using T = decltype(tag);
        cross_entropy_kernel<T><<<static_cast<unsigned>(rows), 256, 0, state.stream>>>(
            args.logits->data_as<const T>(), args.targets->data_as<const int32_t>(), args.losses->data_as<float>(),
            width, state.data_error_device);
        SN_CUDA_CHECK_LAUNCH("cross_entropy_kernel");
        return SN_OK;
    });
}

}  // namespace sn::cuda
