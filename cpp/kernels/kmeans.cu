// sn_kmeans_rows on CUDA: the exact weighted 1-D k-means of many rows per launch, one thread block
// per row at a time. Same algorithm, rules and double arithmetic as the CPU op (src/cpu/kmeans.cpp,
// a port of the C# solver); kmeans_rules.h holds what both must do identically (sort key, group
// cost, codes).
//
// ---- One launch, persistent blocks ---------------------------------------------------------------
//
// The grid is as many blocks as fit on the device at once (occupancy x SMs, at most the rows);
// each block takes the next row from a global counter (atomicAdd) until none is left, so one
// launch runs every row: no batches, no tail wave per batch (a 550-row batch on 132 SMs ran 5
// waves for 4.2 waves of work), and global scratch only for the resident blocks. Rows that finish
// early (few distinct values, all excluded) free their block for the next row at once.
//
// ---- One block, one row (kThreads = 512 threads) -------------------------------------------------
//
//   1. keys     one u64 per position (kmeans_rules.h: ordered value | weight bits; kNoPoint for an
//               excluded or zero-weight position and for the padding up to P = 2^⌈log2 C⌉); a
//               count of the points first decides the all-zero-weights fallback (uniform weights).
//   2. sort     bitonic sort of the P keys by the whole block: log2(P)·(log2(P)+1)/2 passes of P/2
//               compare-exchanges. Warp w owns the pairs [w·P/32, (w+1)·P/32), i.e. the keys
//               [w·P/16, (w+1)·P/16): a pass whose gap is at most P/32 stays inside each warp's
//               keys, so between two such passes a __syncwarp suffices; only the passes with a
//               larger gap, or before one, end with a block barrier (15 of the 78 passes for
//               P = 4096, 15 of 105 for 16384; before, every pass did).
//               Points come first, in (value, weight) order.
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
//               evaluated level by level: the subproblems (nodes) of one recursion level are
//               independent (each needs only the splits of the ends just outside its interval of j,
//               computed at earlier levels), so all of a level run in parallel, then a barrier:
//
//                 level 0:  [j0 ............................. j1]   mid j, splits i in [c−1, j1−1]
//                 level 1:  [j0 ..... mid−1]   [mid+1 ....... j1]   i in [c−1, opt(mid)], [opt(mid), j1−1]
//                 level 2:  [..] [..]  [..] [..]                    interval t found by descending the
//                                                                   bits of t from the root (O(level))
//
//               A node (end j, candidates i in [first, last]) is an argmin of D_{c−1}(i) + cost(i, j),
//               ties to the lowest i. The candidate counts of one level sum to about m + nodes, but
//               they are very uneven: where opt_c(j) jumps, ONE node keeps thousands of candidates
//               at every level (the benchmark's heavy-tailed rows of 4096, simulated on the CPU: ~3000
//               at each of the 12 levels of a layer).
//               So a level is balanced by candidates, not by nodes:
//                 a. each thread computes a contiguous group of the level's nodes (interval, j,
//                    first, last) into a shared node table; an exclusive scan of the candidate
//                    counts gives each node its offset in the level's flat list of candidates;
//                 b. thread q evaluates the flat candidates [q·L, (q+1)·L) (L ≈ total / kThreads,
//                    odd so that the lanes' 8-byte reads of the prefix sums fall in different
//                    shared-memory banks), walking node after node (binary search for the first);
//                 c. a node inside one chunk is stored by its thread; a node cut by chunk borders is
//                    reduced in a slot (one per border: the first border it crosses): a warp's
//                    partials of one node are first reduced by shuffles (they are adjacent lanes),
//                    then one shared atomicMin on the value (as order-preserving u64 bits), a
//                    barrier, an atomicMin on the index among the partials with that value, a
//                    barrier, and the thread where the node starts stores it and clears the slot.
//               The argmin (value, then index) is exact, so this mapping gives the sequential
//               answer. (Before, a node was given to one thread at deep levels: that thread looped
//               over its ~3000 candidates while the block waited — a ~30000-evaluation serial
//               critical path per row of 4096 at 3 bits, ~5 ms per row; balanced, it is ~750.)
//               A level of more nodes than the node table holds runs in passes of `node_cap` nodes.
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
//              reads adjacent words), D0 f64 [C+1], D1 f64 [C+1] when 40·(C+1) fits, else global;
//              then the node table of one DP pass: start i32 [cap+1], j i32 [cap], first i32 [cap];
//              then the current layer's splits i32 [C+1] when they fit (else read from global)
// Static shared memory: the reduction buffers, the per-border slots (u64 + i32) [kThreads+1] and the
// k centroids/midpoints (about 14 KiB).
// On an H100 (227 KiB opt-in) the keys fit up to C = 16384 (P·8 = 128 KiB) and the DP up to C ≈ 5400
// (with a node table of at least kMinNodeCap nodes; wider levels run in passes). LLaMA-7B's rows:
//   4096   DP in shared memory: 160 KiB + node table of 2048 nodes (its widest level) 24 KiB + layer
//          splits 16 KiB = 200 KiB;
//   11008  keys 128 KiB for the sort; then the DP in global memory (L1/L2-cached) and in shared memory
//          the node table of 8192 nodes 96 KiB + layer splits 43 KiB.
// Either way one block (16 warps) per SM: the registers (128 per thread) allow no second one.
// Global scratch per block, carved from one stream-ordered allocation after the row counter:
//   [keys u64 P, if not shared][x f64 C][a f64 C][DP f64 5·(C+1), if not shared][split i32 k·(C+1)]
// split[c·(C+1) + j] = opt_c(j), written once per (layer, end) (by the layer's shared copy when it
// has one) and read by the next levels and the backtrack.
//
// ---- Agreement with the CPU ----------------------------------------------------------------------
//
// Every cost and comparison is the CPU's double arithmetic on the same operands, and every node has
// the CPU's candidate range, but the prefix sums, the mean and the centroids' sums are parallel sums
// (another order of additions): they differ from the CPU's in the last bits, so a near-tie between
// two partitions may fall the other way. The test (tests/test_cuda_kmeans.cpp) holds the LUT to 1e-6
// relative of the CPU's and the codes equal except for values within 1e-6 of a midpoint.
#include "kernels/common.cuh"
#include "kmeans_rules.h"

