// Causal multi-head attention over a KV cache on CUDA (GQA, sliding window), scores and softmax
// in F32 whatever the storage type (OPT's attention logits reach ~4,000: F16 scores would not do).
//
//   q, out: [T, Hq, Dh]    query row t sits at position p = positions[t] (read on the device)
//   k, v:   [S, Hkv, Dh]   query head h reads kv head h / (Hq / Hkv)
//   row p sees keys j with first_key(p) <= j <= p, first_key(p) = max(0, p − window + 1) when
//   window > 0, else 0.
// A position outside [0, S) cannot fail the call (it lives on the device): that row's output is
// zero and the position is reported through the context's data-error record (cuda/state.h).
//
// Both kernels keep, per query row, the online-softmax state (running max m, sum l, accumulator
// acc[Dh]) and update it key by key or tile by tile:
//   m' = max(m, s);  c = e^(m − m');  l = l·c + Σ e^(s − m');  acc = acc·c + Σ e^(s − m')·v
// and finish with out = acc / l. Lane `lane` of a warp owns output dims lane + 32·c, c < kChunks
// (kChunks = ceil(Dh / 32) rounded up to 1, 2, 4 or 8: Dh <= 256).
//
// Decode (T <= kDecodeMaxTokens): one launch, grid (splits, Hq, T), kDecodeWarps warps per block.
//   A row's keys are cut into up to `splits` equal parts so that long contexts spread over the
//   SMs (flash-decoding); inside a block, warp w takes keys w, w + 4, ... of
//   its part: the 32 lanes each multiply Dh/32 elements and a warp reduction gives the score. The
//   block merges its warps' states.
//   The grid is sized for the cache's capacity S, not for the current length: the decode step is
//   captured once into a CUDA graph and replayed while the context grows, so the launch cannot
//   depend on the position (it lives on the device). Each row instead reads its position and
//   shares its keys equally among the first `parts` splits (at least kMinKeysPerSplit keys each);
//   the other blocks return at once. (Fixed key ranges per split, sized for the capacity, left a
//   128-token context in a 2048-token cache to 2 splits of 121 keys each: the LLaMA-7B decode
//   step took 6.58 ms instead of 6.16 with a 256-token cache.) Then, per (row, head):
//     - one split (a short context, or a short window): that block writes out directly;
//     - several: each writes (m, l, acc) to the context's scratch [T][Hq][splits][2 + Dh], makes
//       it visible (__threadfence) and counts itself on the row's arrival counter (atomicAdd);
//       the block that arrives last merges the row's splits (combine_splits) and resets the
//       counter to 0 for the next launch ("last block reduces": no second kernel, no host
//       decision). The merge runs over the splits in index order whichever block is last, so
//       the result is deterministic and the same as a separate combine kernel's.
//   The counters (cuda/state.h: attention_counters, zeroed when the context is created) are
//   always back at 0 when a launch ends, since every participating block of every row arrives.
// Prefill (T > kDecodeMaxTokens): grid (ceil(T / kPrefillRows), Hq), one warp per query row.
//   The block walks the union of its rows' key ranges in tiles of kKeys keys, staged in shared
//   memory as float (K rows padded to Dh + 1 floats so that lanes reading different keys hit
//   different banks); lane j scores key j of the tile for its warp's row, the warp updates its
//   state with one max/sum reduction per tile, then adds Σ_j p_j·v_j with p_j broadcast by shuffle.
#include "kernels/common.cuh"
#include "validate.h"

#include <algorithm>
#include <climits>
#include <type_traits>

