// Backward of the rotary embedding: the forward rotates each pair (i, i + Dh/2) by
// angle = position · inv_freq_i, an orthogonal map, so the input gradient is dy rotated back:
//   dx[i]        =  dy[i]·cos(angle) + dy[i+Dh/2]·sin(angle)
//   dx[i + Dh/2] =  dy[i+Dh/2]·cos(angle) − dy[i]·sin(angle)
// The angles are computed exactly as rope.cpp computes them (HF's F32 steps), so the backward is
// the transpose of the forward actually applied, not of an idealised one.
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/scratch.h"

#include <cmath>

namespace sn::cpu {
namespace {

// In place (dx == dy) is safe: each iteration reads its pair before writing it.
SN_ALWAYS_INLINE void rotate_back_head_body(const float* dy, const float* cosines, const float* sines, float* dx,
                                            int64_t half) {
#pragma omp simd
    for (int64_t i = 0; i < half; ++i) {
        const float first = dy[i];
        const float second = dy[i + half];
        dx[i] = first * cosines[i] + second * sines[i];
        dx[i + half] = second * cosines[i] - first * sines[i];
    }
}
SN_MULTIVERSION(rotate_back_head, (const float* dy, const float* cosines, const float* sines, float* dx, int64_t half),
                (dy, cosines, sines, dx, half))

}  // namespace

sn_status rope_backward(Context& context, const RopeBackwardArgs& args) {
    const int64_t tokens = args.dy->dims[0];
    const int64_t heads = args.dy->dims[1];
    const int64_t head_dim = args.dy->dims[2];
    const int64_t half = head_dim / 2;
    const int32_t* positions = args.positions->data_as<const int32_t>();

    // Scratch: inv_freq [half] | cos [T][half] | sin [T][half], as rope.cpp.
    const size_t table = aligned_count(static_cast<size_t>(tokens * half));
    float* inv_freq = scratch_floats(aligned_count(static_cast<size_t>(half)) + 2 * table);
    float* cosines = inv_freq + aligned_count(static_cast<size_t>(half));
    float* sines = cosines + table;
    for (int64_t i = 0; i < half; ++i) {
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
        const float power =
            static_cast<float>(std::pow(static_cast<double>(args.theta), static_cast<double>(exponent)));
        inv_freq[i] = 1.0f / power;
    }

    const int threads = worker_count(context, tokens * half * 40 + tokens * heads * head_dim);
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tokens; ++t) {
            const float position = static_cast<float>(positions[t]);
            for (int64_t i = 0; i < half; ++i) {
                const float angle = position * inv_freq[i];
                cosines[t * half + i] = std::cos(angle);
                sines[t * half + i] = std::sin(angle);
            }
        }
        const float* dy = args.dy->data_as<const float>();
        float* dx = args.dx->data_as<float>();
#pragma omp for schedule(static)
        for (int64_t row = 0; row < tokens * heads; ++row) {
            const int64_t t = row / heads;
            rotate_back_head(dy + row * head_dim, cosines + t * half, sines + t * half, dx + row * head_dim, half);
        }
    }
    return SN_OK;
}

}  // namespace sn::cpu
