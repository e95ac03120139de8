// C[m, n] (=, +=, += squared) A[m, p] · B[p, n]: BLIS-style packing around one register-blocked
// micro-kernel, with each task owning a whole tile of C so the epilogue sees finished sums.
//
//   tasks: kMc × kNc tiles of C, dynamic schedule (row-block-major, so consecutive tasks on one
//   thread often share the rows of A)
//   per task, for each slice of kPanelDepth along p:
//     pack A[tile rows, slice] into MR-tall panels  [depth][MR]   (zero rows past m)
//     pack B[slice, tile cols] into NR-wide panels  [depth][NR]   (PanelSource: widened/decoded here)
//     for each NR panel of B, for each MR panel of A:
//       micro-kernel: acc[MR][NR] in registers over the slice, then tile[MR][NR] (=, first slice | +=) acc
//   epilogue: C[tile] = tile + bias | C[tile] += tile + bias | C[tile] += tile²
//
// Why a private tile instead of accumulating in C: the Fisher epilogue squares the complete sum
// over p, and p (tokens) may span several slices. The tile (kMc × kNc floats, 60 KiB) stays in L2.
// Sizes (empirical, as in matmul.cpp): an A block kMc × kPanelDepth (120 KiB) lives in L2 while each
// B panel (kPanelDepth × NR, 32 KiB for avx512) is reused from L1 by the kMc/MR micro-kernel calls.
// Packing costs O((kMc + kNc)·depth) per O(kMc·kNc·depth) multiply-adds, about 1/60.
//
// Micro-kernels as matmul.cpp: avx512 12×32 (24 zmm accumulators), avx2 6×16, baseline SSE2 6×8.
#include "cpu/panel_gemm.h"

#include "cpu/convert.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/scratch.h"
#include "half.h"

#include <algorithm>
#include <cstring>
#include <omp.h>

