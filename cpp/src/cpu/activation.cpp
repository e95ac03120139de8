// Pointwise activations: silu, relu, gelu (erf and tanh forms), and the SwiGLU gate.
// All may run in place (out == x, or out == gate/up): each element is read before it is written.
// matmul_swiglu and lut_matmul_swiglu are the product of matmul / lut_matmul (into a buffer of
// their own) followed by the same SwiGLU code row by row, so they equal sn_matmul (sn_lut_matmul)
// + sn_swiglu bit for bit.
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/scratch.h"
#include "cpu/vmath.h"

#include <cmath>

namespace sn::cpu {
namespace {

constexpr int64_t kBlock = 16384;

// silu(x) = x·sigmoid(x) = x / (1 + e^-x), as torch.nn.functional.silu.
SN_ALWAYS_INLINE void silu_block_body(const float* x, float* out, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) out[i] = x[i] / (1.0f + exp_scalar(-x[i]));
}
SN_MULTIVERSION(silu_block, (const float* x, float* out, int64_t count), (x, out, count))

SN_ALWAYS_INLINE void relu_block_body(const float* x, float* out, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
SN_MULTIVERSION(relu_block, (const float* x, float* out, int64_t count), (x, out, count))

SN_ALWAYS_INLINE void swiglu_block_body(const float* gate, const float* up, float* out, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) out[i] = gate[i] / (1.0f + exp_scalar(-gate[i])) * up[i];
}
SN_MULTIVERSION(swiglu_block, (const float* gate, const float* up, float* out, int64_t count), (gate, up, out, count))

// HF "gelu": 0.5·x·(1 + erf(x/√2)), evaluated in double so it is exact to F32 rounding.
void gelu_erf_block(const float* x, float* out, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
        const double value = x[i];
        out[i] = static_cast<float>(0.5 * value * (1.0 + std::erf(value * 0.70710678118654752440)));
    }
}

// HF "gelu_new" / "gelu_pytorch_tanh": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
void gelu_tanh_block(const float* x, float* out, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
        const double value = x[i];
        const double inner = 0.79788456080286535588 * (value + 0.044715 * value * value * value);
        out[i] = static_cast<float>(0.5 * value * (1.0 + std::tanh(inner)));
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

sn_status silu(Context& context, const UnaryArgs& args) {
    const float* x = args.x->data_as<const float>();
    float* out = args.out->data_as<float>();
    for_each_block(context, args.x->numel, 8,
                   [&](int64_t begin, int64_t count) { silu_block(x + begin, out + begin, count); });
    return SN_OK;
}

sn_status relu(Context& context, const UnaryArgs& args) {
    const float* x = args.x->data_as<const float>();
    float* out = args.out->data_as<float>();
    for_each_block(context, args.x->numel, 1,
                   [&](int64_t begin, int64_t count) { relu_block(x + begin, out + begin, count); });
    return SN_OK;
}

sn_status gelu(Context& context, const GeluArgs& args) {
    const float* x = args.x->data_as<const float>();
    float* out = args.out->data_as<float>();
    auto kernel = args.tanh_approximation ? gelu_tanh_block : gelu_erf_block;
    for_each_block(context, args.x->numel, 32,
                   [&](int64_t begin, int64_t count) { kernel(x + begin, out + begin, count); });
    return SN_OK;
}

sn_status swiglu(Context& context, const SwigluArgs& args) {
    const float* gate = args.gate->data_as<const float>();
    const float* up = args.up->data_as<const float>();
    float* out = args.out->data_as<float>();
    for_each_block(context, args.gate->numel, 8,
                   [&](int64_t begin, int64_t count) { swiglu_block(gate + begin, up + begin, out + begin, count); });
    return SN_OK;
}

namespace {

// out[row] = silu(gate)·up of each row of product [rows, 2I] (gate columns, then up columns).
void swiglu_rows(Context& context, const float* product, int64_t rows, int64_t width, float* out) {
    const int64_t half = width / 2;
    const int threads = worker_count(context, rows * half * 8);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
        const float* gate = product + row * width;
        swiglu_block(gate, gate + half, out + row * half, half);
    }
}

}  // namespace

sn_status matmul_swiglu(Context& context, const MatmulArgs& args) {
    const int64_t rows = args.x->rows();
    const int64_t width = args.weight->dims[0];  // 2I: gate columns, then up columns
    // Requested before matmul runs: matmul_into takes scratch_floats, not this buffer.
    float* product = outer_scratch_floats(static_cast<size_t>(rows * width));
    SN_TRY(matmul_into(context, *args.x, *args.weight, args.bias, product));
    swiglu_rows(context, product, rows, width, args.out->data_as<float>());
    return SN_OK;
}

sn_status lut_matmul_swiglu(Context& context, const LutMatmulArgs& args) {
    const int64_t rows = args.x->rows();
    const int64_t width = args.lut->dims[0];  // 2I
    float* product = outer_scratch_floats(static_cast<size_t>(rows * width));
    SN_TRY(lut_matmul_into(context, args, product));
    swiglu_rows(context, product, rows, width, args.out->data_as<float>());
    return SN_OK;
}

}  // namespace sn::cpu
