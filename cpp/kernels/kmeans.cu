// sn_kmeans_rows on CUDA: the exact weighted 1-D k-means of many rows per launch, one thread block
// per row. Same algorithm, rules and double arithmetic as the CPU op (src/cpu/kmeans.cpp, a port of
// the C# solver); kmeans_rules.h holds what both must do identically (sort key, group cost, codes).
//
// ---- One block, one row (kThreads = 512 threads) -------------------------------------------------
//
//   1. keys     one u64 per position (kmeans_rules.h: ordered value | weight bits; kNoPoint for an
//               excluded or zero-weight position and for the padding up to P = 2^⌈log2 C⌉); a
//               count of the points first decides the all-zero-weights fallback (uniform weights).
//   2. sort     bitonic sort of the P keys by the whole block: log2(P)·(log2(P)+1)/2 passes of P/2
//               compare-exchanges, one barrier per pass. Points come first, in (value, weight) order.
//   3. merge    each thread takes a contiguous chunk of the n sorted points and finds the run heads
//               (value differs from the one before); an exclusive scan of the per-thread head counts
//               gives each head its index; the head's thread sums the run's weights in double in
//               sorted order (as the CPU): m points x (double), a (double) in global scratch.
//   4. m <= k   every point is a centroid, padded with the largest (0s when m = 0); else:
//   5. prefix   total and moment by block reductions → mean; per point w = a/total, w·d, w·d·d
//               (d = x − mean); prefix sums by chunks: each thread scans its contiguous chunk, an
//               exclusive scan of the chunk sums (fixed order) gives the offsets. The CPU sums in
//               one sequential pass, so prefix sums differ from it in the last bits (see below).
//   6. DP       layer 1 in parallel over j; layer c = 2 .. k−1 by the CPU's divide and conquer, but
//               evaluated level by level: the subproblems of one recursion level are independent
//               (each needs only the splits of the ends just outside its interval of j, computed at
//               earlier levels), so all of a level run in parallel, then one barrier:
//
//                 level 0:  [j0 ............................. j1]   mid j, splits i in [c−1, j1−1]
//                 level 1:  [j0 ..... mid−1]   [mid+1 ....... j1]   i in [c−1, opt(mid)], [opt(mid), j1−1]
//                 level 2:  [..] [..]  [..] [..]                    interval t found by descending the
//                                                                   bits of t from the root (O(level))
//
//               A subproblem (end j, candidates i in [first, last]) is an argmin of
//               D_{c−1}(i) + cost(i, j), ties to the lowest i. Who evaluates it depends on the level:
//                 nodes < warps              the whole block, node after node (block argmin);
//                 ≥ 32 candidates per node   a warp per node (warp argmin);
//                 otherwise                  a thread per node (a sequential loop, as the CPU).
//               The argmin (value, then index) is exact, so the mapping never changes the result.
//               The last layer needs only the end m: one block argmin.
//   7. backtrack thread 0 follows the splits; one warp per cluster sums its weighted mean.
//   8. LUT + codes: centroids (optionally rounded to F16), midpoints in double, each value's code
//               by binary search over the midpoints (kmeans_rules.h), excluded positions that of 0.
//
// ---- Memory per row ------------------------------------------------------------------------------
//
// Dynamic shared memory holds, one after the other (the phases never overlap, a barrier between):
//   phase 1-3  keys   u64 [P]                                     when 8·P fits, else global
//   phase 5-6  prefix f64 [3·(C+1)] (index i at 3i..3i+2: weight, moment, squares, so one cost
//              reads adjacent words), D0 f64 [C+1], D1 f64 [C+1] when 40·(C+1) fits, else global
// On an H100 (227 KiB opt-in) the keys fit up to C = 16384 (P·8 = 128 KiB) and the DP up to C ≈ 5800:
// LLaMA-7B's 4096-wide rows run the DP in shared memory, its 11008-wide down_proj rows in global
// memory (L1/L2-cached). Global scratch per row, carved from one stream-ordered allocation:
//   [keys u64 P, if not shared][x f64 C][a f64 C][DP f64 5·(C+1), if not shared][split i32 k·(C+1)]
// split[c·(C+1) + j] = opt_c(j), written once per (layer, end) and read by the next levels and the
// backtrack. Rows run in batches of as many rows as kScratchCapBytes holds (at least one).
//
// ---- Agreement with the CPU ----------------------------------------------------------------------
//
// Every cost and comparison is the CPU's double arithmetic on the same operands, but the prefix
// sums, the mean and the centroids' sums are parallel sums (another order of additions): they
// differ from the CPU's in the last bits, so a near-tie between two partitions may fall the other
// way. The test (tests/test_cuda_kmeans.cpp) holds the LUT to 1e-6 relative of the CPU's and the
// codes equal except for values within 1e-6 of a midpoint.
#include "kernels/common.cuh"
#include "kmeans_rules.h"