namespace sn::cuda {
namespace {

constexpr int kDecodeWarps = 4;
constexpr int64_t kDecodeMaxTokens = 4;
constexpr int kPrefillRows = 8;
constexpr int kMaxHeadDim = 256;
// Keys per decode split at least when the grid is sized (host) and when a row's keys are shared
// among the splits (device): fewer would spend more on merging than on the keys.
constexpr int kMinKeysPerSplit = 32;

// Merges the splits first .. last of one (row, head) from their partial results (m, l, acc[Dh])
// into out_row, in split order: weight_s = e^(m_s − M) with M the largest m_s; out = Σ weight_s·acc_s
// / Σ weight_s·l_s. A split whose m is −inf saw no finite score and adds nothing. The partials
// were written by other blocks of this launch: read through L2 (__ldcg), never a stale L1 line.
template <class T>
__device__ void combine_splits(const float* partials, int first, int last, int head_dim, T* out_row) {
    const int64_t stride = head_dim + 2;
    float maximum = -INFINITY;
    for (int s = first; s <= last; ++s) maximum = fmaxf(maximum, __ldcg(partials + s * stride));
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float total = 0.0f, value = 0.0f;
        for (int s = first; s <= last; ++s) {
            const float split_max = __ldcg(partials + s * stride);
            if (split_max == -INFINITY) continue;
            const float weight = expf(split_max - maximum);
            total += __ldcg(partials + s * stride + 1) * weight;
            value += __ldcg(partials + s * stride + 2 + d) * weight;
        }
        out_row[d] = from_float<T>(total > 0.0f ? value / total : 0.0f);
    }
}

template <class T, int kChunks>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    attention_decode_kernel(const T* q, const int32_t* positions, const T* k, const T* v, T* out, float* partials,
                            unsigned* counters, int q_heads, int kv_heads, int head_dim, int cache_len, int window,
                            float scale, int splits, DataError* error) {
    __shared__ float warp_max_s[kDecodeWarps];
    __shared__ float warp_sum_s[kDecodeWarps];
    __shared__ float warp_acc_s[kDecodeWarps][kChunks * 32];
    __shared__ bool last_s;
    allow_next_grid();  // before the wait: the next op's kernel may start streaming its weights (chained_launch.h)
    wait_for_previous_grid();  // a chained launch (common.cuh): q and the caches come from the kernel before
    const int split = blockIdx.x, head = blockIdx.y, t = blockIdx.z;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int kv_head = head / (q_heads / kv_heads);
    const int position = positions[t];
    const bool valid = position >= 0 && position < cache_len;
    if (!valid && split == 0 && head == 0 && threadIdx.x == 0) {
        report_bad_value(error, OpId::attention, t, position, cache_len);
    }
    // The row's keys [first_key, position] are shared by the first `parts` splits, as many as keep
    // at least kMinKeysPerSplit keys each (at most `splits`): a short context takes a few blocks, a
    // long one all of them, each with an equal share, whatever the cache's capacity. An invalid row
    // is one part with no keys, which writes zeros. Uniform over the block, so returning is safe.
    int parts = 1, first = 0, per = 0;
    if (valid) {
        first = attention_first_key(position, window);
        const int length = position + 1 - first;
        parts = min(splits, (length + kMinKeysPerSplit - 1) / kMinKeysPerSplit);
        per = (length + parts - 1) / parts;
    }
    if (split >= parts) return;
    const int first_split = 0, last_split = parts - 1;
    int begin = 0, end = 0;
    if (valid) {
        begin = first + split * per;
        end = min(position + 1, first + (split + 1) * per);  // may be empty (begin >= end): adds nothing
    }

    const int64_t row = static_cast<int64_t>(t) * q_heads + head;
    const int64_t row_offset = row * head_dim;
    float query[kChunks];
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const int d = lane + 32 * c;
        query[c] = d < head_dim ? to_float(q[row_offset + d]) * scale : 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    float acc[kChunks];
#pragma unroll
    for (int c = 0; c < kChunks; ++c) acc[c] = 0.0f;

    const int64_t kv_stride = static_cast<int64_t>(kv_heads) * head_dim;
    for (int key = begin + warp; key < end; key += kDecodeWarps) {
        const int64_t offset = key * kv_stride + static_cast<int64_t>(kv_head) * head_dim;
        float dot = 0.0f;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            const int d = lane + 32 * c;
            if (d < head_dim) dot += query[c] * to_float(k[offset + d]);
        }
        const float score = warp_sum(dot);
        const float m_new = fmaxf(m, score);
        const float correction = expf(m - m_new);  // 0 for the first key (m = −inf)
        const float weight = expf(score - m_new);
        l = l * correction + weight;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            const int d = lane + 32 * c;
            acc[c] = acc[c] * correction + (d < head_dim ? weight * to_float(v[offset + d]) : 0.0f);
        }
        m = m_new;
    }

    // Merge the block's warps: weight_w = e^(m_w − M), M the block's max (0 for empty warps).
    if (lane == 0) {
        warp_max_s[warp] = m;
        warp_sum_s[warp] = l;
    }
