// LUT-quantized linear (SqueezeLLM): out[M, N] (=, +=) x[M, K] · Wᵀ (+ bias), where
//   W[n, k] = lut[n, code(n, k)] + Σ sparse entries of row n at column k.
//
// ---- The packed layout (the reference checkpoint's, bit for bit; LutPacking.cs packs it) ---------
//
// qweight is I32 [K·bits/32, N], row-major: the codes of output row n run DOWN column n, packed
// along the input dimension. Inputs 32g .. 32g+31 ("group" g) fill `bits` consecutive words of the
// column, rows bits·g .. bits·g + bits − 1, so the words of one column are N int32 apart.
//
//   4 bits, word r = 4g + u of column n holds inputs 8r .. 8r+7, input 8r+j at bits 4j .. 4j+3:
//     bit  31    28 27    24 23    20 19    16 15    12 11     8 7      4 3      0
//         [  8r+7  |  8r+6  |  8r+5  |  8r+4  |  8r+3  |  8r+2  |  8r+1  |  8r+0  ]
//
//   3 bits (GPTQ), input 32g + t in words 3g, 3g+1, 3g+2; t = 10 and t = 21 straddle two words:
//     3g+0: t0..t9 at bits 3t..3t+2;           bits 0..1 of t10 at 30..31
//     3g+1: bit 2 of t10 at bit 0;  t11..t20 at bits 3(t−11)+1 ..;  bit 0 of t21 at bit 31
//     3g+2: bits 1..2 of t21 at 0..1;          t22..t31 at bits 3(t−22)+2 ..
//
// Both are one rule: the group's words, word 0 lowest, form a little-endian bit stream of 32·bits
// bits in which code t occupies bits bits·t .. bits·t + bits − 1. The decoders below read code t as
//   (word[q] >> s | word[q+1] << (32 − s)) & (2^bits − 1),   q = bits·t / 32, s = bits·t % 32,
// the second term only when the code crosses into the next word (s + bits > 32; never for 4 bits).
//
// ---- The kernels --------------------------------------------------------------------------------
//
// Decoding a group: the column's LUT is widened once to F32 and padded to 16 entries, so it fits
// one register (AVX-512: one zmm, looked up with vpermps over 16 lanes; AVX2: two ymm, vpermps on
// each and a blend on bit 3 of the code; SSE2: scalar loads). The bits words are broadcast into a
// vector, every lane picks its word pair and shift from a constant table (CodeLayout), and one
// shift/or/and yields 16 (or 8) codes at once.
//
// M <= kGemvMaxRows (decode): memory-bound, qweight is streamed once. Threads own ranges of whole
//   16-column blocks (one 64-byte line of every qweight row). A thread walks down K once per block
//   of COLS columns (16 for one row of x on AVX-512): per group it loads the 32 inputs of each x
//   row, then for each column of the block loads the column's LUT, gathers its words from the
//   group's lines, decodes 32 weights and FMAs them into that column's register accumulators.
//   So each line is used by all its columns right after it arrives. Walking down one column at a
//   time instead re-read every line 16 times, and when N·4 bytes is a multiple of 4 KiB (N = 4096)
//   all lines of a column fall in the same cache sets and were evicted before their reuse (measured
//   at M = 1, 4096×4096 4-bit, one thread of the shared 2-core AVX-512 build machine: 19 ms that
//   way, 2.5-2.7 ms this way; noisy machine, ratios only). The lines kPrefetchGroups groups ahead
//   are prefetched: a walk with a stride of N·4 bytes is not followed by the hardware prefetchers.
// M > kGemvMaxRows (prefill): panel_gemm with B decoded panel by panel (the 32-input groups
//   decoded into [depth][NR] panels), so each weight is decoded once per kMc rows of x.
// The sparse part is added per output row: out[m, n] += Σ_j vals[j] · x[m, cols[j]].
#include "cpu/convert.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "cpu/panel_gemm.h"
#include "cpu/scratch.h"
#include "error.h"
#include "half.h"

#include <algorithm>
#include <cstring>
#include <immintrin.h>
#include <omp.h>