#include <math_constants.h>

#include <climits>
#include <cstddef>
#include <cstdint>

namespace sn::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxClusters = 256;  // bits <= 8
// Upper bound of one call's scratch (rows are processed in batches that fit; empirical: 512 MiB
// is ~500 LLaMA-7B rows of 4096 at 4 bits, more than the rows an H100 runs at once).
constexpr size_t kScratchCapBytes = size_t{512} << 20;
constexpr size_t kAlign = 256;

constexpr size_t align_up(size_t bytes) {
    return (bytes + kAlign - 1) / kAlign * kAlign;
}

// Where a row's pieces live (computed once per call on the host; the same for every row).
struct KmeansLayout {
    int cols;          // C
    int pow2;          // P = 2^⌈log2 C⌉ (sorted keys, padding = kNoPoint)
    int k;             // 2^bits
    bool keys_shared;  // keys in dynamic shared memory, else at keys_offset
    bool dp_shared;    // prefix + D0 + D1 in dynamic shared memory, else at dp_offset
    size_t keys_offset, x_offset, a_offset, dp_offset, split_offset;
    size_t row_bytes;  // global scratch per row
};

struct KmeansProblem {
    const float* values;   // [rows, C]
    const float* weights;  // [rows, C] or null
    const void* excluded;  // [rows, C] of excluded_size bytes each, or null
    int excluded_size;     // 1 (U8) or 4 (I32); 0 with no exclusions
    float* lut;            // [rows, k]
    uint8_t* codes;        // [rows, C]
    int64_t first_row;     // this launch's block b runs row first_row + b
    bool half_precision;
    char* scratch;  // row_bytes per block
    KmeansLayout layout;
};

// Reduction and scan buffers of one block, in static shared memory.
struct BlockShared {
    double values[kWarps][3];
    int indices[kWarps];
    int counts[kWarps];
};

__device__ __forceinline__ bool is_excluded(const KmeansProblem& p, int64_t index) {
    if (p.excluded_size == 0) return false;
    return p.excluded_size == 1 ? static_cast<const uint8_t*>(p.excluded)[index] != 0
                                : static_cast<const int32_t*>(p.excluded)[index] != 0;
}

// ---- block-wide integer sums and scans (exact) ----------------------------------------------------

__device__ int block_sum_int(int value, BlockShared& shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    value = __reduce_add_sync(0xffffffffu, value);
    if (lane == 0) shared.counts[warp] = value;
    __syncthreads();
    int total = 0;
    for (int w = 0; w < kWarps; ++w) total += shared.counts[w];
    __syncthreads();
    return total;
}

// Exclusive prefix of `value` over the threads in index order; *total = the sum of all.
__device__ int block_exclusive_scan_int(int value, BlockShared& shared, int* total) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int inclusive = value;
    for (int offset = 1; offset < 32; offset <<= 1) {
        const int other = __shfl_up_sync(0xffffffffu, inclusive, offset);
        if (lane >= offset) inclusive += other;
    }
    if (lane == 31) shared.counts[warp] = inclusive;
    __syncthreads();
    int before = 0, sum = 0;
    for (int w = 0; w < kWarps; ++w) {
        if (w < warp) before += shared.counts[w];
        sum += shared.counts[w];
    }
    __syncthreads();
    *total = sum;
    return before + inclusive - value;
}

// ---- block-wide double sums and scans (deterministic order) ---------------------------------------