#pragma unroll
    for (int c = 0; c < kChunks; ++c) warp_acc_s[warp][lane + 32 * c] = acc[c];
    __syncthreads();
    float block_max = -INFINITY;
    for (int w = 0; w < kDecodeWarps; ++w) block_max = fmaxf(block_max, warp_max_s[w]);
    float warp_weight[kDecodeWarps];
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) {
        warp_weight[w] = warp_max_s[w] == -INFINITY ? 0.0f : expf(warp_max_s[w] - block_max);
        total += warp_sum_s[w] * warp_weight[w];
    }
    const bool alone = first_split == last_split;
    float* row_partials = partials + row * splits * (head_dim + 2);
    float* partial = row_partials + static_cast<int64_t>(split) * (head_dim + 2);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float value = 0.0f;
#pragma unroll
        for (int w = 0; w < kDecodeWarps; ++w) value += warp_acc_s[w][d] * warp_weight[w];
        if (alone) {
            out[row_offset + d] = from_float<T>(total > 0.0f ? value / total : 0.0f);
        } else {
            partial[2 + d] = value;
        }
    }
    if (alone) return;
    if (threadIdx.x == 0) {
        partial[0] = block_max;
        partial[1] = total;
    }

    // Last block reduces. Each thread fences its own partial writes before thread 0 counts the
    // block (release); the block that sees every other split already counted fences again
    // (acquire) before any of its threads reads their partials.
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        const unsigned parts = static_cast<unsigned>(last_split - first_split + 1);
        const bool last = atomicAdd(&counters[row], 1u) == parts - 1;
        if (last) {
            counters[row] = 0;  // every part has arrived: ready for the next launch
            __threadfence();
        }
        last_s = last;
    }
    __syncthreads();
    if (!last_s) return;
    __threadfence();
    combine_splits<T>(row_partials, first_split, last_split, head_dim, out + row_offset);
}