namespace sn::cpu {
namespace {

constexpr int64_t kGroup = 32;        // inputs per packed group
constexpr int64_t kGemvMaxRows = 4;   // up to this many rows of x: the streaming path
constexpr int64_t kLutStride = 16;    // F32 LUT rows, padded to 16 entries (one zmm)
constexpr int64_t kLineColumns = 16;  // int32 columns of qweight in one 64-byte line (thread ranges align to it)

// Where code t of a group sits in the group's words (see the layout above). `next` is the word
// holding the code's high bits when it straddles; it is clamped to 3 so that every index selects
// one of the four words loaded (for codes that do not straddle, that word's bits are masked off:
// it is shifted left by 32 − s >= bits).
struct CodeLayout {
    int32_t word[32];
    int32_t next[32];
    int32_t shift[32];
    int32_t left[32];  // 32 − shift: a variable left shift by 32 gives 0 on AVX2/AVX-512
};

constexpr CodeLayout make_layout(int bits) {
    CodeLayout layout{};
    for (int t = 0; t < 32; ++t) {
        const int offset = bits * t;
        layout.word[t] = offset / 32;
        layout.next[t] = std::min(offset / 32 + 1, 3);
        layout.shift[t] = offset % 32;
        layout.left[t] = 32 - offset % 32;
    }
    return layout;
}

template <int BITS>
struct Layout {
    static constexpr CodeLayout value = make_layout(BITS);
};

struct LutProblem {
    const float* x;          // [m, k]
    const int32_t* qweight;  // [k·bits/32, n]
    const float* lut;        // [n][kLutStride], F32
    const int32_t* rows;     // CSR [n + 1], or null
    const int32_t* cols;     // [nnz]
    const uint16_t* vals;    // F16 [nnz]
    const float* bias;       // [n] F32, or null
    float* out;              // [m, n]
    int64_t m, n, k;
    bool accumulate;
};

// The decoders' methods carry their instruction set's target attribute, so they cannot be forced
// inline into the shared (target-less) loop templates; `flatten` on each per-ISA entry point
// inlines the whole call tree there instead, where the targets agree.
#define SN_FLATTEN __attribute__((flatten))

// ---- Decoders: 32 weights of column n, group g -> out[32] --------------------------------------
// `column` points at the group's first word (qweight[bits·g][n]); the others follow `stride`
// (= N) int32 apart.

template <int BITS>
struct ScalarDecoder {
    static constexpr int kBits = BITS;
    const float* lut = nullptr;

    SN_ALWAYS_INLINE void set_row(const float* lut_row) { lut = lut_row; }
    SN_ALWAYS_INLINE void decode(const int32_t* column, int64_t stride, float* out) const {
        constexpr uint32_t mask = (1u << BITS) - 1;
        constexpr const CodeLayout& layout = Layout<BITS>::value;
        uint32_t words[4] = {};
        for (int w = 0; w < BITS; ++w) words[w] = static_cast<uint32_t>(column[w * stride]);
        for (int t = 0; t < 32; ++t) {
            const uint32_t low = words[layout.word[t]] >> layout.shift[t];
            const uint32_t high = layout.shift[t] == 0 ? 0u : words[layout.next[t]] << layout.left[t];
            out[t] = lut[(low | high) & mask];
        }
    }
};

// Entries 8q .. 8q+7 (16h .. 16h+15) of a CodeLayout table as a vector.
SN_TARGET_AVX2 SN_ALWAYS_INLINE __m256i lanes8(const int32_t* table, int q) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 * q));
}
SN_TARGET_AVX512 SN_ALWAYS_INLINE __m512i lanes16(const int32_t* table, int h) {
    return _mm512_loadu_si512(table + 16 * h);
}

template <int BITS>
struct Avx2Decoder {
    static constexpr int kBits = BITS;
    __m256 lut_low;   // entries 0..7
    __m256 lut_high;  // entries 8..15 (4 bits only)