// Exclusive prefix over the threads of three doubles at once. No subtraction (inclusive − value
// would round): the warp's exclusive prefix is the inclusive prefix of the lane before.
__device__ void block_exclusive_scan3(const double (&value)[3], double (&exclusive)[3], BlockShared& shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    double inclusive[3] = {value[0], value[1], value[2]};
    for (int offset = 1; offset < 32; offset <<= 1) {
#pragma unroll
        for (int r = 0; r < 3; ++r) {
            const double other = __shfl_up_sync(0xffffffffu, inclusive[r], offset);
            if (lane >= offset) inclusive[r] = other + inclusive[r];
        }
    }
    double in_warp[3];
#pragma unroll
    for (int r = 0; r < 3; ++r) {
        const double previous = __shfl_up_sync(0xffffffffu, inclusive[r], 1);
        in_warp[r] = lane == 0 ? 0.0 : previous;
    }
    if (lane == 31) {
#pragma unroll
        for (int r = 0; r < 3; ++r) shared.values[warp][r] = inclusive[r];
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < 3; ++r) {
        double before = 0.0;
        for (int w = 0; w < warp; ++w) before += shared.values[w][r];
        exclusive[r] = before + in_warp[r];
    }
    __syncthreads();
}

// ---- argmin (value, then index: exact, so any reduction order gives the sequential answer) -------

__device__ __forceinline__ bool better(double v, int i, double best_v, int best_i) {
    return v < best_v || (v == best_v && i < best_i);
}

__device__ __forceinline__ void warp_argmin(double& v, int& i) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        const double other_v = __shfl_xor_sync(0xffffffffu, v, offset);
        const int other_i = __shfl_xor_sync(0xffffffffu, i, offset);
        if (better(other_v, other_i, v, i)) {
            v = other_v;
            i = other_i;
        }
    }
}

// The block's argmin, in every thread; ends with a barrier (the buffers may be reused at once).
__device__ void block_argmin(double& v, int& i, BlockShared& shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    warp_argmin(v, i);
    if (lane == 0) {
        shared.values[warp][0] = v;
        shared.indices[warp] = i;
    }
    __syncthreads();
    v = shared.values[0][0];
    i = shared.indices[0];
    for (int w = 1; w < kWarps; ++w) {
        if (better(shared.values[w][0], shared.indices[w], v, i)) {
            v = shared.values[w][0];
            i = shared.indices[w];
        }
    }
    __syncthreads();
}

// ---- the DP ---------------------------------------------------------------------------------------

// Cost of points [i, j) from the interleaved prefix sums (the CPU's RowSolver::cost).
__device__ __forceinline__ double group_cost(const double* prefix, int i, int j) {
    return kmeans::segment_cost(prefix[3 * j] - prefix[3 * i], prefix[3 * j + 1] - prefix[3 * i + 1],
                                prefix[3 * j + 2] - prefix[3 * i + 2]);
}

// D_{c−1}(i) + cost(i, j), with the end's prefix sums loaded once per subproblem.
struct EndSums {
    double weight, moment, squares;
};
__device__ __forceinline__ EndSums end_sums(const double* prefix, int j) {
    return {prefix[3 * j], prefix[3 * j + 1], prefix[3 * j + 2]};
}
__device__ __forceinline__ double candidate(const double* prefix, const double* previous, const EndSums& end, int i) {
    return previous[i] + kmeans::segment_cost(end.weight - prefix[3 * i], end.moment - prefix[3 * i + 1],
                                              end.squares - prefix[3 * i + 2]);
}

