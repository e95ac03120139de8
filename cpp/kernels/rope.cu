// Rotary position embedding on CUDA (rotate-half layout, HF LLaMA), its backward (the rotation by
// −angle, rope_backward), and the fused attention-input step rope_kv_write (RoPE on q and k, k and
// v into the caches) that decode runs once per layer.
//
// Angles follow the CPU's (and HF's) float32 steps, in rope_cos_sin below: inv_freq_i =
// 1 / (float)theta^((float)2i / Dh), angle = (float)position · inv_freq_i, cos/sin of that float
// angle (evaluated in double and rounded, i.e. correctly rounded like the CPU's cosf/sinf). Both
// kernels share rope_cos_sin and rotate_pair, so they compute the same bits. positions are read
// on the device (graph-safe). In place is safe: each pair is read and written by one thread.
//
// rope: one block per token; the block's threads build the token's cos/sin table [Dh/2] in shared
//   memory, then rotate every head's pairs (i, i + Dh/2) with it.
// rope_kv_write: grid (T, blocks per token); a block builds its token's cos/sin table like rope
//   and then takes a range of "units" (heads): a kv head's unit rotates k's pairs in place, writes
//   them to k_cache and copies v's row to v_cache; a q head's unit rotates q. With theta = 0 there
//   are only the Hkv kv units, which copy. At T = 1 the whole call is a few thousand pairs: one
//   head per block (Hkv + Hq blocks, one round of loads per thread) keeps the launch short, where
//   one block looping over every head would wait one load latency per round. With many tokens
//   a block takes all (or many) of a token's heads, so the table is built once per token, not
//   once per head.
#include "kernels/common.cuh"

#include <algorithm>

namespace sn::cuda {
namespace {

__device__ __forceinline__ void rope_cos_sin(float position, int i, int head_dim, float theta, float* cosine,
                                             float* sine) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float inv_freq = 1.0f / static_cast<float>(pow(static_cast<double>(theta), static_cast<double>(exponent)));
    const double angle = static_cast<double>(position * inv_freq);
    *cosine = static_cast<float>(cos(angle));
    *sine = static_cast<float>(sin(angle));
}

__device__ __forceinline__ void rotate_pair(float first, float second, float cosine, float sine, float* out_first,
                                            float* out_second) {
    *out_first = first * cosine - second * sine;
    *out_second = second * cosine + first * sine;
}

template <class T>
__global__ void rope_kernel(const T* x, const int32_t* positions, float theta, float sign, T* out, int heads,
                            int head_dim) {
    extern __shared__ float table[];  // cos [half] | sin [half]
    const int half = head_dim / 2;
    float* cosines = table;
    float* sines = table + half;
    const float position = static_cast<float>(positions[blockIdx.x]);
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        rope_cos_sin(position, i, head_dim, theta, &cosines[i], &sines[i]);
        sines[i] *= sign;  // −1: the inverse rotation (rope_backward); exact either way
    }
    __syncthreads();
    const int64_t token_offset = static_cast<int64_t>(blockIdx.x) * heads * head_dim;
    for (int pair = threadIdx.x; pair < heads * half; pair += blockDim.x) {
        const int head = pair / half, i = pair % half;
        const int64_t base = token_offset + static_cast<int64_t>(head) * head_dim;
        float first, second;
        rotate_pair(to_float(x[base + i]), to_float(x[base + i + half]), cosines[i], sines[i], &first, &second);
        out[base + i] = from_float<T>(first);
        out[base + i + half] = from_float<T>(second);
    }
}