    SN_TARGET_AVX2 void set_row(const float* lut_row) {
        lut_low = _mm256_loadu_ps(lut_row);
        lut_high = _mm256_loadu_ps(lut_row + 8);
    }
    SN_TARGET_AVX2 void decode(const int32_t* column, int64_t stride, float* out) const {
        constexpr const CodeLayout& layout = Layout<BITS>::value;
        const __m256i words = _mm256_broadcastsi128_si256(
            _mm_setr_epi32(column[0], column[stride], column[2 * stride], BITS == 4 ? column[3 * stride] : 0));
        const __m256i mask = _mm256_set1_epi32((1 << BITS) - 1);
        for (int q = 0; q < 4; ++q) {
            const __m256i low =
                _mm256_srlv_epi32(_mm256_permutevar8x32_epi32(words, lanes8(layout.word, q)), lanes8(layout.shift, q));
            const __m256i high =
                _mm256_sllv_epi32(_mm256_permutevar8x32_epi32(words, lanes8(layout.next, q)), lanes8(layout.left, q));
            const __m256i code = _mm256_and_si256(_mm256_or_si256(low, high), mask);
            __m256 value = _mm256_permutevar8x32_ps(lut_low, code);
            if (BITS == 4) {
                // vpermps reads the low 3 bits of each index; bit 3 picks the upper half of the LUT.
                const __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(code, 28));
                value = _mm256_blendv_ps(value, _mm256_permutevar8x32_ps(lut_high, code), upper);
            }
            _mm256_storeu_ps(out + 8 * q, value);
        }
    }
};

template <int BITS>
struct Avx512Decoder {
    static constexpr int kBits = BITS;
    __m512 lut;

    SN_TARGET_AVX512 void set_row(const float* lut_row) { lut = _mm512_loadu_ps(lut_row); }
    // The zero-masked intrinsic forms with a full mask: GCC 12 warns (falsely) about the undefined
    // pass-through operand of the unmasked ones, as in convert.cpp.
    SN_TARGET_AVX512 void decode(const int32_t* column, int64_t stride, float* out) const {
        constexpr const CodeLayout& layout = Layout<BITS>::value;
        constexpr __mmask16 all = 0xFFFF;
        const __m512i words = _mm512_maskz_broadcast_i32x4(
            all, _mm_setr_epi32(column[0], column[stride], column[2 * stride], BITS == 4 ? column[3 * stride] : 0));
        const __m512i mask = _mm512_set1_epi32((1 << BITS) - 1);
        for (int h = 0; h < 2; ++h) {
            const __m512i low = _mm512_maskz_srlv_epi32(
                all, _mm512_maskz_permutexvar_epi32(all, lanes16(layout.word, h), words), lanes16(layout.shift, h));
            const __m512i high = _mm512_maskz_sllv_epi32(
                all, _mm512_maskz_permutexvar_epi32(all, lanes16(layout.next, h), words), lanes16(layout.left, h));
            const __m512i code = _mm512_and_si512(_mm512_or_si512(low, high), mask);
            _mm512_storeu_ps(out + 16 * h, _mm512_maskz_permutexvar_ps(all, code, lut));
        }
    }
};

// ---- Streaming path (small M) ------------------------------------------------------------------

SN_ALWAYS_INLINE float sparse_dot(const LutProblem& p, int64_t n, const float* x_row) {
    if (p.rows == nullptr) return 0.0f;
    float sum = 0.0f;
    for (int32_t j = p.rows[n]; j < p.rows[n + 1]; ++j) sum += ::sn::f16_to_f32(p.vals[j]) * x_row[p.cols[j]];
    return sum;
}

// Groups ahead of the one being decoded whose lines are requested. Empirical: without the prefetch
// M = 1 took 1.3-2x longer (4096×4096 and 11008×4096, 3 and 4 bits, shared build machine).
constexpr int64_t kPrefetchGroups = 8;

