// Linear layer on the CPU: out[M, N] = x[M, K] · W[N, K]ᵀ (+ bias[N]); W is F32, F16 or BF16.
// matmul_add is the same product added to out (out += x·Wᵀ + bias), for residual connections.
//
// Two paths, chosen by M:
//
// GEMV (M <= kGemvMaxRows, i.e. decoding): memory-bound, so W is streamed exactly once. Threads
//   split N into contiguous row ranges; each walks its rows 4 at a time and K in chunks of
//   kGemvChunk, widening F16/BF16 chunks into a per-thread buffer and dotting them with every
//   row of x while the chunk is in L1.
//
// GEMM (prefill, perplexity): BLIS-style blocking.
//
//   for each chunk of up to kChunkCols output columns        (its packed W fits the scratch)
//     for each of the equal slices (<= kKcMax deep) along K
//       all threads: pack W[chunk, slice] into NR-wide panels  (F16/BF16 widened here, once per slice)
//       barrier
//       all threads, dynamic: tasks of kMc rows × kNc columns:
//         pack x[rows, slice] into MR-tall panels, run the MR×NR micro-kernel over the task
//       barrier
//
//   Packed layouts (floats, zero-padded so the micro-kernel never checks bounds):
//     W panel p  [kc][NR]: element (k, j) = W[n0 + p·NR + j][k0 + k]
//     x panel q  [kc][MR]: element (k, i) = x[m0 + q·MR + i][k0 + k]
//
//   Micro-kernel (per ISA; W = floats per register):
//     acc[MR][NR] lives in registers; for each k: NR/W loads of the W panel, MR broadcasts from
//     the x panel, MR·NR/W FMAs. avx512: 12×32 (24 zmm accumulators of 32), avx2: 6×16
//     (12 ymm of 16), baseline SSE2: 6×8 (12 xmm of 16).
//   Cache blocking (empirical, tuned on Zen 4: 32 KiB L1d, 1 MiB L2): a W panel (kc×NR floats,
//   48 KiB for avx512 at kc = 384) is reused by the kMc/MR micro-kernel calls of a task from L1/L2;
//   the packed x block (kMc×kc floats, 180 KiB) stays in L2 across the task's kNc/NR panels. One
//   slice for K <= 384 (all of this project's hidden sizes) means C is written once, not
//   re-read per slice (slices of 256 measured slower).
#include "cpu/convert.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/scratch.h"

#include <algorithm>
#include <omp.h>

