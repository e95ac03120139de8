// Backward of causal attention over one whole sequence on CUDA (the Fisher pass), F32, GQA and
// sliding window, the same function as the CPU's (src/cpu/attention_backward.cpp derives it):
//
//   q, dout, dq: [T, Hq, Dh]     row t at position p = positions[t] (read on the device)
//   k, v, dk, dv: [T, Hkv, Dh]   key j at position j; query head h reads kv head h / (Hq / Hkv)
//   row p sees keys first_key(p) <= j <= p, first_key(p) = max(0, p − window + 1) if window > 0
//   s_j = scale·q·k_j,  P = softmax(s),  dP_j = dout·v_j,  D = Σ_j P_j·dP_j,  dS_j = P_j·(dP_j − D)
//   dq = scale·Σ_j dS_j·k_j     dk_j = scale·Σ_(t,h) dS_tj·q_t     dv_j = Σ_(t,h) P_tj·dout_t
//
// Two kernels, so that every output row has one writer (no atomics, deterministic):
//
// 1. query_kernel, grid (ceil(T / 8), Hq), 8 warps: warp w owns query row t = 8·blockIdx.x + w.
//    The block walks the union of its rows' key ranges in tiles of 32 keys, K and V of the tile
//    staged in shared memory as [32][Dh + 1] (the pad puts lane j's key row in its own bank);
//    lane j scores key j of the tile (q·k_j and dout·v_j, q and dout broadcast from shared).
//    Sweep one keeps the online softmax (max m, Σ e^(s − m), Σ e^(s − m)·dP) and gives the row's
//    log-sum-exp and D; sweep two recomputes each score, forms dS_j and adds dS_j·k_j into dq,
//    lane l owning dims l + 32·c. The row's log-sum-exp and D go to the context's scratch
//    [2][Hq][T] for kernel 2.
// 2. key_kernel, grid (ceil(T / 32), Hkv), 8 warps: a block owns 32 keys of one kv head (their K and
//    V rows in shared memory), warp w keys w, w + 8, w + 16, w + 24. For each query head of the
//    group it walks the query rows in tiles of 32 (q and dout staged [32][Dh + 1]; tiles that see
//    none of the block's keys are skipped), lane r scores row r against the warp's keys, recomputing
//    P_tj = e^(s_tj − lse_t) from kernel 1's log-sum-exp, and the warp adds Σ_r dS_rj·q_r and
//    Σ_r P_rj·dout_r into dk_j and dv_j with the row's values broadcast by shuffle.
// Both recompute scores instead of storing P (T² per head): about 6·Dh multiply-adds per visible
// (t, j) pair in all.
//
// A position outside [0, T) cannot fail the call: that row's dq is zero, it adds nothing to dk
// and dv, and the next synchronize or download reports it (cuda/state.h).
#include "kernels/common.cuh"

#include <climits>

namespace sn::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kTile = 32;  // keys per tile (kernel 1), query rows per tile and keys per block (kernel 2)
constexpr int kKeysPerWarp = kTile / kWarps;  // kernel 2
constexpr int kMaxHeadDim = 256;

struct Problem {
    const float* q;
    const int32_t* positions;
    const float* k;
    const float* v;
    const float* dout;
    float* dq;
    float* dk;
    float* dv;
    float* row_lse;    // [Hq][T]
    float* row_delta;  // [Hq][T]
    int tokens, q_heads, kv_heads, head_dim, window;
    float scale;
    DataError* error;
};

// Rows [first, first + count) of one head of a [T, H, Dh] tensor into shared [count][pitch] (zeros
// past T).
__device__ __forceinline__ void stage_rows(const float* source, int64_t row_stride, int first, int count, int tokens,
                                           int head_dim, int pitch, float* target) {
    for (int index = threadIdx.x; index < count * head_dim; index += blockDim.x) {
        const int r = index / head_dim, d = index % head_dim;
        const int row = first + r;
        target[r * pitch + d] = row < tokens ? source[static_cast<int64_t>(row) * row_stride + d] : 0.0f;
    }
}