// out[0..ROWS)[n0 .. n0+COLS) for columns [n_begin, n_end). Walks down K once per COLS columns,
// consuming each qweight line (16 columns) right after it arrives; COLS·ROWS vector accumulators
// stay in registers. Columns past n_end in the last block repeat the last column (never stored).
template <int W, int ROWS, int COLS, class Decoder>
SN_ALWAYS_INLINE void gemv_body(const LutProblem& p, int64_t n_begin, int64_t n_end) {
    using V = typename vec<W>::f32;
    constexpr int BITS = Decoder::kBits;
    constexpr int kVectors = kGroup / W;
    const int64_t groups = p.k / kGroup;
    alignas(64) float weights[kGroup];
    Decoder decoder;
    for (int64_t n0 = n_begin; n0 < n_end; n0 += COLS) {
        int64_t columns[COLS];
        for (int c = 0; c < COLS; ++c) columns[c] = std::min(n0 + c, n_end - 1);
        V acc[COLS][ROWS];
        for (int c = 0; c < COLS; ++c) {
            for (int r = 0; r < ROWS; ++r) acc[c][r] = V{};
        }
        for (int64_t g = 0; g < groups; ++g) {
            if (g + kPrefetchGroups < groups) {
                for (int w = 0; w < BITS; ++w) {
                    __builtin_prefetch(p.qweight + ((g + kPrefetchGroups) * BITS + w) * p.n + n0);
                }
            }
            V x[ROWS][kVectors];
            for (int r = 0; r < ROWS; ++r) {
                for (int v = 0; v < kVectors; ++v) x[r][v] = load_vec<V>(p.x + r * p.k + g * kGroup + v * W);
            }
            const int32_t* words = p.qweight + g * BITS * p.n;
            for (int c = 0; c < COLS; ++c) {
                decoder.set_row(p.lut + columns[c] * kLutStride);
                decoder.decode(words + columns[c], p.n, weights);
                for (int r = 0; r < ROWS; ++r) {
                    for (int v = 0; v < kVectors; ++v) acc[c][r] += load_vec<V>(weights + v * W) * x[r][v];
                }
            }
        }
        for (int c = 0; c < COLS && n0 + c < n_end; ++c) {
            const int64_t n = n0 + c;
            for (int r = 0; r < ROWS; ++r) {
                float sum = 0.0f;
                for (int i = 0; i < W; ++i) sum += acc[c][r][i];
                sum += sparse_dot(p, n, p.x + r * p.k);
                if (p.bias != nullptr) sum += p.bias[n];
                float* target = p.out + r * p.n + n;
                *target = p.accumulate ? *target + sum : sum;
            }
        }
    }
}

// ACCUMULATORS: vector registers spent on sums (16 of the 32 zmm; 8 of the 16 ymm/xmm).
template <int W, int ACCUMULATORS, template <int> class Decoder>
SN_ALWAYS_INLINE void gemv_dispatch(const LutProblem& p, int bits, int64_t n_begin, int64_t n_end) {
    constexpr int A = ACCUMULATORS;
    switch (p.m * 8 + bits) {
        case 1 * 8 + 3:
            return gemv_body<W, 1, A, Decoder<3>>(p, n_begin, n_end);
        case 1 * 8 + 4:
            return gemv_body<W, 1, A, Decoder<4>>(p, n_begin, n_end);
        case 2 * 8 + 3:
            return gemv_body<W, 2, A / 2, Decoder<3>>(p, n_begin, n_end);
        case 2 * 8 + 4:
            return gemv_body<W, 2, A / 2, Decoder<4>>(p, n_begin, n_end);
        case 3 * 8 + 3:
            return gemv_body<W, 3, A / 3, Decoder<3>>(p, n_begin, n_end);
        case 3 * 8 + 4:
            return gemv_body<W, 3, A / 3, Decoder<4>>(p, n_begin, n_end);
        case 4 * 8 + 3:
            return gemv_body<W, 4, A / 4, Decoder<3>>(p, n_begin, n_end);
        default:
            return gemv_body<W, 4, A / 4, Decoder<4>>(p, n_begin, n_end);
    }
}

SN_TARGET_AVX512 SN_FLATTEN void gemv_avx512(const LutProblem& p, int bits, int64_t n_begin, int64_t n_end) {
    gemv_dispatch<16, 16, Avx512Decoder>(p, bits, n_begin, n_end);
}
SN_TARGET_AVX2 SN_FLATTEN void gemv_avx2(const LutProblem& p, int bits, int64_t n_begin, int64_t n_end) {
    gemv_dispatch<8, 8, Avx2Decoder>(p, bits, n_begin, n_end);
}
void gemv_baseline(const LutProblem& p, int bits, int64_t n_begin, int64_t n_end) {
    gemv_dispatch<4, 8, ScalarDecoder>(p, bits, n_begin, n_end);
}

// ---- Panel path (large M): B[k, n] = W[n, k] decoded into panel_gemm's [depth][nr] panels -----

