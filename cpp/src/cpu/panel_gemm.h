// A general F32 matrix product for the ops whose operands are not the forward's x · Wᵀ:
//
//   C[m, n]  (=, +=, or += squared)  A[m, p] · B[p, n]  (+ bias[n])
//
// A is read through strides (so it can be a transposed view, e.g. dyᵀ for the weight gradient);
// B is produced panel by panel by a PanelSource, so it can be a strided matrix of any float dtype
// (widened while packing) or something decoded on the fly (the LUT-quantized weight).
//
// Users: matmul_backward_input (dx = dy · W), fisher_accumulate (fisher += (dyᵀ · x)²) and the
// prefill path of lut_matmul (x · Wᵀ with W decoded from codes). See panel_gemm.cpp for the blocking.
#pragma once

#include "backend.h"

#include <cstddef>
#include <cstdint>

namespace sn::cpu {

// Depth (p) of one packed slice. A multiple of 32, so slices never split a 32-input group of
// LUT codes (PanelSource::pack relies on it when p counts inputs of a quantized weight).
constexpr int64_t kPanelDepth = 256;

// Element (i, j) at data[i·row_stride + j·col_stride].
struct StridedF32 {
    const float* data;
    int64_t row_stride;
    int64_t col_stride;
};

// B's rows [p0, p0 + depth) × columns [j0, j0 + width), written as ceil(width / nr) column panels
// of [depth][nr] floats (panel q at panels + q·depth·nr; element (p, j) of the panel at p·nr + j),
// the columns past `width` zero. p0 is a multiple of kPanelDepth; depth is kPanelDepth except
// for the last slice. Called concurrently from several threads with disjoint `panels`.
struct PanelSource {
    void (*pack)(const void* state, int64_t p0, int64_t depth, int64_t j0, int64_t width, int64_t nr, float* panels);
    const void* state;
};

// B as a strided matrix of F32, F16 or BF16 elements: element (p, j) at data[p·row_stride + j·col_stride].
struct StridedSource {
    const void* data;
    sn_dtype dtype;
    int64_t row_stride;
    int64_t col_stride;
};
PanelSource panel_source(const StridedSource* source);  // `source` must outlive the product

enum class Epilogue {
    store,       // C = A·B + bias
    add,         // C += A·B + bias
    add_square,  // C += (A·B)² (bias must be null)
};

struct PanelGemm {
    int64_t m, n, p;
    StridedF32 a;   // [m, p]
    PanelSource b;  // [p, n]
    float* c;       // [m, n] with row stride ldc
    int64_t ldc;
    const float* bias;  // [n] or null
    Epilogue epilogue;
};

// Floats of workspace panel_gemm needs for `context` (per-thread packs and an output tile).
size_t panel_gemm_workspace_floats(const Context& context);

// Runs the product on up to context.num_threads threads. `workspace` holds
// panel_gemm_workspace_floats(context) floats, 64-byte aligned.
void panel_gemm(const Context& context, const PanelGemm& gemm, float* workspace);

}  // namespace sn::cpu