template <int kChunks>
__global__ void __launch_bounds__(kThreads) attention_backward_query_kernel(Problem p) {
    extern __shared__ float shared[];
    __shared__ int range[2];  // the union [begin, end) of the block's rows' keys
    const int dh = p.head_dim, pitch = dh + 1;
    float* k_tile = shared;                  // [kTile][pitch]
    float* v_tile = k_tile + kTile * pitch;  // [kTile][pitch]
    float* q_rows = v_tile + kTile * pitch;  // [kWarps][dh]
    float* g_rows = q_rows + kWarps * dh;    // [kWarps][dh]: dout
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int h = blockIdx.y, kv_head = h / (p.q_heads / p.kv_heads);
    const int t = blockIdx.x * kWarps + warp;
    const int64_t q_stride = static_cast<int64_t>(p.q_heads) * dh, kv_stride = static_cast<int64_t>(p.kv_heads) * dh;
    const bool exists = t < p.tokens;
    const int position = exists ? p.positions[t] : 0;
    const bool valid = exists && position >= 0 && position < p.tokens;
    if (exists && !valid && lane == 0) report_bad_value(p.error, OpId::attention_backward, t, position, p.tokens);
    const int begin = valid ? attention_first_key(position, p.window) : INT_MAX;
    const int end = valid ? position + 1 : 0;

    if (threadIdx.x == 0) range[0] = INT_MAX, range[1] = 0;
    const float* q_source = p.q + static_cast<int64_t>(t) * q_stride + static_cast<int64_t>(h) * dh;
    const float* g_source = p.dout + static_cast<int64_t>(t) * q_stride + static_cast<int64_t>(h) * dh;
    for (int d = lane; d < dh; d += 32) {
        q_rows[warp * dh + d] = exists ? q_source[d] : 0.0f;
        g_rows[warp * dh + d] = exists ? g_source[d] : 0.0f;
    }
    __syncthreads();
    if (lane == 0 && valid) {
        atomicMin(&range[0], begin);
        atomicMax(&range[1], end);
    }
    __syncthreads();
    const int block_begin = range[0], block_end = range[1];  // empty when no row is valid
    const float* q_row = q_rows + warp * dh;
    const float* g_row = g_rows + warp * dh;
    const float* k_head = p.k + static_cast<int64_t>(kv_head) * dh;
    const float* v_head = p.v + static_cast<int64_t>(kv_head) * dh;

    // Stages the tile of keys j0 .. j0 + 31 (K and V), then lane's key j0 + lane: its score and dP,
    // or −inf where the row does not see it. The caller's barrier after its use frees the tile.
    const auto stage_and_score = [&](int j0, float* dprob) {
        stage_rows(k_head, kv_stride, j0, kTile, block_end, dh, pitch, k_tile);
        stage_rows(v_head, kv_stride, j0, kTile, block_end, dh, pitch, v_tile);
        __syncthreads();
        const int key = j0 + lane;
        *dprob = 0.0f;
        if (!valid || key < begin || key >= end) return -INFINITY;
        float qk = 0.0f, gv = 0.0f;
        const float* k_row = k_tile + lane * pitch;
        const float* v_row = v_tile + lane * pitch;
        for (int d = 0; d < dh; ++d) {
            qk += q_row[d] * k_row[d];
            gv += g_row[d] * v_row[d];
        }
        *dprob = gv;
        return p.scale * qk;
    };

    // Sweep one: the online softmax statistics.
    float maximum = -INFINITY, sum = 0.0f, weighted = 0.0f;
    for (int j0 = block_begin; j0 < block_end; j0 += kTile) {
        float dprob;
        const float s = stage_and_score(j0, &dprob);
        const float tile_max = warp_max(s);
        if (tile_max != -INFINITY) {  // uniform over the warp
            const float new_max = fmaxf(maximum, tile_max);
            const float correction = expf(maximum - new_max);  // 0 while maximum is −inf
            const float e = s == -INFINITY ? 0.0f : expf(s - new_max);
            sum = sum * correction + warp_sum(e);
            weighted = weighted * correction + warp_sum(e * dprob);
            maximum = new_max;
        }
        __syncthreads();
    }
    const float lse = valid ? maximum + logf(sum) : 0.0f;
    const float delta = valid ? weighted / sum : 0.0f;

    // Sweep two: dq = scale · Σ_j P_j·(dP_j − D)·k_j.
    float acc[kChunks];
#pragma unroll
    for (int c = 0; c < kChunks; ++c) acc[c] = 0.0f;
    for (int j0 = block_begin; j0 < block_end; j0 += kTile) {
        float dprob;
        const float s = stage_and_score(j0, &dprob);
        const float dscore = s == -INFINITY ? 0.0f : expf(s - lse) * (dprob - delta);
        if (__any_sync(0xffffffffu, dscore != 0.0f)) {
            for (int j = 0; j < kTile; ++j) {
                const float ds = __shfl_sync(0xffffffffu, dscore, j);
#pragma unroll
                for (int c = 0; c < kChunks; ++c) {
                    const int d = lane + 32 * c;
                    if (d < dh) acc[c] += ds * k_tile[j * pitch + d];
                }
            }
        }
        __syncthreads();
    }
    if (exists) {
        float* dq_row = p.dq + static_cast<int64_t>(t) * q_stride + static_cast<int64_t>(h) * dh;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            const int d = lane + 32 * c;
            if (d < dh) dq_row[d] = p.scale * acc[c];
        }
        if (lane == 0) {
            p.row_lse[static_cast<int64_t>(h) * p.tokens + t] = lse;
            p.row_delta[static_cast<int64_t>(h) * p.tokens + t] = delta;
        }
    }
}

