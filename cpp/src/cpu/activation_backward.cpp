// Input gradients of the pointwise activations and of the SwiGLU gate, at the forward's input:
//
//   relu        dx = dy · [x > 0]                        (0 at x = 0, as torch)
//   silu        dx = dy · s·(1 + x·(1 − s)),  s = sigmoid(x)
//   gelu (erf)  dx = dy · (Φ(x) + x·φ(x)),   Φ, φ: the standard normal CDF and density
//   gelu (tanh) dx = dy · (½(1 + t) + ½x·(1 − t²)·c·(1 + 3a·x²)),  t = tanh(c·(x + a·x³)),
//               c = √(2/π), a = 0.044715
//   swiglu      dgate = dy · up · silu'(gate),  dup = dy · silu(gate)
//
// dx may be dy (in place): each element is read before it is written. The GELU forms are
// evaluated in double like the forward (activation.cpp).
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/vmath.h"

#include <cmath>

namespace sn::cpu {
namespace {

constexpr int64_t kBlock = 16384;

SN_ALWAYS_INLINE void relu_backward_block_body(const float* x, const float* dy, float* dx, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}
SN_MULTIVERSION(relu_backward_block, (const float* x, const float* dy, float* dx, int64_t count), (x, dy, dx, count))

SN_ALWAYS_INLINE void silu_backward_block_body(const float* x, const float* dy, float* dx, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) {
        const float s = 1.0f / (1.0f + exp_scalar(-x[i]));
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}
SN_MULTIVERSION(silu_backward_block, (const float* x, const float* dy, float* dx, int64_t count), (x, dy, dx, count))

SN_ALWAYS_INLINE void swiglu_backward_block_body(const float* gate, const float* up, const float* dy, float* dgate,
                                                 float* dup, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) {
        const float s = 1.0f / (1.0f + exp_scalar(-gate[i]));
        const float g = dy[i];
        dgate[i] = g * up[i] * s * (1.0f + gate[i] * (1.0f - s));
        dup[i] = g * gate[i] * s;
    }
}
SN_MULTIVERSION(swiglu_backward_block,
                (const float* gate, const float* up, const float* dy, float* dgate, float* dup, int64_t count),
                (gate, up, dy, dgate, dup, count))

void gelu_erf_backward_block(const float* x, const float* dy, float* dx, int64_t count) {
    constexpr double kInverseSqrt2 = 0.70710678118654752440;
    constexpr double kInverseSqrt2Pi = 0.39894228040143267794;
    for (int64_t i = 0; i < count; ++i) {
        const double value = x[i];
        const double cdf = 0.5 * (1.0 + std::erf(value * kInverseSqrt2));
        const double density = kInverseSqrt2Pi * std::exp(-0.5 * value * value);
        dx[i] = static_cast<float>(dy[i] * (cdf + value * density));
    }
}

void gelu_tanh_backward_block(const float* x, const float* dy, float* dx, int64_t count) {
    constexpr double kC = 0.79788456080286535588;  // √(2/π)
    constexpr double kA = 0.044715;
    for (int64_t i = 0; i < count; ++i) {
        const double value = x[i];
        const double t = std::tanh(kC * (value + kA * value * value * value));
        const double derivative = 0.5 * (1.0 + t) + 0.5 * value * (1.0 - t * t) * kC * (1.0 + 3.0 * kA * value * value);
        dx[i] = static_cast<float>(dy[i] * derivative);
    }
}

template <class Kernel>
void for_each_block(const Context& context, int64_t total, int64_t cost_per_element, Kernel kernel) {
    const int threads = worker_count(context, total * cost_per_element);
    const int64_t blocks = (total + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t block = 0; block < blocks; ++block) {
        const int64_t begin = block * kBlock;
        kernel(begin, std::min(kBlock, total - begin));
    }
}

}  // namespace

sn_status activation_backward(Context& context, const ActivationBackwardArgs& args) {
    const float* x = args.x->data_as<const float>();
    const float* dy = args.dy->data_as<const float>();
    float* dx = args.dx->data_as<float>();
    void (*kernel)(const float*, const float*, float*, int64_t) = relu_backward_block;
    int64_t cost = 1;
    switch (args.activation) {
        case SN_ACTIVATION_RELU:
            break;
        case SN_ACTIVATION_SILU:
            kernel = silu_backward_block;
            cost = 10;
            break;
        case SN_ACTIVATION_GELU:
            kernel = gelu_erf_backward_block;
            cost = 40;
            break;
        case SN_ACTIVATION_GELU_TANH:
            kernel = gelu_tanh_backward_block;
            cost = 40;
            break;
    }
    for_each_block(context, args.x->numel, cost,
                   [&](int64_t begin, int64_t count) { kernel(x + begin, dy + begin, dx + begin, count); });
    return SN_OK;
}

sn_status swiglu_backward(Context& context, const SwigluBackwardArgs& args) {
    const float* gate = args.gate->data_as<const float>();
    const float* up = args.up->data_as<const float>();
    const float* dy = args.dy->data_as<const float>();
    float* dgate = args.dgate->data_as<float>();
    float* dup = args.dup->data_as<float>();
    for_each_block(context, args.gate->numel, 12, [&](int64_t begin, int64_t count) {
        swiglu_backward_block(gate + begin, up + begin, dy + begin, dgate + begin, dup + begin, count);
    });
    return SN_OK;
}

}  // namespace sn::cpu