// T: q, k, v storage; C: the caches'. Block (t, b) takes units b·units_per_block .. of token t;
// unit u < kv_heads is kv head u, a higher one q head u − kv_heads (present only when theta != 0).
// A unit is per_unit = ceil(Dh / 2) items; item i covers elements i and i + per_unit of the head
// (the rotation pair when rotating, where Dh is even). k is rounded to T before it goes to the
// cache, as sn_rope's output would be, then converted to C as sn_kv_write converts.
template <class T, class C>
__global__ void rope_kv_write_kernel(T* q, T* k, const T* v, const int32_t* positions, float theta, C* k_cache,
                                     C* v_cache, int q_heads, int kv_heads, int head_dim, int units_per_block,
                                     int64_t cache_len, DataError* error) {
    extern __shared__ float table[];  // rotating: cos [per_unit] | sin [per_unit] of token t
    allow_next_grid();  // before the wait: the next op's kernel may start streaming its weights (chained_launch.h)
    wait_for_previous_grid();  // a chained launch (common.cuh): q, k, v come from the GEMV before
    const int t = blockIdx.x;
    const bool rotate = theta != 0.0f;
    const int units = kv_heads + (rotate ? q_heads : 0);
    const int first_unit = blockIdx.y * units_per_block;
    const int block_units = min(units_per_block, units - first_unit);
    const int per_unit = (head_dim + 1) / 2;
    const int32_t position = positions[t];
    // A position outside the cache: q and k are still rotated (as sn_rope would), no row is written.
    const bool in_cache = position >= 0 && position < cache_len;
    if (!in_cache && blockIdx.y == 0 && threadIdx.x == 0) {
        report_bad_value(error, OpId::rope_kv_write, t, position, cache_len);
    }
    float* cosines = table;
    float* sines = table + per_unit;
    if (rotate) {  // uniform over the block
        const float angle_position = static_cast<float>(position);
        for (int i = threadIdx.x; i < per_unit; i += blockDim.x) {
            rope_cos_sin(angle_position, i, head_dim, theta, &cosines[i], &sines[i]);
        }
        __syncthreads();
    }
    const int64_t target_position = in_cache ? position : 0;
    for (int item = threadIdx.x; item < block_units * per_unit; item += blockDim.x) {
        const int unit = first_unit + item / per_unit;
        const int i = item % per_unit, j = i + per_unit;  // j == Dh for the last item of an odd Dh
        if (unit >= kv_heads) {
            T* row = q + (static_cast<int64_t>(t) * q_heads + (unit - kv_heads)) * head_dim;
            float first, second;
            rotate_pair(to_float(row[i]), to_float(row[j]), cosines[i], sines[i], &first, &second);
            row[i] = from_float<T>(first);
            row[j] = from_float<T>(second);
            continue;
        }
        const int64_t source = (static_cast<int64_t>(t) * kv_heads + unit) * head_dim;
        const int64_t target = (target_position * kv_heads + unit) * head_dim;
        T* k_row = k + source;
        const T* v_row = v + source;
        C* k_target = k_cache + target;
        C* v_target = v_cache + target;
        if (rotate) {
            float first, second;
            rotate_pair(to_float(k_row[i]), to_float(k_row[j]), cosines[i], sines[i], &first, &second);
            const T first_stored = from_float<T>(first);
            const T second_stored = from_float<T>(second);
            k_row[i] = first_stored;
            k_row[j] = second_stored;
            if (in_cache) {
                k_target[i] = from_float<C>(to_float(first_stored));
                k_target[j] = from_float<C>(to_float(second_stored));
            }
        } else if (in_cache) {
            k_target[i] = from_float<C>(to_float(k_row[i]));
            if (j < head_dim) k_target[j] = from_float<C>(to_float(k_row[j]));
        }
        if (in_cache) {
            v_target[i] = from_float<C>(to_float(v_row[i]));
            if (j < head_dim) v_target[j] = from_float<C>(to_float(v_row[j]));
        }
    }
}