#include <math_constants.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>

namespace sn::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxClusters = 256;  // bits <= 8
// Upper bound of one call's scratch (one slice per resident block; a fraction of it for LLaMA-7B:
// 132 blocks x ~1.3 MiB for rows of 11008 at 4 bits).
constexpr size_t kScratchCapBytes = size_t{512} << 20;
constexpr size_t kAlign = 256;
// The DP runs in shared memory only if a node table of at least this many nodes fits beside it
// (else a level would need too many passes).
constexpr int kMinNodeCap = 256;

constexpr size_t align_up(size_t bytes) {
    return (bytes + kAlign - 1) / kAlign * kAlign;
}

// Bytes of a node table of `cap` nodes (start [cap + 1], j [cap], first [cap]).
constexpr size_t node_table_bytes(size_t cap) {
    return sizeof(int32_t) * (3 * cap + 1);
}

// Where a row's pieces live (computed once per call on the host; the same for every row).
struct KmeansLayout {
    int cols;          // C
    int pow2;          // P = 2^⌈log2 C⌉ (sorted keys, padding = kNoPoint)
    int k;             // 2^bits
    bool keys_shared;  // keys in dynamic shared memory, else at keys_offset
    bool dp_shared;    // prefix + D0 + D1 in dynamic shared memory, else at dp_offset
    int node_cap;      // nodes per DP pass (the node table, in dynamic shared memory at nodes_offset)
    size_t nodes_offset;
    bool split_shared;  // the current layer's splits i32 [C+1] in dynamic shared memory at split_shared_offset
    size_t split_shared_offset;
    size_t keys_offset, x_offset, a_offset, dp_offset, split_offset;
    size_t row_bytes;  // global scratch per block
};

