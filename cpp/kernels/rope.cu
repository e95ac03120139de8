// Rotary position embedding on CUDA (rotate-half layout, HF LLaMA), one block per token:
//   1. the block's threads build the token's cos/sin table [Dh/2] in shared memory, with the
//      CPU's (and HF's) float32 steps: inv_freq_i = 1 / (float)theta^((float)2i / Dh),
//      angle = (float)position · inv_freq_i, cos/sin of that float angle (evaluated in double
//      and rounded, i.e. correctly rounded like the CPU's cosf/sinf);
//   2. the block rotates every head's pairs (i, i + Dh/2) with the table.
// positions are read on the device (graph-safe). In place is safe: each pair is read and
// written by one thread.
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

template <class T>
__global__ void rope_kernel(const T* x, const int32_t* positions, float theta, T* out, int heads, int head_dim) {
    extern __shared__ float table[];  // cos [half] | sin [half]
    const int half = head_dim / 2;
    float* cosines = table;
    float* sines = table + half;
    const float position = static_cast<float>(positions[blockIdx.x]);
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
        const float inv_freq = 1.0f / static_cast<float>(pow(static_cast<double>(theta), static_cast<double>(exponent)));
        const double angle = static_cast<double>(position * inv_freq);
        cosines[i] = static_cast<float>(cos(angle));
        sines[i] = static_cast<float>(sin(angle));
    }
    __syncthreads();
    const int64_t token_offset = static_cast<int64_t>(blockIdx.x) * heads * head_dim;
    for (int pair = threadIdx.x; pair < heads * half; pair += blockDim.x) {
        const int head = pair / half, i = pair % half;
        const int64_t base = token_offset + static_cast<int64_t>(head) * head_dim;
        const float first = to_float(x[base + i]);
        const float second = to_float(x[base + i + half]);
        out[base + i] = from_float<T>(first * cosines[i] - second * sines[i]);
        out[base + i + half] = from_float<T>(second * cosines[i] + first * sines[i]);
    }
}

}  // namespace

sn_status rope(Context& context, const RopeArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t tokens = args.x->dims[0], heads = args.x->dims[1], head_dim = args.x->dims[2];
    SN_CHECK(tokens <= 0x7FFFFFFF && heads * head_dim <= 0x7FFFFFFF && head_dim <= 8192, SN_ERR_UNSUPPORTED,
             "the CUDA backend's rope takes at most 2^31 − 1 tokens, H·Dh < 2^31 and Dh <= 8192, got x %lld×%lld×%lld",
             static_cast<long long>(tokens), static_cast<long long>(heads), static_cast<long long>(head_dim));
    const int threads = row_block_threads(heads * head_dim / 2);
    const size_t shared_bytes = static_cast<size_t>(head_dim) * sizeof(float);
    return dispatch_float(args.x->dtype, [&](auto tag) {
        using T = decltype(tag);
        rope_kernel<T><<<static_cast<unsigned>(tokens), threads, shared_bytes, state.stream>>>(
            args.x->data_as<const T>(), args.positions->data_as<const int32_t>(), args.theta, args.out->data_as<T>(),
            static_cast<int>(heads), static_cast<int>(head_dim));
        SN_CUDA_CHECK_LAUNCH("rope_kernel");
        return SN_OK;
    });
}

}  // namespace sn::cuda