// out = x rotated by sign · angle (sign −1: rope_backward, the transpose of the forward rotation).
sn_status rotate(Context& context, const Tensor* x, const Tensor* positions, float theta, Tensor* out, float sign) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t tokens = x->dims[0], heads = x->dims[1], head_dim = x->dims[2];
    SN_CHECK(tokens <= 0x7FFFFFFF && heads * head_dim <= 0x7FFFFFFF && head_dim <= 8192, SN_ERR_UNSUPPORTED,
             "the CUDA backend's rope takes at most 2^31 − 1 tokens, H·Dh < 2^31 and Dh <= 8192, got x %lld×%lld×%lld",
             static_cast<long long>(tokens), static_cast<long long>(heads), static_cast<long long>(head_dim));
    const int threads = row_block_threads(heads * head_dim / 2);
    const size_t shared_bytes = static_cast<size_t>(head_dim) * sizeof(float);
    return dispatch_float(x->dtype, [&](auto tag) {
        using T = decltype(tag);
        rope_kernel<T><<<static_cast<unsigned>(tokens), threads, shared_bytes, state.stream>>>(
            x->data_as<const T>(), positions->data_as<const int32_t>(), theta, sign, out->data_as<T>(),
            static_cast<int>(heads), static_cast<int>(head_dim));
        SN_CUDA_CHECK_LAUNCH("rope_kernel");
        return SN_OK;
    });
}

}  // namespace

sn_status rope(Context& context, const RopeArgs& args) {
    return rotate(context, args.x, args.positions, args.theta, args.out, 1.0f);
}

sn_status rope_backward(Context& context, const RopeBackwardArgs& args) {
    return rotate(context, args.dy, args.positions, args.theta, args.dx, -1.0f);
}

sn_status rope_kv_write(Context& context, const RopeKvWriteArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    context.op_releases_early = true;  // rope_kv_write_kernel releases the next before its wait
    const int64_t tokens = args.q->dims[0], q_heads = args.q->dims[1], head_dim = args.q->dims[2];
    const int64_t kv_heads = args.k->dims[1];
    const bool rotate = args.theta != 0.0f;
    const int64_t units = kv_heads + (rotate ? q_heads : 0);
    SN_CHECK(tokens <= 0x7FFFFFFF && units <= 65535 && head_dim <= 8192, SN_ERR_UNSUPPORTED,
             "the CUDA backend's rope_kv_write takes at most 2^31 − 1 tokens, Hkv + Hq <= 65535 heads and Dh <= "
             "8192, got q %lld×%lld×%lld and k with %lld heads",
             static_cast<long long>(tokens), static_cast<long long>(q_heads), static_cast<long long>(head_dim),
             static_cast<long long>(kv_heads));
    // About 4 blocks per SM over the call: decode (T = 1) gets one head per block, the widest
    // spread with one round of loads per thread; prefill gets all of a token's heads in one or a
    // few blocks, so each token's cos/sin table (double-precision pow, cos, sin) is built a few
    // times rather than once per head.
    const int64_t per_unit = (head_dim + 1) / 2;
    const int64_t target_blocks = 4 * static_cast<int64_t>(state.multiprocessors);
    const int64_t wanted = (tokens * units + target_blocks - 1) / target_blocks;
    const int64_t units_per_block = std::min(units, std::max<int64_t>(1, wanted));
    const int64_t blocks_per_token = (units + units_per_block - 1) / units_per_block;
    const int threads =
        static_cast<int>(std::min<int64_t>(256, std::max<int64_t>(32, (units_per_block * per_unit + 31) / 32 * 32)));
    const size_t shared_bytes = rotate ? static_cast<size_t>(2 * per_unit) * sizeof(float) : 0;
    const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(blocks_per_token));
    return dispatch_float(args.q->dtype, [&](auto tag) {
        using T = decltype(tag);
        return dispatch_float(args.k_cache->dtype, [&](auto cache_tag) {
            using C = decltype(cache_tag);
            SN_CUDA_CHECK(launch_chained(
                state, rope_kv_write_kernel<T, C>, grid, dim3(threads), shared_bytes, args.q->data_as<T>(),
                args.k->data_as<T>(), args.v->data_as<const T>(), args.positions->data_as<const int32_t>(), args.theta,
                args.k_cache->data_as<C>(), args.v_cache->data_as<C>(), static_cast<int>(q_heads),
                static_cast<int>(kv_heads), static_cast<int>(head_dim), static_cast<int>(units_per_block),
                args.k_cache->dims[0], state.data_error_device));
            return SN_OK;
        });
    });
}

}  // namespace sn::cuda