struct KmeansProblem {
    const float* values;   // [rows, C]
    const float* weights;  // [rows, C] or null
    const void* excluded;  // [rows, C] of excluded_size bytes each, or null
    int excluded_size;     // 1 (U8) or 4 (I32); 0 with no exclusions
    float* lut;            // [rows, k]
    uint8_t* codes;        // [rows, C]
    int64_t rows;
    unsigned long long* next_row;  // the row counter (0 at launch)
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

// The argmin of a DP node cut by chunk borders (fill_layer, step c), one slot per border: the
// order-preserving bits of the least value, then the least index with that value. Empty =
// (kEmptySlot, INT_MAX); the thread that stores the node clears its slot again.
struct BorderSlots {
    unsigned long long value[kThreads + 1];
    int index[kThreads + 1];
};
constexpr unsigned long long kEmptySlot = ~0ull;

// The DP node table of one pass (dynamic shared memory).
struct NodeTable {
    int* start;  // [cap + 1] offset of the node's first candidate in the pass's flat list; [n] = total
    int* end;    // [cap] the node's end j (−1: an empty interval, no node)
    int* first;  // [cap] its first candidate split
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

// A double's bits as a u64 that orders like the double (negative: all bits flipped; else the sign
// bit set), so that an integer atomicMin is an exact min of doubles. −0 is taken as +0, so that equal
// values (as `better` compares them) have equal bits and the index decides; no NaN reaches it (a
// cost is clamped, D is a sum of costs or +inf).
__device__ __forceinline__ unsigned long long ordered_bits(double v) {
    if (v == 0.0) v = 0.0;
    const unsigned long long bits = static_cast<unsigned long long>(__double_as_longlong(v));
    return (bits >> 63) != 0 ? ~bits : bits | (1ull << 63);
}
__device__ __forceinline__ double from_ordered_bits(unsigned long long ordered) {
    return __longlong_as_double(static_cast<long long>((ordered >> 63) != 0 ? ordered & ~(1ull << 63) : ~ordered));
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

// Layer c (2 <= c < k): D_c(j) for j in [c, m − (k − c)] into `current`, opt_c(j) into split_c.
// Level by level, each level in passes of at most `cap` nodes, balanced by candidates (steps a-c of
// the header). Ends with a barrier.
__device__ void fill_layer(int c, int m, int k, const double* prefix, const double* previous, double* current,
                           int* split_c, const NodeTable& table, int cap, BorderSlots& slots, BlockShared& shared) {
    const int q = static_cast<int>(threadIdx.x), lane = q % 32;
    const int j0 = c, j1 = m - (k - c);
    const int count = j1 - j0 + 1;
    const int levels = 32 - __clz(count);  // ⌊log2 count⌋ + 1: the depth of the recursion
    for (int level = 0; level < levels; ++level) {
        const int nodes = 1 << level;
        for (int pass_first = 0; pass_first < nodes; pass_first += cap) {
            const int pass_nodes = min(cap, nodes - pass_first);

            // a. The pass's nodes, a contiguous group per thread; start[] holds the candidate counts
            //    until the scan turns them into offsets (each thread rewrites only its own).
            const int group = (pass_nodes + kThreads - 1) / kThreads;
            const int group_begin = min(pass_nodes, q * group), group_end = min(pass_nodes, group_begin + group);
            int candidates = 0;
            for (int u = group_begin; u < group_end; ++u) {
                int lo, hi;
                node_interval(j0, j1, level, pass_first + u, lo, hi);
                int size = 0, end = -1, first = 0;
                if (lo <= hi) {
                    const Node node = node_at(c, j0, j1, lo, hi, split_c);
                    end = node.j;
                    first = node.first;
                    size = max(0, node.last - node.first + 1);
                    if (size == 0) {
                        // No candidate: the CPU keeps +inf and the first index.
                        current[node.j] = CUDART_INF;
                        split_c[node.j] = node.first;
                    }
                }
                table.start[u] = size;
                table.end[u] = end;
                table.first[u] = first;
                candidates += size;
            }
            int total = 0;
            int offset = block_exclusive_scan_int(candidates, shared, &total);
            for (int u = group_begin; u < group_end; ++u) {
                const int size = table.start[u];
                table.start[u] = offset;
                offset += size;
            }
            if (q == 0) table.start[pass_nodes] = total;
            __syncthreads();
            if (total == 0) continue;  // uniform: every thread has the same total

            // b. Thread q's chunk of the flat candidates. Odd L: lanes that start L candidates apart
            //    (in one node) read prefix sums 3·L doubles and D L doubles apart, odd strides, so
            //    the lanes' 8-byte shared-memory reads do not collide in a bank.
            const int chunk = ((total + kThreads - 1) / kThreads) | 1;
            const int chunk_begin = min(total, q * chunk), chunk_end = min(total, chunk_begin + chunk);
            // The partials of nodes cut by this chunk's borders: `head` for the node that began in an
            // earlier chunk (slot = the first border it crosses), `tail` for the node that begins
            // here and goes on (slot q + 1; this thread stores it).
            int head_slot = -1, head_split = INT_MAX, tail_end = -1, tail_split = INT_MAX;
            double head_value = CUDART_INF, tail_value = CUDART_INF;
            if (chunk_begin < chunk_end) {
                int lo = 0, hi = pass_nodes;  // the last node whose start is <= chunk_begin
                while (hi - lo > 1) {
                    const int mid = (lo + hi) >> 1;
                    if (table.start[mid] <= chunk_begin) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                int n = lo, pos = chunk_begin;
                while (true) {
                    const int node_begin = table.start[n], node_end = table.start[n + 1];
                    const int j = table.end[n], first = table.first[n];
                    const int stop = min(node_end, chunk_end);
                    const EndSums sums = end_sums(prefix, j);
                    double best = CUDART_INF;
                    int best_split = INT_MAX;
                    for (int i = first + (pos - node_begin), last = first + (stop - node_begin); i < last; ++i) {
                        const double v = candidate(prefix, previous, sums, i);
                        if (better(v, i, best, best_split)) {
                            best = v;
                            best_split = i;
                        }
                    }
                    if (node_begin < chunk_begin) {
                        head_slot = node_begin / chunk + 1;
                        head_value = best;
                        head_split = best_split;
                    } else if (node_end > chunk_end) {
                        tail_end = j;
                        tail_value = best;
                        tail_split = best_split;
                    } else {
                        current[j] = best;
                        split_c[j] = best_split;
                    }
                    pos = stop;
                    if (pos >= chunk_end) break;
                    do {
                        ++n;  // skip the nodes without candidates
                    } while (table.start[n + 1] <= pos);
                }
            }

            // c. The head partials of one node are on adjacent threads: reduce them within the warp
            //    (segmented by slot), so that each warp adds one atomic per node.
            for (int width = 1; width < 32; width <<= 1) {
                const int other_slot = __shfl_down_sync(0xffffffffu, head_slot, width);
                const double other_value = __shfl_down_sync(0xffffffffu, head_value, width);
                const int other_split = __shfl_down_sync(0xffffffffu, head_split, width);
                if (lane + width < 32 && other_slot == head_slot &&
                    better(other_value, other_split, head_value, head_split)) {
                    head_value = other_value;
                    head_split = other_split;
                }
            }
            const int slot_before = __shfl_up_sync(0xffffffffu, head_slot, 1);
            const bool head_leader = head_slot >= 0 && (lane == 0 || slot_before != head_slot);
            const unsigned long long head_bits = ordered_bits(head_value), tail_bits = ordered_bits(tail_value);
            if (head_leader) atomicMin(&slots.value[head_slot], head_bits);
            if (tail_end >= 0) atomicMin(&slots.value[q + 1], tail_bits);
            __syncthreads();
            if (head_leader && slots.value[head_slot] == head_bits) atomicMin(&slots.index[head_slot], head_split);
            if (tail_end >= 0 && slots.value[q + 1] == tail_bits) atomicMin(&slots.index[q + 1], tail_split);
            __syncthreads();
            if (tail_end >= 0) {
                current[tail_end] = from_ordered_bits(slots.value[q + 1]);
                split_c[tail_end] = slots.index[q + 1];
                slots.value[q + 1] = kEmptySlot;
                slots.index[q + 1] = INT_MAX;
            }
            // The next pass rewrites the node table and the next level reads this level's splits
            // (global memory: the barrier makes the block's writes visible to the block).
            __syncthreads();
        }
    }
}

// ---- the sort -------------------------------------------------------------------------------------

// Bitonic sort of keys[0, P), ascending (P a power of two). Warp w runs the pairs
// [w·P/(2·kWarps), (w+1)·P/(2·kWarps)); pair t compares keys i = 2t − (t mod gap) and i + gap, so a
// pass of gap <= P/(2·kWarps) touches only the warp's own P/kWarps keys: between two such passes
// __syncwarp orders the warp's shared (or global) memory accesses, and only passes of a larger gap
// need the block barrier, as the pass before them (of log2(P)·(log2(P)+1)/2 passes, 15 for P = 4096).
__device__ void bitonic_sort(uint64_t* keys, int pow2) {
    const int pairs = pow2 / 2;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int per_warp = pairs >= kWarps ? pairs / kWarps : 0;  // 0: every pass ends with a barrier
    const auto local = [per_warp](int gap) { return gap <= per_warp; };
    for (int size = 2; size <= pow2; size <<= 1) {
        for (int gap = size >> 1; gap > 0; gap >>= 1) {
            const auto compare_exchange = [&](int t) {
                const int i = 2 * t - (t & (gap - 1));  // the lower index of pair t (bit `gap` clear)
                const int j = i + gap;
                const bool ascending = (i & size) == 0;
                const uint64_t lower = keys[i], upper = keys[j];
                if ((lower > upper) == ascending) {
                    keys[i] = upper;
                    keys[j] = lower;
                }
            };
            if (per_warp > 0) {
                for (int t = warp * per_warp + lane; t < (warp + 1) * per_warp; t += 32) compare_exchange(t);
            } else {
                for (int t = threadIdx.x; t < pairs; t += kThreads) compare_exchange(t);
            }
            const bool last = gap == 1 && size == pow2;
            const int next_gap = gap > 1 ? gap >> 1 : size;  // the next pass: this size's, or size·2's first
            if (!last && per_warp > 0 && local(gap) && local(next_gap)) {
                __syncwarp();
            } else {
                __syncthreads();
            }
        }
    }
}

// ---- one row ----------------------------------------------------------------------------------------

struct RowShared {
    BlockShared block;
    BorderSlots slots;
    double centers[kMaxClusters];
    double midpoints[kMaxClusters];
    float entries[kMaxClusters];
    int bounds[kMaxClusters + 1];
    unsigned long long row;
};

__device__ void solve_row(const KmeansProblem& p, int64_t row, unsigned char* dynamic_shared, RowShared& s) {
    BlockShared& shared = s.block;
    const KmeansLayout& layout = p.layout;
    const int cols = layout.cols, k = layout.k, pow2 = layout.pow2;
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
    int* node_words = reinterpret_cast<int*>(dynamic_shared + layout.nodes_offset);
    const NodeTable table{node_words, node_words + layout.node_cap + 1, node_words + 2 * layout.node_cap + 1};

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

    // 2. Sort (ends with a barrier).
    bitonic_sort(keys, pow2);

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
        for (int j = threadIdx.x; j < k; j += kThreads) s.centers[j] = m == 0 ? 0.0 : x[min(j, m - 1)];
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
        int* split_layer =
            layout.split_shared ? reinterpret_cast<int*>(dynamic_shared + layout.split_shared_offset) : nullptr;
        for (int c = 2; c < k; ++c) {
            int* split_c = split + c * stride;
            if (split_layer == nullptr) {
                fill_layer(c, m, k, prefix, layer[c & 1], layer[(c - 1) & 1], split_c, table, layout.node_cap, s.slots,
                           shared);
            } else {
                // The level's node setup reads two splits per node: from shared memory, not L2.
                // The finished layer goes to global memory for the backtrack (the barrier: before
                // the next layer overwrites the shared copy).
                fill_layer(c, m, k, prefix, layer[c & 1], layer[(c - 1) & 1], split_layer, table, layout.node_cap,
                           s.slots, shared);
                for (int j = c + threadIdx.x; j <= m - (k - c); j += kThreads) split_c[j] = split_layer[j];
                __syncthreads();
            }
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
            const int last_split = best_split == INT_MAX ? k - 1 : best_split;
            s.bounds[k] = m;
            s.bounds[k - 1] = last_split;
            for (int c = k - 1; c >= 2; --c) s.bounds[c - 1] = split[c * stride + s.bounds[c]];
            s.bounds[0] = 0;
        }
        __syncthreads();
        const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
        for (int c = warp; c < k; c += kWarps) {
            double weight = 0.0, sum = 0.0;
            for (int i = s.bounds[c] + lane; i < s.bounds[c + 1]; i += 32) {
                weight += a[i];
                sum += a[i] * x[i];
            }
            weight = warp_sum(weight);
            sum = warp_sum(sum);
            if (lane == 0) s.centers[c] = sum / weight;
        }
    }
    __syncthreads();

    // 8. LUT (rounding is monotone: it stays sorted), midpoints, codes.
    for (int j = threadIdx.x; j < k; j += kThreads) {
        const float center = static_cast<float>(s.centers[j]);
        const float entry = p.half_precision ? __half2float(__float2half_rn(center)) : center;
        s.entries[j] = entry;
        p.lut[row * k + j] = entry;
    }
    __syncthreads();
    for (int j = threadIdx.x; j + 1 < k; j += kThreads) {
        s.midpoints[j] = 0.5 * (static_cast<double>(s.entries[j]) + s.entries[j + 1]);
    }
    __syncthreads();
    const uint8_t zero_code = static_cast<uint8_t>(kmeans::count_below(s.midpoints, k - 1, 0.0));
    for (int i = threadIdx.x; i < cols; i += kThreads) {
        p.codes[base + i] = is_excluded(p, base + i)
                                ? zero_code
                                : static_cast<uint8_t>(kmeans::count_below(s.midpoints, k - 1, values[i]));
    }
}

// Persistent blocks: each takes rows from the counter until none is left.
__global__ void __launch_bounds__(kThreads, 1) kmeans_rows_kernel(KmeansProblem p) {
    extern __shared__ __align__(16) unsigned char dynamic_shared[];
    __shared__ RowShared s;
    for (int i = threadIdx.x; i <= kThreads; i += kThreads) {
        s.slots.value[i] = kEmptySlot;
        s.slots.index[i] = INT_MAX;
    }
    while (true) {
        // The barrier also ends the previous row (its codes read the midpoints; the next row's
        // first writes reuse the shared buffers).
        if (threadIdx.x == 0) s.row = atomicAdd(p.next_row, 1ull);
        __syncthreads();
        const unsigned long long row = s.row;
        if (row >= static_cast<unsigned long long>(p.rows)) break;  // uniform
        solve_row(p, static_cast<int64_t>(row), dynamic_shared, s);
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

    int opt_in = 0, sms = 0;
    SN_CUDA_CHECK(cudaDeviceGetAttribute(&opt_in, cudaDevAttrMaxSharedMemoryPerBlockOptin, state.device));
    SN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, state.device));
    cudaFuncAttributes attributes{};
    SN_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kmeans_rows_kernel));
    const size_t budget = static_cast<size_t>(opt_in) > attributes.sharedSizeBytes
                              ? static_cast<size_t>(opt_in) - attributes.sharedSizeBytes
                              : 0;
    const size_t keys_bytes = sizeof(uint64_t) * static_cast<size_t>(layout.pow2);
    const size_t dp_bytes = sizeof(double) * 5 * (static_cast<size_t>(cols) + 1);
    const size_t dp_table_offset = (dp_bytes + 15) / 16 * 16;
    // The widest DP level: 2^⌊log2 count⌋ nodes, count <= C − k + 1 ends per layer. A pass's flat
    // candidate offsets (< nodes·(C + 1)) must stay well inside int.
    int64_t widest = 1;
    while (widest * 2 <= cols - layout.k + 1) widest *= 2;
    const int64_t int_cap = std::max<int64_t>(1, (INT_MAX / 4) / (cols + 1));
    const int64_t wanted_cap = std::min(widest, int_cap);
    const int64_t min_cap = std::min<int64_t>(wanted_cap, kMinNodeCap);
    layout.keys_shared = keys_bytes <= budget;
    layout.dp_shared = dp_table_offset + node_table_bytes(static_cast<size_t>(min_cap)) <= budget;
    layout.nodes_offset = layout.dp_shared ? dp_table_offset : 0;
    const size_t table_room = budget > layout.nodes_offset ? budget - layout.nodes_offset : 0;
    const int64_t fitting_cap =
        table_room > node_table_bytes(1) ? static_cast<int64_t>((table_room / sizeof(int32_t) - 1) / 3) : 0;
    SN_CHECK(fitting_cap >= 1, SN_ERR_UNSUPPORTED,
             "the CUDA k-means needs %zu bytes of shared memory per block for its DP node table; the device has %zu",
             node_table_bytes(1) + attributes.sharedSizeBytes, static_cast<size_t>(opt_in));
    layout.node_cap = static_cast<int>(std::min(wanted_cap, fitting_cap));
    size_t shared_bytes = layout.nodes_offset + node_table_bytes(static_cast<size_t>(layout.node_cap));
    // The current layer's splits in the shared memory left (rows of 4096 and 11008 on an H100).
    layout.split_shared_offset = (shared_bytes + 15) / 16 * 16;
    const size_t split_layer_bytes = sizeof(int32_t) * (static_cast<size_t>(cols) + 1);
    layout.split_shared = layout.split_shared_offset + split_layer_bytes <= budget;
    if (layout.split_shared) shared_bytes = layout.split_shared_offset + split_layer_bytes;
    if (layout.keys_shared && keys_bytes > shared_bytes) shared_bytes = keys_bytes;

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