// Interval of ends [lo, hi] of node t at `level` of the divide and conquer over [j0, j1]: descend
// from the root, left (mid − 1) on a 0 bit of t, right (mid + 1) on a 1 bit, most significant first.
__device__ __forceinline__ void node_interval(int j0, int j1, int level, int t, int& lo, int& hi) {
    lo = j0;
    hi = j1;
    for (int b = level - 1; b >= 0 && lo <= hi; --b) {
        const int mid = (lo + hi) >> 1;
        if ((t >> b) & 1) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
}

// The subproblem of the node with ends [lo, hi] (non-empty): its end j and candidate splits. The
// bounds on opt_c(j) are the splits of the ends just outside [lo, hi], found at earlier levels
// (the CPU's recursion passes exactly these down), or the layer's limits at its edges.
struct Node {
    int j, first, last;
};
__device__ __forceinline__ Node node_at(int c, int j0, int j1, int lo, int hi, const int* split_c) {
    const int j = (lo + hi) >> 1;
    const int i_lo = lo > j0 ? split_c[lo - 1] : c - 1;
    const int i_hi = hi < j1 ? split_c[hi + 1] : j1 - 1;
    return {j, max(i_lo, c - 1), min(i_hi, j - 1)};
}

// This thread's best split of `node` among candidates node.first + offset, + stride, ... (`better`
// order; INT_MAX when it has none), to be reduced over the threads that share the node.
__device__ __forceinline__ void scan_splits(const double* prefix, const double* previous, const Node& node, int offset,
                                            int stride, double& best, int& best_split) {
    const EndSums end = end_sums(prefix, node.j);
    best = CUDART_INF;
    best_split = INT_MAX;
    for (int i = node.first + offset; i <= node.last; i += stride) {
        const double v = candidate(prefix, previous, end, i);
        if (better(v, i, best, best_split)) {
            best = v;
            best_split = i;
        }
    }
}

// A node's reduced result. No candidate (an empty range): the CPU keeps +inf and the first index.
__device__ __forceinline__ void store_node(const Node& node, double best, int best_split, double* current,
                                           int* split_c) {
    current[node.j] = best;
    split_c[node.j] = best_split == INT_MAX ? node.first : best_split;
}

// Layer c (2 <= c < k): D_c(j) for j in [c, m − (k − c)] into `current`, opt_c(j) into split_c.
__device__ void fill_layer(int c, int m, int k, const double* prefix, const double* previous, double* current,
                           int* split_c, BlockShared& shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int j0 = c, j1 = m - (k - c);
    const int count = j1 - j0 + 1;
    const int levels = 32 - __clz(count);  // ⌊log2 count⌋ + 1: the depth of the recursion
    for (int level = 0; level < levels; ++level) {
        const int nodes = 1 << level;
        if (nodes < kWarps) {
            // Few, long subproblems: the whole block on each (the branch is uniform).
            for (int t = 0; t < nodes; ++t) {
                int lo, hi;
                node_interval(j0, j1, level, t, lo, hi);
                if (lo > hi) continue;
                const Node node = node_at(c, j0, j1, lo, hi, split_c);
                double best;
                int best_split;
                scan_splits(prefix, previous, node, static_cast<int>(threadIdx.x), kThreads, best, best_split);
                block_argmin(best, best_split, shared);
                if (threadIdx.x == 0) store_node(node, best, best_split, current, split_c);
            }
        } else if (count / nodes >= 32) {
            // A warp per subproblem.
            for (int t = warp; t < nodes; t += kWarps) {
                int lo, hi;
                node_interval(j0, j1, level, t, lo, hi);
                if (lo > hi) continue;
                const Node node = node_at(c, j0, j1, lo, hi, split_c);
                double best;
                int best_split;
                scan_splits(prefix, previous, node, lane, 32, best, best_split);
                warp_argmin(best, best_split);
                if (lane == 0) store_node(node, best, best_split, current, split_c);
            }
        } else {
            // Many short subproblems: a thread each, the CPU's loop.
            for (int t = static_cast<int>(threadIdx.x); t < nodes; t += kThreads) {
                int lo, hi;
                node_interval(j0, j1, level, t, lo, hi);
                if (lo > hi) continue;
                const Node node = node_at(c, j0, j1, lo, hi, split_c);
                const EndSums end = end_sums(prefix, node.j);
                double best = CUDART_INF;
                int best_split = node.first;
                for (int i = node.first; i <= node.last; ++i) {
                    const double v = candidate(prefix, previous, end, i);
                    if (v < best) {
                        best = v;
                        best_split = i;
                    }
                }
                current[node.j] = best;
                split_c[node.j] = best_split;
            }
        }
        // The next level reads this level's splits (global memory: the barrier makes the block's
        // writes visible to the block).
        __syncthreads();
    }
}

__global__ void __launch_bounds__(kThreads, 1) kmeans_rows_kernel(KmeansProblem p) {
    extern __shared__ __align__(16) unsigned char dynamic_shared[];
    __shared__ BlockShared shared;
    __shared__ double centers[kMaxClusters];
    __shared__ double midpoints[kMaxClusters];
    __shared__ float entries[kMaxClusters];
    __shared__ int bounds[kMaxClusters + 1];
    __shared__ int last_split;

    const KmeansLayout& layout = p.layout;
    const int cols = layout.cols, k = layout.k, pow2 = layout.pow2;
    const int64_t row = p.first_row + blockIdx.x;
    const int64_t base = row * cols;
    const float* values = p.values + base;
    const float* weights = p.weights != nullptr ? p.weights + base : nullptr;
    char* scratch = p.scratch + static_cast<size_t>(blockIdx.x) * layout.row_bytes;
    uint64_t* keys = layout.keys_shared ? reinterpret_cast<uint64_t*>(dynamic_shared)
                                        : reinterpret_cast<uint64_t*>(scratch + layout.keys_offset);
    double* x = reinterpret_cast<double*>(scratch + layout.x_offset);
    double* a = reinterpret_cast<double*>(scratch + layout.a_offset);
    double* prefix = layout.dp_shared ? reinterpret_cast<double*>(dynamic_shared)
                                      : reinterpret_cast<double*>(scratch + layout.dp_offset);
    double* layer[2] = {prefix + 3 * (static_cast<int64_t>(cols) + 1), prefix + 4 * (static_cast<int64_t>(cols) + 1)};
    int* split = reinterpret_cast<int*>(scratch + layout.split_offset);
    const int64_t stride = static_cast<int64_t>(cols) + 1;

    // 1. Keys. Count first: a row whose non-excluded weights are all 0 takes uniform weights.
    int positive = 0, included = 0;
    for (int i = threadIdx.x; i < cols; i += kThreads) {
        if (is_excluded(p, base + i)) continue;
        ++included;
        if (weights == nullptr || weights[i] > 0.0f) ++positive;
    }
    positive = block_sum_int(positive, shared);
    included = block_sum_int(included, shared);
    const bool uniform = weights == nullptr || positive == 0;
    const int n = uniform ? included : positive;
    for (int i = threadIdx.x; i < pow2; i += kThreads) {
        uint64_t key = kmeans::kNoPoint;
        if (i < cols && !is_excluded(p, base + i)) {
            const float weight = uniform ? 1.0f : weights[i];
            if (weight > 0.0f) key = kmeans::sort_key(values[i], weight);
        }
        keys[i] = key;
    }
    __syncthreads();

    // 2. Bitonic sort of keys[0, P), ascending.
    for (int size = 2; size <= pow2; size <<= 1) {
        for (int gap = size >> 1; gap > 0; gap >>= 1) {
            for (int t = threadIdx.x; t < pow2 / 2; t += kThreads) {
                const int i = 2 * t - (t & (gap - 1));  // the lower index of pair t (bit `gap` clear)
                const int j = i + gap;
                const bool ascending = (i & size) == 0;
                const uint64_t lower = keys[i], upper = keys[j];
                if ((lower > upper) == ascending) {
                    keys[i] = upper;
                    keys[j] = lower;
                }
            }
            __syncthreads();
        }
    }

    // 3. Merge equal values: thread t owns points [t·chunk, (t+1)·chunk).
    const int chunk = (n + kThreads - 1) / kThreads;
    const int own_begin = min(n, static_cast<int>(threadIdx.x) * chunk), own_end = min(n, own_begin + chunk);
    int heads = 0;
    for (int i = own_begin; i < own_end; ++i) {
        if (i == 0 || kmeans::key_value(keys[i]) != kmeans::key_value(keys[i - 1])) ++heads;
    }
    int m = 0;
    int next = block_exclusive_scan_int(heads, shared, &m);
    for (int i = own_begin; i < own_end; ++i) {
        const float value = kmeans::key_value(keys[i]);
        if (i > 0 && value == kmeans::key_value(keys[i - 1])) continue;
        double weight = kmeans::key_weight(keys[i]);
        for (int r = i + 1; r < n && kmeans::key_value(keys[r]) == value; ++r) weight += kmeans::key_weight(keys[r]);
        x[next] = value;
        a[next] = weight;
        ++next;
    }
    // x and a complete; the keys' shared memory may now be reused for the DP.
    __syncthreads();

    if (m <= k) {
        // 4. Each point is its own centroid, padded with the largest; all 0 when every position is excluded.
        for (int j = threadIdx.x; j < k; j += kThreads) centers[j] = m == 0 ? 0.0 : x[min(j, m - 1)];
    } else {
        // 5. Centred, normalised prefix sums.
        double total = 0.0, moment = 0.0;
        for (int i = threadIdx.x; i < m; i += kThreads) {
            total += a[i];
            moment += a[i] * x[i];
        }
        double* sums = reinterpret_cast<double*>(&shared.values[0][0]);
        total = block_sum(total, sums);
        moment = block_sum(moment, sums);
        const double mean = moment / total;
        const int span = (m + kThreads - 1) / kThreads;
        const int begin = min(m, static_cast<int>(threadIdx.x) * span), end = min(m, begin + span);
        double running[3] = {0.0, 0.0, 0.0};
        for (int i = begin; i < end; ++i) {
            const double weight = a[i] / total;
            const double d = x[i] - mean;
            const double weighted = weight * d;
            running[0] += weight;
            running[1] += weighted;
            running[2] += weighted * d;
            prefix[3 * i + 3] = running[0];
            prefix[3 * i + 4] = running[1];
            prefix[3 * i + 5] = running[2];
        }
        double offset[3];
        block_exclusive_scan3(running, offset, shared);
        for (int i = begin; i < end; ++i) {
#pragma unroll
            for (int r = 0; r < 3; ++r) prefix[3 * i + 3 + r] += offset[r];
        }
        if (threadIdx.x == 0) prefix[0] = prefix[1] = prefix[2] = 0.0;
        __syncthreads();

        // 6. Layer 1 (stored in layer[0]); layer c in layer[(c − 1) & 1]; the last layer: end m only.
        for (int j = 1 + threadIdx.x; j <= m - (k - 1); j += kThreads) layer[0][j] = group_cost(prefix, 0, j);
        __syncthreads();
        for (int c = 2; c < k; ++c) {
            fill_layer(c, m, k, prefix, layer[c & 1], layer[(c - 1) & 1], split + c * stride, shared);
        }
        const double* previous = layer[(k - 2) & 1];
        double best = CUDART_INF;
        int best_split = INT_MAX;
        for (int i = k - 1 + threadIdx.x; i < m; i += kThreads) {
            const double v = previous[i] + group_cost(prefix, i, m);
            if (better(v, i, best, best_split)) {
                best = v;
                best_split = i;
            }
        }
        block_argmin(best, best_split, shared);

        // 7. Backtrack (cluster c = points [bounds[c], bounds[c+1])), then one warp per cluster.
        if (threadIdx.x == 0) {
            last_split = best_split == INT_MAX ? k - 1 : best_split;
            bounds[k] = m;
            bounds[k - 1] = last_split;
            for (int c = k - 1; c >= 2; --c) bounds[c - 1] = split[c * stride + bounds[c]];
            bounds[0] = 0;
        }
        __syncthreads();
        const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
        for (int c = warp; c < k; c += kWarps) {
            double weight = 0.0, sum = 0.0;
            for (int i = bounds[c] + lane; i < bounds[c + 1]; i += 32) {
                weight += a[i];
                sum += a[i] * x[i];
            }
            weight = warp_sum(weight);
            sum = warp_sum(sum);
            if (lane == 0) centers[c] = sum / weight;
        }
    }
    __syncthreads();

    // 8. LUT (rounding is monotone: it stays sorted), midpoints, codes.
    for (int j = threadIdx.x; j < k; j += kThreads) {
        const float center = static_cast<float>(centers[j]);
        const float entry = p.half_precision ? __half2float(__float2half_rn(center)) : center;
        entries[j] = entry;
        p.lut[row * k + j] = entry;
    }
    __syncthreads();
    for (int j = threadIdx.x; j + 1 < k; j += kThreads) {
        midpoints[j] = 0.5 * (static_cast<double>(entries[j]) + entries[j + 1]);
    }
    __syncthreads();
    const uint8_t zero_code = static_cast<uint8_t>(kmeans::count_below(midpoints, k - 1, 0.0));
    for (int i = threadIdx.x; i < cols; i += kThreads) {
        p.codes[base + i] = is_excluded(p, base + i)
                                ? zero_code
                                : static_cast<uint8_t>(kmeans::count_below(midpoints, k - 1, values[i]));
    }
}

}  // namespace