namespace sn::cpu {
namespace {

constexpr int64_t kMc = 120;  // a multiple of every MR (12, 6)
constexpr int64_t kNc = 128;  // a multiple of every NR (32, 16, 8)
static_assert(kPanelDepth % 32 == 0, "slices must not split a 32-input group of LUT codes");

constexpr int64_t round_up(int64_t value, int64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

struct Workspace {
    float* a;     // [kMc / MR][kPanelDepth][MR]
    float* b;     // [kNc / NR][kPanelDepth][NR]
    float* tile;  // [kMc][kNc]
};

constexpr size_t kThreadFloats =
    aligned_count(kMc * kPanelDepth) + aligned_count(kPanelDepth * kNc) + aligned_count(kMc * kNc);

Workspace carve(float* base) {
    Workspace ws{};
    ws.a = base;
    ws.b = ws.a + aligned_count(kMc * kPanelDepth);
    ws.tile = ws.b + aligned_count(kPanelDepth * kNc);
    return ws;
}

template <int MR>
SN_ALWAYS_INLINE void pack_a_body(const StridedF32& a, int64_t i0, int64_t rows, int64_t p0, int64_t depth,
                                  float* packed) {
    for (int64_t first = 0; first < rows; first += MR) {
        float* panel = packed + first * depth;
        const int64_t valid = std::min<int64_t>(MR, rows - first);
        const float* origin = a.data + (i0 + first) * a.row_stride + p0 * a.col_stride;
        if (a.row_stride == 1) {
            // Rows of the panel are adjacent in memory (A is a transposed view): walk p outermost.
            for (int64_t p = 0; p < depth; ++p) {
                for (int64_t i = 0; i < MR; ++i) panel[p * MR + i] = i < valid ? origin[p * a.col_stride + i] : 0.0f;
            }
        } else {
            for (int64_t i = 0; i < MR; ++i) {
                for (int64_t p = 0; p < depth; ++p) {
                    panel[p * MR + i] = i < valid ? origin[i * a.row_stride + p * a.col_stride] : 0.0f;
                }
            }
        }
    }
}

// tile[MR][NR] (row stride kNc) = (first ? 0 : tile) + a_panel · b_panel over `depth`.
template <int W, int MR, int NV>
SN_ALWAYS_INLINE void micro_kernel(int64_t depth, const float* a_panel, const float* b_panel, float* tile, bool first) {
    using V = typename vec<W>::f32;
    constexpr int NR = W * NV;
    V acc[MR][NV];
    for (int i = 0; i < MR; ++i) {
        for (int v = 0; v < NV; ++v) acc[i][v] = V{};
    }
    for (int64_t p = 0; p < depth; ++p) {
        V b_values[NV];
        for (int v = 0; v < NV; ++v) b_values[v] = load_vec<V>(b_panel + p * NR + v * W);
        for (int i = 0; i < MR; ++i) {
            const V a_value = splat<V>(a_panel[p * MR + i]);
            for (int v = 0; v < NV; ++v) acc[i][v] += a_value * b_values[v];
        }
    }
    for (int i = 0; i < MR; ++i) {
        for (int v = 0; v < NV; ++v) {
            float* target = tile + i * kNc + v * W;
            store_vec(target, first ? acc[i][v] : acc[i][v] + load_vec<V>(target));
        }
    }
}

SN_ALWAYS_INLINE void epilogue_body(const PanelGemm& g, int64_t i0, int64_t rows, int64_t j0, int64_t cols,
                                    const float* tile) {
    const float* bias = g.bias != nullptr ? g.bias + j0 : nullptr;
    for (int64_t i = 0; i < rows; ++i) {
        float* c = g.c + (i0 + i) * g.ldc + j0;
        const float* t = tile + i * kNc;
        switch (g.epilogue) {
            case Epilogue::store:
                if (bias != nullptr) {
#pragma omp simd
                    for (int64_t j = 0; j < cols; ++j) c[j] = t[j] + bias[j];
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < cols; ++j) c[j] = t[j];
                }
                break;
            case Epilogue::add:
                if (bias != nullptr) {
#pragma omp simd
                    for (int64_t j = 0; j < cols; ++j) c[j] += t[j] + bias[j];
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < cols; ++j) c[j] += t[j];
                }
                break;
            case Epilogue::add_square:
#pragma omp simd
                for (int64_t j = 0; j < cols; ++j) c[j] += t[j] * t[j];
                break;
        }
    }
}

template <int W, int MR, int NV>
SN_ALWAYS_INLINE void task_body(const PanelGemm& g, int64_t i0, int64_t rows, int64_t j0, int64_t cols,
                                const Workspace& ws) {
    constexpr int64_t NR = W * NV;
    const int64_t rows_padded = round_up(rows, MR);
    const int64_t cols_padded = round_up(cols, NR);
    for (int64_t p0 = 0; p0 < g.p; p0 += kPanelDepth) {
        const int64_t depth = std::min(kPanelDepth, g.p - p0);
        pack_a_body<MR>(g.a, i0, rows, p0, depth, ws.a);
        g.b.pack(g.b.state, p0, depth, j0, cols, NR, ws.b);
        for (int64_t jr = 0; jr < cols_padded; jr += NR) {
            for (int64_t ir = 0; ir < rows_padded; ir += MR) {
                micro_kernel<W, MR, NV>(depth, ws.a + ir * depth, ws.b + jr * depth, ws.tile + ir * kNc + jr, p0 == 0);
            }
        }
    }
    epilogue_body(g, i0, rows, j0, cols, ws.tile);
}

SN_TARGET_AVX512 void task_avx512(const PanelGemm& g, int64_t i0, int64_t rows, int64_t j0, int64_t cols,
                                  const Workspace& ws) {
    task_body<16, 12, 2>(g, i0, rows, j0, cols, ws);
}
SN_TARGET_AVX2 void task_avx2(const PanelGemm& g, int64_t i0, int64_t rows, int64_t j0, int64_t cols,
                              const Workspace& ws) {
    task_body<8, 6, 2>(g, i0, rows, j0, cols, ws);
}
void task_baseline(const PanelGemm& g, int64_t i0, int64_t rows, int64_t j0, int64_t cols, const Workspace& ws) {
    task_body<4, 6, 2>(g, i0, rows, j0, cols, ws);
}

float element_f32(sn_dtype dtype, const char* address) {
    if (dtype == SN_DTYPE_F32) {
        float value;
        std::memcpy(&value, address, sizeof value);
        return value;
    }
    uint16_t half;
    std::memcpy(&half, address, sizeof half);
    return dtype == SN_DTYPE_F16 ? ::sn::f16_to_f32(half) : ::sn::bf16_to_f32(half);
}

void pack_strided(const void* state, int64_t p0, int64_t depth, int64_t j0, int64_t width, int64_t nr, float* panels) {
    const StridedSource& source = *static_cast<const StridedSource*>(state);
    const int64_t element = static_cast<int64_t>(sn_dtype_size(source.dtype));
    const char* base = static_cast<const char*>(source.data);
    for (int64_t first = 0; first < width; first += nr) {
        float* panel = panels + first * depth;
        const int64_t valid = std::min(nr, width - first);
        for (int64_t p = 0; p < depth; ++p) {
            float* destination = panel + p * nr;
            const char* row = base + ((p0 + p) * source.row_stride + (j0 + first) * source.col_stride) * element;
            if (source.col_stride == 1) {
                widen_to_f32(source.dtype, row, destination, valid);
            } else {
                for (int64_t j = 0; j < valid; ++j) {
                    destination[j] = element_f32(source.dtype, row + j * source.col_stride * element);
                }
            }
            std::fill(destination + valid, destination + nr, 0.0f);
        }
    }
}

}  // namespace

PanelSource panel_source(const StridedSource* source) {
    return PanelSource{pack_strided, source};
}

size_t panel_gemm_workspace_floats(const Context& context) {
    return static_cast<size_t>(context.num_threads) * kThreadFloats;
}

void panel_gemm(const Context& context, const PanelGemm& gemm, float* workspace) {
    auto task = host_isa() == Isa::avx512 ? task_avx512 : host_isa() == Isa::avx2 ? task_avx2 : task_baseline;
    const int64_t row_blocks = (gemm.m + kMc - 1) / kMc;
    const int64_t col_blocks = (gemm.n + kNc - 1) / kNc;
    const int64_t tasks = row_blocks * col_blocks;
    const int threads = static_cast<int>(std::min<int64_t>(tasks, worker_count(context, gemm.m * gemm.n * gemm.p / 8)));
#pragma omp parallel num_threads(threads)
    {
        const Workspace ws = carve(workspace + static_cast<size_t>(omp_get_thread_num()) * kThreadFloats);
#pragma omp for schedule(dynamic)
        for (int64_t index = 0; index < tasks; ++index) {
            const int64_t i0 = (index / col_blocks) * kMc;
            const int64_t j0 = (index % col_blocks) * kNc;
            task(gemm, i0, std::min(kMc, gemm.m - i0), j0, std::min(kNc, gemm.n - j0), ws);
        }
    }
}

}  // namespace sn::cpu