template <int kChunks>
__global__ void __launch_bounds__(kThreads) attention_backward_key_kernel(Problem p) {
    extern __shared__ float shared[];
    __shared__ float lse_tile[kTile], delta_tile[kTile];
    __shared__ int position_tile[kTile];  // −1: the row sees nothing (past T, or a bad position)
    const int dh = p.head_dim, pitch = dh + 1;
    float* q_tile = shared;                   // [kTile][pitch]: query rows of the tile
    float* g_tile = q_tile + kTile * pitch;   // [kTile][pitch]: their dout rows
    float* k_block = g_tile + kTile * pitch;  // [kTile][dh]: the block's keys (read broadcast)
    float* v_block = k_block + kTile * dh;    // [kTile][dh]
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kv_head = blockIdx.y, group = p.q_heads / p.kv_heads;
    const int key0 = blockIdx.x * kTile, key_last = min(key0 + kTile, p.tokens) - 1;
    const int64_t q_stride = static_cast<int64_t>(p.q_heads) * dh, kv_stride = static_cast<int64_t>(p.kv_heads) * dh;
    stage_rows(p.k + static_cast<int64_t>(kv_head) * dh, kv_stride, key0, kTile, p.tokens, dh, dh, k_block);
    stage_rows(p.v + static_cast<int64_t>(kv_head) * dh, kv_stride, key0, kTile, p.tokens, dh, dh, v_block);

    float dk_acc[kKeysPerWarp][kChunks], dv_acc[kKeysPerWarp][kChunks];
#pragma unroll
    for (int i = 0; i < kKeysPerWarp; ++i) {
#pragma unroll
        for (int c = 0; c < kChunks; ++c) dk_acc[i][c] = dv_acc[i][c] = 0.0f;
    }
    for (int h = kv_head * group; h < (kv_head + 1) * group; ++h) {
        const float* q_head = p.q + static_cast<int64_t>(h) * dh;
        const float* g_head = p.dout + static_cast<int64_t>(h) * dh;
        for (int t0 = 0; t0 < p.tokens; t0 += kTile) {
            __syncthreads();  // the previous tile's readers are done (and the key block is staged)
            bool sees_block = false;
            if (threadIdx.x < kTile) {
                const int t = t0 + threadIdx.x;
                int position = t < p.tokens ? p.positions[t] : -1;
                if (position >= p.tokens) position = -1;  // reported by kernel 1
                sees_block = position >= key0 && attention_first_key(position, p.window) <= key_last;
                position_tile[threadIdx.x] = position;
                lse_tile[threadIdx.x] = t < p.tokens ? p.row_lse[static_cast<int64_t>(h) * p.tokens + t] : 0.0f;
                delta_tile[threadIdx.x] = t < p.tokens ? p.row_delta[static_cast<int64_t>(h) * p.tokens + t] : 0.0f;
            }
            if (!__syncthreads_or(sees_block)) continue;  // uniform: no row of the tile sees these keys
            stage_rows(q_head, q_stride, t0, kTile, p.tokens, dh, pitch, q_tile);
            stage_rows(g_head, q_stride, t0, kTile, p.tokens, dh, pitch, g_tile);
            __syncthreads();

            // Lane r: row t0 + r against the warp's keys.
            const int position = position_tile[lane];
            const int row_first = position >= 0 ? attention_first_key(position, p.window) : INT_MAX;
            float qk[kKeysPerWarp], gv[kKeysPerWarp];
#pragma unroll
            for (int i = 0; i < kKeysPerWarp; ++i) qk[i] = gv[i] = 0.0f;
            const float* q_row = q_tile + lane * pitch;
            const float* g_row = g_tile + lane * pitch;
            for (int d = 0; d < dh; ++d) {
                const float qd = q_row[d], gd = g_row[d];
#pragma unroll
                for (int i = 0; i < kKeysPerWarp; ++i) {
                    const int j = warp + kWarps * i;
                    qk[i] += qd * k_block[j * dh + d];
                    gv[i] += gd * v_block[j * dh + d];
                }
            }
            float prob[kKeysPerWarp], dscore[kKeysPerWarp];
            bool any = false;
#pragma unroll
            for (int i = 0; i < kKeysPerWarp; ++i) {
                const int key = key0 + warp + kWarps * i;
                const bool visible = key <= key_last && key <= position && key >= row_first;
                prob[i] = visible ? expf(p.scale * qk[i] - lse_tile[lane]) : 0.0f;
                dscore[i] = prob[i] * (gv[i] - delta_tile[lane]);
                any = any || visible;
            }
            if (!__any_sync(0xffffffffu, any)) continue;  // uniform over the warp; no barrier until the next tile
            for (int r = 0; r < kTile; ++r) {
                float qv[kChunks], gvalue[kChunks];
#pragma unroll
                for (int c = 0; c < kChunks; ++c) {
                    const int d = lane + 32 * c;
                    qv[c] = d < dh ? q_tile[r * pitch + d] : 0.0f;
                    gvalue[c] = d < dh ? g_tile[r * pitch + d] : 0.0f;
                }
#pragma unroll
                for (int i = 0; i < kKeysPerWarp; ++i) {
                    const float pr = __shfl_sync(0xffffffffu, prob[i], r);
                    const float ds = __shfl_sync(0xffffffffu, dscore[i], r);
#pragma unroll
                    for (int c = 0; c < kChunks; ++c) {
                        dk_acc[i][c] += ds * qv[c];
                        dv_acc[i][c] += pr * gvalue[c];
                    }
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < kKeysPerWarp; ++i) {
        const int key = key0 + warp + kWarps * i;
        if (key > key_last) continue;
        const int64_t offset = static_cast<int64_t>(key) * kv_stride + static_cast<int64_t>(kv_head) * dh;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            const int d = lane + 32 * c;
            if (d < dh) {
                p.dk[offset + d] = p.scale * dk_acc[i][c];
                p.dv[offset + d] = dv_acc[i][c];
            }
        }
    }
}

// The dynamic shared memory is raised to what this launch needs every time: the 48 KB default
// counts the kernel's static arrays too (the key kernel's 384 bytes), so a test against the dynamic
// size alone would miss head dims just under it (Dh = 95). A host setting, no stream operation.
template <class Kernel>
cudaError_t launch(Kernel kernel, dim3 grid, size_t shared_bytes, cudaStream_t stream, const Problem& problem) {
    const cudaError_t status =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes));
    if (status != cudaSuccess) return status;
    kernel<<<grid, kThreads, shared_bytes, stream>>>(problem);
    return cudaGetLastError();
}