sn_status kmeans_rows(Context& context, const KmeansRowsArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    const int64_t rows = args.values->dims[0], cols = args.values->dims[1];
    if (rows == 0) return SN_OK;
    // 40·(C + 1) bytes of DP and 8·P of keys per row must index with int.
    SN_CHECK(cols <= (int64_t{1} << 24), SN_ERR_UNSUPPORTED,
             "values: rows of %lld values; the CUDA k-means takes at most 2^24 per row", static_cast<long long>(cols));

    KmeansLayout layout{};
    layout.cols = static_cast<int>(cols);
    layout.k = 1 << args.bits;
    layout.pow2 = 1;
    while (layout.pow2 < layout.cols) layout.pow2 <<= 1;

    int opt_in = 0;
    SN_CUDA_CHECK(cudaDeviceGetAttribute(&opt_in, cudaDevAttrMaxSharedMemoryPerBlockOptin, state.device));
    cudaFuncAttributes attributes{};
    SN_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kmeans_rows_kernel));
    const size_t budget = static_cast<size_t>(opt_in) > attributes.sharedSizeBytes
                              ? static_cast<size_t>(opt_in) - attributes.sharedSizeBytes
                              : 0;
    const size_t keys_bytes = sizeof(uint64_t) * static_cast<size_t>(layout.pow2);
    const size_t dp_bytes = sizeof(double) * 5 * (static_cast<size_t>(cols) + 1);
    layout.keys_shared = keys_bytes <= budget;
    layout.dp_shared = dp_bytes <= budget;
    size_t shared_bytes = 0;
    if (layout.keys_shared) shared_bytes = keys_bytes;
    if (layout.dp_shared && dp_bytes > shared_bytes) shared_bytes = dp_bytes;

    size_t offset = 0;
    layout.keys_offset = offset;
    if (!layout.keys_shared) offset += align_up(keys_bytes);
    layout.x_offset = offset;
    offset += align_up(sizeof(double) * static_cast<size_t>(cols));
    layout.a_offset = offset;
    offset += align_up(sizeof(double) * static_cast<size_t>(cols));
    layout.dp_offset = offset;
    if (!layout.dp_shared) offset += align_up(dp_bytes);
    layout.split_offset = offset;
    offset += align_up(sizeof(int32_t) * static_cast<size_t>(layout.k) * (static_cast<size_t>(cols) + 1));
    layout.row_bytes = offset;

    int64_t batch = static_cast<int64_t>(kScratchCapBytes / layout.row_bytes);
    if (batch < 1) batch = 1;
    if (batch > rows) batch = rows;
    void* scratch = nullptr;
    const cudaError_t allocated = cudaMallocAsync(&scratch, static_cast<size_t>(batch) * layout.row_bytes, state.stream);
    if (allocated == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        SN_FAIL(SN_ERR_OUT_OF_MEMORY,
                "k-means scratch: cannot allocate %lld rows x %zu bytes of device memory (rows of %lld values, %d "
                "clusters)",
                static_cast<long long>(batch), layout.row_bytes, static_cast<long long>(cols), layout.k);
    }
    SN_CUDA_CHECK(allocated);

    if (shared_bytes > 48 * 1024) {
        // A host setting, not a stream operation (also fine while capturing).
        const cudaError_t status = cudaFuncSetAttribute(kmeans_rows_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                        static_cast<int>(shared_bytes));
        if (status != cudaSuccess) (void)cudaFreeAsync(scratch, state.stream);
        SN_CUDA_CHECK(status);
    }
    KmeansProblem problem{};
    problem.values = args.values->data_as<const float>();
    problem.weights = args.weights != nullptr ? args.weights->data_as<const float>() : nullptr;
    problem.excluded = args.excluded != nullptr ? args.excluded->data() : nullptr;
    problem.excluded_size = args.excluded != nullptr ? static_cast<int>(args.excluded->element_size()) : 0;
    problem.lut = args.lut->data_as<float>();
    problem.codes = args.codes->data_as<uint8_t>();
    problem.half_precision = args.half_precision_lut;
    problem.scratch = static_cast<char*>(scratch);
    problem.layout = layout;
    cudaError_t launched = cudaSuccess;
    for (int64_t first = 0; first < rows && launched == cudaSuccess; first += batch) {
        problem.first_row = first;
        const int64_t count = rows - first < batch ? rows - first : batch;
        kmeans_rows_kernel<<<static_cast<unsigned>(count), kThreads, shared_bytes, state.stream>>>(problem);
        launched = cudaGetLastError();
    }
    // Stream-ordered: freed once the last batch is done, without waiting here.
    const cudaError_t freed = cudaFreeAsync(scratch, state.stream);
    if (launched != cudaSuccess) {
        SN_FAIL(SN_ERR_CUDA, "launching kmeans_rows_kernel failed: %s (%s)", cudaGetErrorName(launched),
                cudaGetErrorString(launched));
    }
    SN_CUDA_CHECK(freed);
    return SN_OK;
}

}  // namespace sn::cuda