    if (shared_bytes > 48 * 1024) {
        // A host setting, not a stream operation (also fine while capturing).
        SN_CUDA_CHECK(cudaFuncSetAttribute(kmeans_rows_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(shared_bytes)));
    }
    // Persistent grid: the blocks that run at once (one per SM for LLaMA's rows), at most the rows,
    // at most what kScratchCapBytes of scratch holds (at least one).
    int per_sm = 0;
    SN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kmeans_rows_kernel, kThreads, shared_bytes));
    SN_CHECK(per_sm >= 1, SN_ERR_UNSUPPORTED,
             "the CUDA k-means kernel (%d threads, %zu bytes of dynamic shared memory) cannot run on this device",
             kThreads, shared_bytes);
    int64_t grid = static_cast<int64_t>(per_sm) * sms;
    grid = std::min<int64_t>(grid, static_cast<int64_t>(kScratchCapBytes / layout.row_bytes));
    grid = std::max<int64_t>(grid, 1);
    grid = std::min<int64_t>(grid, rows);

    void* scratch = nullptr;
    const cudaError_t allocated =
        cudaMallocAsync(&scratch, kAlign + static_cast<size_t>(grid) * layout.row_bytes, state.stream);
    if (allocated == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        SN_FAIL(SN_ERR_OUT_OF_MEMORY,
                "k-means scratch: cannot allocate %lld blocks x %zu bytes of device memory (rows of %lld values, %d "
                "clusters)",
                static_cast<long long>(grid), layout.row_bytes, static_cast<long long>(cols), layout.k);
    }
    SN_CUDA_CHECK(allocated);

    KmeansProblem problem{};
    problem.values = args.values->data_as<const float>();
    problem.weights = args.weights != nullptr ? args.weights->data_as<const float>() : nullptr;
    problem.excluded = args.excluded != nullptr ? args.excluded->data() : nullptr;
    problem.excluded_size = args.excluded != nullptr ? static_cast<int>(args.excluded->element_size()) : 0;
    problem.lut = args.lut->data_as<float>();
    problem.codes = args.codes->data_as<uint8_t>();
    problem.rows = rows;
    problem.next_row = static_cast<unsigned long long*>(scratch);
    problem.half_precision = args.half_precision_lut;
    problem.scratch = static_cast<char*>(scratch) + kAlign;
    problem.layout = layout;
    cudaError_t launched = cudaMemsetAsync(problem.next_row, 0, sizeof(unsigned long long), state.stream);
    if (launched == cudaSuccess) {
        kmeans_rows_kernel<<<static_cast<unsigned>(grid), kThreads, shared_bytes, state.stream>>>(problem);
        launched = cudaGetLastError();
    }
    // Stream-ordered: freed once the kernel is done, without waiting here.
    const cudaError_t freed = cudaFreeAsync(scratch, state.stream);
    if (launched != cudaSuccess) {
        SN_FAIL(SN_ERR_CUDA, "launching kmeans_rows_kernel failed: %s (%s)", cudaGetErrorName(launched),
                cudaGetErrorString(launched));
    }
    SN_CUDA_CHECK(freed);
    return SN_OK;
}

}  // namespace sn::cuda