template <class Decoder>
SN_ALWAYS_INLINE void pack_body(const void* state, int64_t p0, int64_t depth, int64_t j0, int64_t width, int64_t nr,
                                float* panels) {
    const LutProblem& p = *static_cast<const LutProblem*>(state);
    constexpr int BITS = Decoder::kBits;
    alignas(64) float weights[kGroup];
    Decoder decoder;
    for (int64_t j = 0; j < width; ++j) {
        const int64_t n = j0 + j;
        float* lane = panels + (j / nr) * depth * nr + j % nr;
        decoder.set_row(p.lut + n * kLutStride);
        for (int64_t g = p0 / kGroup; g < (p0 + depth) / kGroup; ++g) {
            decoder.decode(p.qweight + g * BITS * p.n + n, p.n, weights);
            float* destination = lane + (g * kGroup - p0) * nr;
            for (int64_t t = 0; t < kGroup; ++t) destination[t * nr] = weights[t];
        }
    }
    const int64_t padded = (width + nr - 1) / nr * nr;
    for (int64_t j = width; j < padded; ++j) {
        float* lane = panels + (j / nr) * depth * nr + j % nr;
        for (int64_t k = 0; k < depth; ++k) lane[k * nr] = 0.0f;
    }
}

SN_TARGET_AVX512 SN_FLATTEN void pack_avx512_3(const void* s, int64_t p0, int64_t d, int64_t j0, int64_t w, int64_t nr,
                                               float* out) {
    pack_body<Avx512Decoder<3>>(s, p0, d, j0, w, nr, out);
}
SN_TARGET_AVX512 SN_FLATTEN void pack_avx512_4(const void* s, int64_t p0, int64_t d, int64_t j0, int64_t w, int64_t nr,
                                               float* out) {
    pack_body<Avx512Decoder<4>>(s, p0, d, j0, w, nr, out);
}
SN_TARGET_AVX2 SN_FLATTEN void pack_avx2_3(const void* s, int64_t p0, int64_t d, int64_t j0, int64_t w, int64_t nr,
                                           float* out) {
    pack_body<Avx2Decoder<3>>(s, p0, d, j0, w, nr, out);
}
SN_TARGET_AVX2 SN_FLATTEN void pack_avx2_4(const void* s, int64_t p0, int64_t d, int64_t j0, int64_t w, int64_t nr,
                                           float* out) {
    pack_body<Avx2Decoder<4>>(s, p0, d, j0, w, nr, out);
}
void pack_baseline_3(const void* s, int64_t p0, int64_t d, int64_t j0, int64_t w, int64_t nr, float* out) {
    pack_body<ScalarDecoder<3>>(s, p0, d, j0, w, nr, out);
}
void pack_baseline_4(const void* s, int64_t p0, int64_t d, int64_t j0, int64_t w, int64_t nr, float* out) {
    pack_body<ScalarDecoder<4>>(s, p0, d, j0, w, nr, out);
}

// ---- Checks of the data (the API checked shapes and dtypes) -------------------------------------

sn_status check_sparse(const LutProblem& p, int64_t nnz) {
    SN_CHECK(p.rows[0] == 0, SN_ERR_INVALID_ARGUMENT, "sparse_rows[0] = %d; a CSR row pointer starts at 0", p.rows[0]);
    for (int64_t n = 0; n < p.n; ++n) {
        SN_CHECK(p.rows[n + 1] >= p.rows[n], SN_ERR_INVALID_ARGUMENT,
                 "sparse_rows[%lld] = %d is less than sparse_rows[%lld] = %d (row pointers must not decrease)",
                 static_cast<long long>(n + 1), p.rows[n + 1], static_cast<long long>(n), p.rows[n]);
    }
    SN_CHECK(p.rows[p.n] == nnz, SN_ERR_INVALID_ARGUMENT,
             "sparse_rows[N] = sparse_rows[%lld] = %d must equal nnz = %lld (the length of sparse_cols)",
             static_cast<long long>(p.n), p.rows[p.n], static_cast<long long>(nnz));
    for (int64_t j = 0; j < nnz; ++j) {
        SN_CHECK(p.cols[j] >= 0 && p.cols[j] < p.k, SN_ERR_INVALID_ARGUMENT,
                 "sparse_cols[%lld] = %d is outside [0, K) with K = %lld", static_cast<long long>(j), p.cols[j],
                 static_cast<long long>(p.k));
    }
    return SN_OK;
}

void add_sparse_rows(const Context& context, const LutProblem& p) {
    const int threads = worker_count(context, p.m * p.rows[p.n] * 4 + p.n);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < p.n; ++n) {
        if (p.rows[n] == p.rows[n + 1]) continue;
        for (int64_t m = 0; m < p.m; ++m) p.out[m * p.n + n] += sparse_dot(p, n, p.x + m * p.k);
    }
}

}  // namespace