namespace sn::cpu {
namespace {

constexpr int64_t kGemvMaxRows = 4;
constexpr int64_t kGemvRowsPerStep = 4;
constexpr int64_t kGemvChunk = 512;
constexpr int64_t kKcMax = 384;
constexpr int64_t kMc = 120;  // a multiple of every MR below (12 and 6)
constexpr int64_t kNc = 256;  // a multiple of every NR below (32, 16 and 8)
constexpr int64_t kChunkCols = 4096;

constexpr int64_t round_up(int64_t value, int64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}
constexpr int64_t ceil_div(int64_t value, int64_t divisor) {
    return (value + divisor - 1) / divisor;
}

struct GemmProblem {
    const float* x;  // [m, k]
    const void* w;   // [n, k] of w_dtype
    sn_dtype w_dtype;
    const float* bias;  // [round_up(n, NR)] zero-padded, or null
    float* out;         // [m, n]
    int64_t m, n, k;
    bool accumulate;  // matmul_add: add the product to out instead of overwriting it
};

// One chunk of output columns [n0, n0 + cols) and one slice of K [k0, k0 + kc).
struct GemmSlice {
    int64_t n0, cols;
    int64_t k0, kc;
    float* packed_w;  // ceil(cols / NR) panels of [kc][NR]
};

// One task of a slice: rows [m0, m0 + rows) × chunk columns [c0, c0 + cols) (c0 relative to n0).
struct GemmTile {
    int64_t m0, rows;
    int64_t c0, cols;
    float* packed_x;  // kMc / MR panels of [kc][MR]
};

// A pointer to W's row `row` from column k0 as F32: the weight itself, or widened into `buffer`.
SN_ALWAYS_INLINE const float* weight_row_f32(const GemmProblem& problem, int64_t row, int64_t k0, int64_t count,
                                             float* buffer) {
    if (problem.w_dtype == SN_DTYPE_F32) return static_cast<const float*>(problem.w) + row * problem.k + k0;
    const uint16_t* halves = static_cast<const uint16_t*>(problem.w) + row * problem.k + k0;
    widen_to_f32(problem.w_dtype, halves, buffer, count);
    return buffer;
}

template <int NR>
SN_ALWAYS_INLINE void pack_w_body(const GemmProblem& problem, const GemmSlice& slice, int64_t panel_begin,
                                  int64_t panel_end, float* row_buffer) {
    const int64_t kc = slice.kc;
    for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
        float* destination = slice.packed_w + panel * kc * NR;
        const int64_t first_row = slice.n0 + panel * NR;
        const int64_t valid = std::min<int64_t>(NR, slice.n0 + slice.cols - first_row);
        for (int64_t j = 0; j < valid; ++j) {
            const float* source = weight_row_f32(problem, first_row + j, slice.k0, kc, row_buffer);
            for (int64_t kk = 0; kk < kc; ++kk) destination[kk * NR + j] = source[kk];
        }
        for (int64_t j = valid; j < NR; ++j) {
            for (int64_t kk = 0; kk < kc; ++kk) destination[kk * NR + j] = 0.0f;
        }
    }
}

template <int MR>
SN_ALWAYS_INLINE void pack_x_body(const GemmProblem& problem, const GemmSlice& slice, const GemmTile& tile) {
    const int64_t kc = slice.kc;
    for (int64_t panel = 0; panel * MR < tile.rows; ++panel) {
        float* destination = tile.packed_x + panel * kc * MR;
        const int64_t valid = std::min<int64_t>(MR, tile.rows - panel * MR);
        for (int64_t i = 0; i < valid; ++i) {
            const float* source = problem.x + (tile.m0 + panel * MR + i) * problem.k + slice.k0;
            for (int64_t kk = 0; kk < kc; ++kk) destination[kk * MR + i] = source[kk];
        }
        for (int64_t i = valid; i < MR; ++i) {
            for (int64_t kk = 0; kk < kc; ++kk) destination[kk * MR + i] = 0.0f;
        }
    }
}

// C[rows × cols] (row stride ldc) = (load_c ? C : 0) + bias + x_panel · w_panel over kc; bias may be null.
template <int W, int MR, int NV>
SN_ALWAYS_INLINE void micro_kernel(int64_t kc, const float* x_panel, const float* w_panel, float* c, int64_t ldc,
                                   int64_t rows, int64_t cols, const float* bias, bool load_c) {
    using V = typename vec<W>::f32;
    constexpr int NR = W * NV;
    V acc[MR][NV];
    for (int i = 0; i < MR; ++i) {
        for (int v = 0; v < NV; ++v) acc[i][v] = V{};
    }
    for (int64_t kk = 0; kk < kc; ++kk) {
        V w_values[NV];
        for (int v = 0; v < NV; ++v) w_values[v] = load_vec<V>(w_panel + kk * NR + v * W);
        for (int i = 0; i < MR; ++i) {
            const V x_value = splat<V>(x_panel[kk * MR + i]);
            for (int v = 0; v < NV; ++v) acc[i][v] += x_value * w_values[v];
        }
    }
    if (rows == MR && cols == NR) {
        for (int i = 0; i < MR; ++i) {
            for (int v = 0; v < NV; ++v) {
                float* target = c + i * ldc + v * W;
                V result = acc[i][v];
                if (load_c) result += load_vec<V>(target);
                if (bias != nullptr) result += load_vec<V>(bias + v * W);
                store_vec(target, result);
            }
        }
        return;
    }
    alignas(64) float tile[MR][NR];
    for (int i = 0; i < MR; ++i) {
        for (int v = 0; v < NV; ++v) store_vec(&tile[i][v * W], acc[i][v]);
    }
    for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
            float result = tile[i][j];
            if (load_c) result += c[i * ldc + j];
            if (bias != nullptr) result += bias[j];
            c[i * ldc + j] = result;
        }
    }
}