template <class T, int kChunks, int kKeys>
__global__ void __launch_bounds__(kPrefillRows * 32)
    attention_prefill_kernel(const T* q, const int32_t* positions, const T* k, const T* v, T* out, int tokens,
                             int q_heads, int kv_heads, int head_dim, int cache_len, int window, float scale,
                             DataError* error) {
    extern __shared__ float shared[];
    float* q_s = shared;                          // [kPrefillRows][head_dim], scaled
    float* k_s = q_s + kPrefillRows * head_dim;   // [kKeys][head_dim + 1]
    float* v_s = k_s + kKeys * (head_dim + 1);    // [kKeys][head_dim]
    __shared__ int range_s[2];                    // the union of the block's rows' key ranges
    const int head = blockIdx.y;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int first_row = blockIdx.x * kPrefillRows;
    const int t = first_row + warp;
    const int kv_head = head / (q_heads / kv_heads);

    int lo = INT_MAX, hi = 0;
    bool active = false;
    if (t < tokens) {
        const int position = positions[t];
        if (position >= 0 && position < cache_len) {
            lo = attention_first_key(position, window);
            hi = position + 1;
            active = true;
        } else if (head == 0 && lane == 0) {
            report_bad_value(error, OpId::attention, t, position, cache_len);
        }
    }
    for (int i = threadIdx.x; i < kPrefillRows * head_dim; i += blockDim.x) {
        const int row = first_row + i / head_dim, d = i % head_dim;
        q_s[i] = row < tokens ? to_float(q[(static_cast<int64_t>(row) * q_heads + head) * head_dim + d]) * scale : 0.0f;
    }
    if (threadIdx.x == 0) {
        range_s[0] = INT_MAX;
        range_s[1] = 0;
    }
    __syncthreads();
    if (lane == 0 && active) {
        atomicMin(&range_s[0], lo);
        atomicMax(&range_s[1], hi);
    }
    __syncthreads();
    const int block_lo = range_s[0], block_hi = range_s[1];  // lo > hi when no row is active

    float m = -INFINITY, l = 0.0f;
    float acc[kChunks];
#pragma unroll
    for (int c = 0; c < kChunks; ++c) acc[c] = 0.0f;
    const float* q_row = q_s + warp * head_dim;
    for (int tile = block_lo; tile < block_hi; tile += kKeys) {
        for (int i = threadIdx.x; i < kKeys * head_dim; i += blockDim.x) {
            const int j = i / head_dim, d = i % head_dim, key = tile + j;
            float key_value = 0.0f, value_value = 0.0f;
            if (key < block_hi) {
                const int64_t offset = (static_cast<int64_t>(key) * kv_heads + kv_head) * head_dim + d;
                key_value = to_float(k[offset]);
                value_value = to_float(v[offset]);
            }
            k_s[j * (head_dim + 1) + d] = key_value;
            v_s[j * head_dim + d] = value_value;
        }
        __syncthreads();
        if (active) {  // uniform per warp: one warp, one row
            const int key = tile + lane;
            float score = -INFINITY;
            if (lane < kKeys && key >= lo && key < hi) {
                const float* k_row = k_s + lane * (head_dim + 1);
                float dot = 0.0f;
                for (int d = 0; d < head_dim; ++d) dot += q_row[d] * k_row[d];
                score = dot;
            }
            const float tile_max = warp_max(score);
            if (tile_max != -INFINITY) {  // the row sees at least one key of the tile
                const float m_new = fmaxf(m, tile_max);
                const float correction = expf(m - m_new);
                const float weight = score == -INFINITY ? 0.0f : expf(score - m_new);
                l = l * correction + warp_sum(weight);
#pragma unroll
                for (int c = 0; c < kChunks; ++c) acc[c] *= correction;
                for (int j = 0; j < kKeys; ++j) {
                    const float weight_j = __shfl_sync(0xffffffffu, weight, j);
#pragma unroll
                    for (int c = 0; c < kChunks; ++c) {
                        const int d = lane + 32 * c;
                        if (d < head_dim) acc[c] += weight_j * v_s[j * head_dim + d];
                    }
                }
                m = m_new;
            }
        }
        __syncthreads();
    }
    if (t < tokens) {
        T* out_row = out + (static_cast<int64_t>(t) * q_heads + head) * head_dim;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            const int d = lane + 32 * c;
            if (d < head_dim) out_row[d] = from_float<T>(active && l > 0.0f ? acc[c] / l : 0.0f);
        }
    }
}

// Calls body(std::integral_constant<int, kChunks>) with kChunks = 1, 2, 4 or 8 covering head_dim.
template <class Body>
sn_status dispatch_chunks(int64_t head_dim, Body&& body) {
    if (head_dim <= 32) return body(std::integral_constant<int, 1>{});
    if (head_dim <= 64) return body(std::integral_constant<int, 2>{});
    if (head_dim <= 128) return body(std::integral_constant<int, 4>{});
    return body(std::integral_constant<int, 8>{});
}

}  // namespace