sn_status lut_matmul_into(Context& context, const LutMatmulArgs& args, float* out) {
    const int64_t n = args.lut->dims[0];
    const int64_t k = args.x->last_dim();
    const int64_t m = args.x->rows();
    const int64_t entries = int64_t{1} << args.bits;
    const bool sparse = args.sparse_rows != nullptr;
    LutProblem problem{
        args.x->data_as<const float>(),
        args.qweight->data_as<const int32_t>(),
        nullptr,
        sparse ? args.sparse_rows->data_as<const int32_t>() : nullptr,
        sparse ? args.sparse_cols->data_as<const int32_t>() : nullptr,
        sparse ? args.sparse_vals->data_as<const uint16_t>() : nullptr,
        nullptr,
        out,
        m,
        n,
        k,
        args.accumulate,
    };
    if (sparse) SN_TRY(check_sparse(problem, args.sparse_cols->numel));

    // Scratch: LUT [n][16] F32 | bias [n] | panel_gemm workspace (large M only).
    const bool streaming = m <= kGemvMaxRows;
    const size_t lut_floats = aligned_count(static_cast<size_t>(n * kLutStride));
    const size_t bias_floats = args.bias != nullptr ? aligned_count(static_cast<size_t>(n)) : 0;
    float* scratch = scratch_floats(lut_floats + bias_floats + (streaming ? 0 : panel_gemm_workspace_floats(context)));
    float* lut = scratch;
    const uint16_t* lut_halves = args.lut->data_as<const uint16_t>();
    for (int64_t row = 0; row < n; ++row) {
        f16_to_f32(lut_halves + row * entries, lut + row * kLutStride, entries);
        std::fill(lut + row * kLutStride + entries, lut + (row + 1) * kLutStride, 0.0f);
    }
    problem.lut = lut;
    if (args.bias != nullptr) {
        float* bias = scratch + lut_floats;
        widen_to_f32(args.bias->dtype, args.bias->data(), bias, n);
        problem.bias = bias;
    }

    const Isa isa = host_isa();
    if (streaming) {
        auto gemv = isa == Isa::avx512 ? gemv_avx512 : isa == Isa::avx2 ? gemv_avx2 : gemv_baseline;
        const int64_t blocks = (n + kLineColumns - 1) / kLineColumns;
        const int threads = static_cast<int>(std::min<int64_t>(blocks, worker_count(context, m * n * k)));
#pragma omp parallel num_threads(threads)
        {
            // Contiguous ranges of whole 16-column blocks, partitioned by the team actually granted.
            const int64_t team = omp_get_num_threads();
            const int64_t thread = omp_get_thread_num();
            const int64_t begin = std::min(n, blocks * thread / team * kLineColumns);
            const int64_t end = std::min(n, blocks * (thread + 1) / team * kLineColumns);
            if (begin < end) gemv(problem, args.bits, begin, end);
        }
        return SN_OK;
    }

    using PackFunction = void (*)(const void*, int64_t, int64_t, int64_t, int64_t, int64_t, float*);
    PackFunction pack = args.bits == 3 ? pack_baseline_3 : pack_baseline_4;
    if (isa == Isa::avx512) pack = args.bits == 3 ? pack_avx512_3 : pack_avx512_4;
    if (isa == Isa::avx2) pack = args.bits == 3 ? pack_avx2_3 : pack_avx2_4;
    const PanelGemm gemm{
        m,
        n,
        k,
        StridedF32{problem.x, k, 1},
        PanelSource{pack, &problem},
        problem.out,
        n,
        problem.bias,
        args.accumulate ? Epilogue::add : Epilogue::store,
    };
    panel_gemm(context, gemm, scratch + lut_floats + bias_floats);
    if (sparse) add_sparse_rows(context, problem);
    return SN_OK;
}

sn_status lut_matmul(Context& context, const LutMatmulArgs& args) {
    return lut_matmul_into(context, args, args.out->data_as<float>());
}

// The CPU backend reads the checkpoint layout directly (the decoders above), so its repacked
// layout is that layout and repacking is a copy.
sn_status lut_repack(Context&, const LutRepackArgs& args) {
    std::memcpy(args.packed->data(), args.qweight->data(), static_cast<size_t>(args.qweight->nbytes()));
    return SN_OK;
}

}  // namespace sn::cpu