template <int W, int MR, int NV>
SN_ALWAYS_INLINE void gemm_tile_body(const GemmProblem& problem, const GemmSlice& slice, const GemmTile& tile) {
    constexpr int NR = W * NV;
    pack_x_body<MR>(problem, slice, tile);
    // Later K slices add to what the first wrote; matmul_add's first slice adds to out too. The
    // bias goes in once, with the first slice.
    const bool load_c = slice.k0 > 0 || problem.accumulate;
    const bool add_bias = slice.k0 == 0 && problem.bias != nullptr;
    for (int64_t jr = 0; jr < tile.cols; jr += NR) {
        const int64_t chunk_column = tile.c0 + jr;
        const int64_t column = slice.n0 + chunk_column;
        const float* w_panel = slice.packed_w + (chunk_column / NR) * slice.kc * NR;
        const int64_t cols = std::min<int64_t>(NR, problem.n - column);
        const float* bias = add_bias ? problem.bias + column : nullptr;
        for (int64_t ir = 0; ir < tile.rows; ir += MR) {
            micro_kernel<W, MR, NV>(slice.kc, tile.packed_x + (ir / MR) * slice.kc * MR, w_panel,
                                    problem.out + (tile.m0 + ir) * problem.n + column, problem.n,
                                    std::min<int64_t>(MR, tile.rows - ir), cols, bias, load_c);
        }
    }
}

template <int W>
SN_ALWAYS_INLINE float horizontal_sum(typename vec<W>::f32 value) {
    float sum = 0.0f;
    for (int i = 0; i < W; ++i) sum += value[i];
    return sum;
}