template <int kChunks>
sn_status run(const State& state, const Problem& problem) {
    const int dh = problem.head_dim;
    const size_t query_bytes = (2 * kTile * (dh + 1) + 2 * kWarps * dh) * sizeof(float);
    const size_t key_bytes = (2 * kTile * (dh + 1) + 2 * kTile * dh) * sizeof(float);
    const dim3 query_grid((problem.tokens + kWarps - 1) / kWarps, problem.q_heads);
    const dim3 key_grid((problem.tokens + kTile - 1) / kTile, problem.kv_heads);
    SN_CUDA_CHECK(launch(attention_backward_query_kernel<kChunks>, query_grid, query_bytes, state.stream, problem));
    SN_CUDA_CHECK(launch(attention_backward_key_kernel<kChunks>, key_grid, key_bytes, state.stream, problem));
    return SN_OK;
}

}  // namespace

sn_status attention_backward(Context& context, const AttentionBackwardArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t tokens = args.q->dims[0], q_heads = args.q->dims[1], head_dim = args.q->dims[2];
    const int64_t kv_heads = args.k->dims[1];
    SN_CHECK(head_dim <= kMaxHeadDim && q_heads <= 65535 && tokens <= 0x7FFFFFFF, SN_ERR_UNSUPPORTED,
             "the CUDA backend's attention_backward takes Dh <= %d, Hq <= 65535 and T < 2^31, got q %lld×%lld×%lld",
             kMaxHeadDim, static_cast<long long>(tokens), static_cast<long long>(q_heads),
             static_cast<long long>(head_dim));
    const size_t statistics = 2 * static_cast<size_t>(q_heads) * static_cast<size_t>(tokens);
    SN_CHECK(statistics <= state.scratch_floats, SN_ERR_UNSUPPORTED,
             "the CUDA backend's attention_backward keeps 2 floats per (head, row) in a %zu-float scratch: Hq·T = "
             "%lld rows are too many",
             state.scratch_floats, static_cast<long long>(q_heads * tokens));
    const Problem problem{
        args.q->data_as<const float>(),
        args.positions->data_as<const int32_t>(),
        args.k->data_as<const float>(),
        args.v->data_as<const float>(),
        args.dout->data_as<const float>(),
        args.dq->data_as<float>(),
        args.dk->data_as<float>(),
        args.dv->data_as<float>(),
        state.scratch,
        state.scratch + static_cast<size_t>(q_heads) * static_cast<size_t>(tokens),
        static_cast<int>(tokens),
        static_cast<int>(q_heads),
        static_cast<int>(kv_heads),
        static_cast<int>(head_dim),
        args.window,
        args.scale,
        state.data_error_device,
    };
    if (head_dim <= 32) return run<1>(state, problem);
    if (head_dim <= 64) return run<2>(state, problem);
    if (head_dim <= 128) return run<4>(state, problem);
    return run<8>(state, problem);
}

}  // namespace sn::cuda