sn_status attention(Context& context, const AttentionArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const sn_dtype dtype = args.q->dtype;
    SN_CHECK(args.k_cache->dtype == dtype, SN_ERR_UNSUPPORTED,
             "the CUDA backend's attention takes q, caches and out of one dtype, got q %s and caches %s",
             dtype_name(dtype), dtype_name(args.k_cache->dtype));
    const int64_t tokens = args.q->dims[0], q_heads = args.q->dims[1], head_dim = args.q->dims[2];
    const int64_t cache_len = args.k_cache->dims[0], kv_heads = args.k_cache->dims[1];
    SN_CHECK(head_dim <= kMaxHeadDim, SN_ERR_UNSUPPORTED,
             "the CUDA backend's attention takes head dimensions up to %d, got Dh = %lld", kMaxHeadDim,
             static_cast<long long>(head_dim));
    SN_CHECK(q_heads <= 65535 && cache_len * kv_heads * head_dim < (int64_t{1} << 40) && cache_len < INT_MAX &&
                 tokens < INT_MAX / kPrefillRows,
             SN_ERR_UNSUPPORTED,
             "the CUDA backend's attention takes Hq <= 65535 and S, T below 2^31, got q %lld×%lld×%lld, caches %lld×%lld",
             static_cast<long long>(tokens), static_cast<long long>(q_heads), static_cast<long long>(head_dim),
             static_cast<long long>(cache_len), static_cast<long long>(kv_heads));
    const int window = args.window;

    return dispatch_float(dtype, [&](auto type_tag) {
        using T = decltype(type_tag);
        const T* q = args.q->data_as<const T>();
        const T* k = args.k_cache->data_as<const T>();
        const T* v = args.v_cache->data_as<const T>();
        T* out = args.out->data_as<T>();
        const int32_t* positions = args.positions->data_as<const int32_t>();
        return dispatch_chunks(head_dim, [&](auto chunks_tag) {
            constexpr int kChunks = decltype(chunks_tag)::value;
            if (tokens <= kDecodeMaxTokens) {
                // Enough blocks to fill the SMs a few times over, each split worth merging, and
                // the partial results within the scratch.
                const int64_t rows = tokens * q_heads;
                const int64_t sms = state.multiprocessors;
                int64_t splits = (4 * sms + rows - 1) / rows;
                splits = std::min<int64_t>(splits, (cache_len + kMinKeysPerSplit - 1) / kMinKeysPerSplit);
                splits = std::min(splits, static_cast<int64_t>(state.scratch_floats) / (rows * (head_dim + 2)));
                splits = std::max<int64_t>(splits, 1);
                // One arrival counter per (row, head): T·Hq <= kDecodeMaxTokens · 65535 fits the
                // context's counters (cuda/state.h); checked all the same.
                SN_CHECK(rows <= static_cast<int64_t>(state.attention_counter_count), SN_ERR_INTERNAL,
                         "decode attention needs %lld split counters, the context has %zu",
                         static_cast<long long>(rows), state.attention_counter_count);
                const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(q_heads),
                                static_cast<unsigned>(tokens));
                SN_CUDA_CHECK(launch_chained(
                    state, attention_decode_kernel<T, kChunks>, grid, dim3(kDecodeWarps * 32), 0, q, positions, k, v,
                    out, state.scratch, state.attention_counters, static_cast<int>(q_heads),
                    static_cast<int>(kv_heads), static_cast<int>(head_dim), static_cast<int>(cache_len), window,
                    args.scale, static_cast<int>(splits), state.data_error_device));
                context.op_releases_early = true;  // attention_decode_kernel releases the next before its wait
                return SN_OK;
            }
            // 16 keys per tile for Dh > 128 keeps the tiles within the default 48 KB of shared memory.
            constexpr int kKeys = kChunks == 8 ? 16 : 32;
            const size_t shared_bytes =
                static_cast<size_t>(kPrefillRows * head_dim + kKeys * (head_dim + 1) + kKeys * head_dim) *
                sizeof(float);
            const dim3 grid(static_cast<unsigned>((tokens + kPrefillRows - 1) / kPrefillRows),
                            static_cast<unsigned>(q_heads));
            attention_prefill_kernel<T, kChunks, kKeys><<<grid, kPrefillRows * 32, shared_bytes, state.stream>>>(
                q, positions, k, v, out, static_cast<int>(tokens), static_cast<int>(q_heads),
                static_cast<int>(kv_heads), static_cast<int>(head_dim), static_cast<int>(cache_len), window,
                args.scale, state.data_error_device);
            SN_CUDA_CHECK_LAUNCH("attention_prefill_kernel");
            return SN_OK;
        });
    });
}

}  // namespace sn::cuda