// Requests the W chunk that the next step reads (same rows from column k_next, or the next rows
// from column 0). Widening F16/BF16 reads one row chunk after another, which alone keeps a single
// DRAM stream busy; prefetching the next chunk of all rows keeps several in flight (measured on
// one Zen 4 core, 4096×4096 F16: 5.4 → 4.3 ms). F32 rows are read interleaved by the dot product
// itself and got slower with the extra prefetches, so they go without.
SN_ALWAYS_INLINE void prefetch_next_chunk(const GemmProblem& problem, int64_t n, int64_t rows, int64_t k_next,
                                          int64_t n_end) {
    if (k_next >= problem.k) {
        n += rows;
        rows = std::min<int64_t>(kGemvRowsPerStep, n_end - n);
        k_next = 0;
    }
    const size_t element = sn_dtype_size(problem.w_dtype);
    const size_t bytes = static_cast<size_t>(std::min(kGemvChunk, problem.k - k_next)) * element;
    for (int64_t r = 0; r < rows; ++r) {
        const char* start = static_cast<const char*>(problem.w) + ((n + r) * problem.k + k_next) * element;
        for (size_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(start + offset);
    }
}

// out rows [n_begin, n_end) for every row of x; `widened` holds kGemvRowsPerStep × kGemvChunk floats.
template <int W>
SN_ALWAYS_INLINE void gemv_body(const GemmProblem& problem, int64_t n_begin, int64_t n_end, float* widened) {
    using V = typename vec<W>::f32;
    constexpr int64_t R = kGemvRowsPerStep;
    for (int64_t n = n_begin; n < n_end; n += R) {
        const int64_t rows = std::min<int64_t>(R, n_end - n);
        float sums[kGemvMaxRows][R] = {};
        for (int64_t k0 = 0; k0 < problem.k; k0 += kGemvChunk) {
            const int64_t kc = std::min<int64_t>(kGemvChunk, problem.k - k0);
            if (problem.w_dtype != SN_DTYPE_F32) prefetch_next_chunk(problem, n, rows, k0 + kGemvChunk, n_end);
            const float* w_rows[R];
            for (int64_t r = 0; r < R; ++r) {
                // Missing rows of the last step re-read row 0; their sums are never stored.
                w_rows[r] = r < rows ? weight_row_f32(problem, n + r, k0, kc, widened + r * kGemvChunk) : w_rows[0];
            }
            for (int64_t m = 0; m < problem.m; ++m) {
                const float* x_row = problem.x + m * problem.k + k0;
                V acc[R];
                for (int64_t r = 0; r < R; ++r) acc[r] = V{};
                int64_t kk = 0;
                for (; kk + W <= kc; kk += W) {
                    const V x_value = load_vec<V>(x_row + kk);
                    for (int64_t r = 0; r < R; ++r) acc[r] += x_value * load_vec<V>(w_rows[r] + kk);
                }
                for (int64_t r = 0; r < R; ++r) {
                    float partial = horizontal_sum<W>(acc[r]);
                    for (int64_t tail = kk; tail < kc; ++tail) partial += x_row[tail] * w_rows[r][tail];
                    sums[m][r] += partial;
                }
            }
        }
        for (int64_t m = 0; m < problem.m; ++m) {
            for (int64_t r = 0; r < rows; ++r) {
                float& target = problem.out[m * problem.n + n + r];
                const float product = sums[m][r] + (problem.bias != nullptr ? problem.bias[n + r] : 0.0f);
                target = problem.accumulate ? target + product : product;
            }
        }
    }
}

// ---- per-ISA instantiations -------------------------------------------------------------------

SN_TARGET_AVX512 void pack_w_avx512(const GemmProblem& p, const GemmSlice& s, int64_t b, int64_t e, float* row) {
    pack_w_body<32>(p, s, b, e, row);
}
SN_TARGET_AVX512 void tile_avx512(const GemmProblem& p, const GemmSlice& s, const GemmTile& t) {
    gemm_tile_body<16, 12, 2>(p, s, t);
}
SN_TARGET_AVX512 void gemv_avx512(const GemmProblem& p, int64_t b, int64_t e, float* widened) {
    gemv_body<16>(p, b, e, widened);
}

SN_TARGET_AVX2 void pack_w_avx2(const GemmProblem& p, const GemmSlice& s, int64_t b, int64_t e, float* row) {
    pack_w_body<16>(p, s, b, e, row);
}
SN_TARGET_AVX2 void tile_avx2(const GemmProblem& p, const GemmSlice& s, const GemmTile& t) {
    gemm_tile_body<8, 6, 2>(p, s, t);
}
SN_TARGET_AVX2 void gemv_avx2(const GemmProblem& p, int64_t b, int64_t e, float* widened) {
    gemv_body<8>(p, b, e, widened);
}

void pack_w_baseline(const GemmProblem& p, const GemmSlice& s, int64_t b, int64_t e, float* row) {
    pack_w_body<8>(p, s, b, e, row);
}
void tile_baseline(const GemmProblem& p, const GemmSlice& s, const GemmTile& t) {
    gemm_tile_body<4, 6, 2>(p, s, t);
}
void gemv_baseline(const GemmProblem& p, int64_t b, int64_t e, float* widened) {
    gemv_body<4>(p, b, e, widened);
}

struct GemmVariant {
    int64_t mr, nr;
    void (*pack_w)(const GemmProblem&, const GemmSlice&, int64_t panel_begin, int64_t panel_end, float* row_buffer);
    void (*tile)(const GemmProblem&, const GemmSlice&, const GemmTile&);
    void (*gemv)(const GemmProblem&, int64_t n_begin, int64_t n_end, float* widened);
};

const GemmVariant& variant_for(Isa isa) {
    static const GemmVariant avx512{12, 32, pack_w_avx512, tile_avx512, gemv_avx512};
    static const GemmVariant avx2{6, 16, pack_w_avx2, tile_avx2, gemv_avx2};
    static const GemmVariant baseline{6, 8, pack_w_baseline, tile_baseline, gemv_baseline};
    switch (isa) {
        case Isa::avx512:
            return avx512;
        case Isa::avx2:
            return avx2;
        case Isa::baseline:
            break;
    }
    return baseline;
}

void run_gemv(const Context& context, const GemmVariant& variant, const GemmProblem& problem, float* scratch) {
    const int threads = worker_count(context, problem.m * problem.n * problem.k);
#pragma omp parallel num_threads(threads)
    {
        // Partition by the team OpenMP actually gave us, which may be smaller than requested.
        const int64_t thread = omp_get_thread_num();
        const int64_t rows_per_thread = round_up(ceil_div(problem.n, omp_get_num_threads()), kGemvRowsPerStep);
        const int64_t begin = std::min(problem.n, thread * rows_per_thread);
        const int64_t end = std::min(problem.n, begin + rows_per_thread);
        if (begin < end) variant.gemv(problem, begin, end, scratch + thread * kGemvRowsPerStep * kGemvChunk);
    }
}

void run_gemm(const Context& context, const GemmVariant& variant, const GemmProblem& problem, float* packed_w,
              float* per_thread, size_t per_thread_floats) {
    const int64_t chunk_cols = std::min(round_up(problem.n, variant.nr), kChunkCols);
    // Equal K slices of at most kKcMax: K = 1024 runs as 3 × 342 rather than 384 + 384 + 256.
    const int64_t kc_step = ceil_div(problem.k, ceil_div(problem.k, kKcMax));
    const int threads = worker_count(context, problem.m * problem.n * problem.k / 8);
#pragma omp parallel num_threads(threads)
    {
        const int thread = omp_get_thread_num();
        const int team = omp_get_num_threads();
        float* packed_x = per_thread + static_cast<size_t>(thread) * per_thread_floats;
        float* row_buffer = packed_x + kMc * kKcMax;
        for (int64_t n0 = 0; n0 < problem.n; n0 += chunk_cols) {
            const int64_t cols = std::min(chunk_cols, problem.n - n0);
            const int64_t panels = ceil_div(cols, variant.nr);
            for (int64_t k0 = 0; k0 < problem.k; k0 += kc_step) {
                const GemmSlice slice{n0, cols, k0, std::min(kc_step, problem.k - k0), packed_w};
                const int64_t panel_begin = panels * thread / team;
                const int64_t panel_end = panels * (thread + 1) / team;
                variant.pack_w(problem, slice, panel_begin, panel_end, row_buffer);
#pragma omp barrier
                const int64_t row_blocks = ceil_div(problem.m, kMc);
                const int64_t col_blocks = ceil_div(cols, kNc);
#pragma omp for schedule(dynamic)
                for (int64_t task = 0; task < row_blocks * col_blocks; ++task) {
                    const int64_t m0 = (task / col_blocks) * kMc;
                    const int64_t c0 = (task % col_blocks) * kNc;
                    const GemmTile tile{m0, std::min(kMc, problem.m - m0), c0, std::min(kNc, cols - c0), packed_x};
                    variant.tile(problem, slice, tile);
                }
                // The implicit barrier of `omp for` keeps the next slice from repacking W early.
            }
        }
    }
}

// out[M, N] (+)= x·Wᵀ (+ bias) into a plain F32 buffer (a tensor's data, or an op's own buffer).
sn_status linear(Context& context, const Tensor& x, const Tensor& weight, const Tensor* bias_tensor, float* out,
                 bool accumulate) {
    const GemmVariant& variant = variant_for(host_isa());
    const int64_t n = weight.dims[0];
    const int64_t k = weight.dims[1];
    const int64_t m = x.rows();
    const int64_t threads = context.num_threads;

    // Scratch: [bias padded to NR] then the path's buffers.
    const size_t bias_floats = bias_tensor != nullptr ? aligned_count(static_cast<size_t>(round_up(n, variant.nr))) : 0;
    const bool gemv = m <= kGemvMaxRows;
    const int64_t chunk_cols = std::min(round_up(n, variant.nr), kChunkCols);
    const size_t packed_w_floats = gemv ? 0 : aligned_count(static_cast<size_t>(chunk_cols * kKcMax));
    const size_t per_thread_floats =
        aligned_count(static_cast<size_t>(gemv ? kGemvRowsPerStep * kGemvChunk : kMc * kKcMax + kKcMax));
    float* scratch = scratch_floats(bias_floats + packed_w_floats + static_cast<size_t>(threads) * per_thread_floats);

    float* bias = nullptr;
    if (bias_tensor != nullptr) {
        bias = scratch;
        widen_to_f32(bias_tensor->dtype, bias_tensor->data(), bias, n);
        std::fill(bias + n, bias + bias_floats, 0.0f);
    }
    const GemmProblem problem{x.data_as<float>(),
                              weight.data(),
                              weight.dtype,
                              bias,
                              out,
                              m,
                              n,
                              k,
                              accumulate};
    if (gemv) {
        run_gemv(context, variant, problem, scratch + bias_floats);
    } else {
        run_gemm(context, variant, problem, scratch + bias_floats, scratch + bias_floats + packed_w_floats,
                 per_thread_floats);
    }
    return SN_OK;
}

}  // namespace

sn_status matmul(Context& context, const MatmulArgs& args) {
    return linear(context, *args.x, *args.weight, args.bias, args.out->data_as<float>(), false);
}

sn_status matmul_add(Context& context, const MatmulArgs& args) {
    return linear(context, *args.x, *args.weight, args.bias, args.out->data_as<float>(), true);
}

sn_status matmul_into(Context& context, const Tensor& x, const Tensor& weight, const Tensor* bias, float* out) {
    return linear(context, x, weight, bias, out, false);
}

}  // namespace sn::cpu
