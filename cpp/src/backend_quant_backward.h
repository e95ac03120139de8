// Argument structs of the LUT-quantized linear, the per-row k-means that makes its LUTs and of the
// backward ops (the Fisher pass), in the
// convention of backend.h: tensors in API argument order, with role names matching the parameter
// names of squeeze_native.h; optional tensors may be null; remap_tensors(f) replaces every tensor
// pointer p by f(p) (graph capture records calls on its own copies of the tensors). Included by
// backend.h, whose SN_OP_LIST names these structs.
#pragma once

#include "objects.h"

#include <array>
#include <cstdint>

namespace sn {

// out[M, N] (=, or += when accumulate) x[M, K] · Wᵀ (+ bias), W = LUT-decoded codes + sparse CSR.
struct LutMatmulArgs {
    static constexpr std::array<const char*, 8> kRoles{"x",           "qweight",     "lut",  "sparse_rows",
                                                       "sparse_cols", "sparse_vals", "bias", "out"};
    const Tensor* x;            // [M, K] (rows flattened), K % 32 == 0
    const Tensor* qweight;      // I32 [K·bits/32, N]
    const Tensor* lut;          // F16 [N, 2^bits]
    const Tensor* sparse_rows;  // I32 [N + 1], or null (then cols and vals are null too)
    const Tensor* sparse_cols;  // I32 [nnz]
    const Tensor* sparse_vals;  // F16 [nnz]
    const Tensor* bias;         // [N] or null
    int32_t bits;               // 3 or 4
    bool accumulate;
    Tensor* out;  // [M, N]
    std::array<const Tensor*, 8> tensors() const {
        return {x, qweight, lut, sparse_rows, sparse_cols, sparse_vals, bias, out};
    }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        qweight = f(qweight);
        lut = f(lut);
        sparse_rows = f(sparse_rows);
        sparse_cols = f(sparse_cols);
        sparse_vals = f(sparse_vals);
        bias = f(bias);
        out = f(out);
    }
};

// packed = qweight (checkpoint layout I32 [K·bits/32, N]) in the backend's own layout
// (sn_lut_repacked_shape); K and N come from qweight's shape.
struct LutRepackArgs {
    static constexpr std::array<const char*, 2> kRoles{"qweight", "packed"};
    const Tensor* qweight;
    int32_t bits;
    Tensor* packed;
    std::array<const Tensor*, 2> tensors() const { return {qweight, packed}; }
    template <class F>
    void remap_tensors(F&& f) {
        qweight = f(qweight);
        packed = f(packed);
    }
};

// Per-row weighted exact k-means (sn_kmeans_rows): lut[r] = the 2^bits optimal centroids of row r,
// codes[r, i] = the index of the LUT entry nearest values[r, i] (0 for excluded positions).
struct KmeansRowsArgs {
    static constexpr std::array<const char*, 5> kRoles{"values", "weights", "excluded", "lut", "codes"};
    const Tensor* values;    // F32 [R, C]
    const Tensor* weights;   // F32 [R, C], or null (uniform)
    const Tensor* excluded;  // U8 or I32 [R, C], or null (none)
    int32_t bits;            // 1..8
    bool half_precision_lut;
    Tensor* lut;    // F32 [R, 2^bits]
    Tensor* codes;  // U8 [R, C]
    std::array<const Tensor*, 5> tensors() const { return {values, weights, excluded, lut, codes}; }
    template <class F>
    void remap_tensors(F&& f) {
        values = f(values);
        weights = f(weights);
        excluded = f(excluded);
        lut = f(lut);
        codes = f(codes);
    }
};

// dx[M, K] (=, or += when accumulate) dy[M, N] · weight[N, K].
struct MatmulBackwardInputArgs {
    static constexpr std::array<const char*, 3> kRoles{"dy", "weight", "dx"};
    const Tensor* dy;      // [M, N] (rows flattened)
    const Tensor* weight;  // [N, K]
    bool accumulate;
    Tensor* dx;  // [M, K]
    std::array<const Tensor*, 3> tensors() const { return {dy, weight, dx}; }
    template <class F>
    void remap_tensors(F&& f) {
        dy = f(dy);
        weight = f(weight);
        dx = f(dx);
    }
};

// fisher[N, K] += (dyᵀ · x)², elementwise square of the per-sample weight gradient.
struct FisherAccumulateArgs {
    static constexpr std::array<const char*, 3> kRoles{"dy", "x", "fisher"};
    const Tensor* dy;  // [T, N] (rows flattened)
    const Tensor* x;   // [T, K]
    Tensor* fisher;    // F32 [N, K]
    std::array<const Tensor*, 3> tensors() const { return {dy, x, fisher}; }
    template <class F>
    void remap_tensors(F&& f) {
        dy = f(dy);
        x = f(x);
        fisher = f(fisher);
    }
};

// rms_norm_backward and layer_norm_backward over the last dimension D (weight fixed, no bias
// term: a bias does not change the input gradient).
struct NormBackwardArgs {
    static constexpr std::array<const char*, 4> kRoles{"x", "weight", "dy", "dx"};
    const Tensor* x;
    const Tensor* weight;  // [D]
    float eps;
    const Tensor* dy;  // x's shape
    Tensor* dx;        // x's shape
    std::array<const Tensor*, 4> tensors() const { return {x, weight, dy, dx}; }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        weight = f(weight);
        dy = f(dy);
        dx = f(dx);
    }
};

struct SwigluBackwardArgs {
    static constexpr std::array<const char*, 5> kRoles{"gate", "up", "dy", "dgate", "dup"};
    const Tensor* gate;
    const Tensor* up;
    const Tensor* dy;
    Tensor* dgate;
    Tensor* dup;
    std::array<const Tensor*, 5> tensors() const { return {gate, up, dy, dgate, dup}; }
    template <class F>
    void remap_tensors(F&& f) {
        gate = f(gate);
        up = f(up);
        dy = f(dy);
        dgate = f(dgate);
        dup = f(dup);
    }
};

struct ActivationBackwardArgs {
    static constexpr std::array<const char*, 3> kRoles{"x", "dy", "dx"};
    sn_activation activation;  // validated by the API before the struct is built
    const Tensor* x;
    const Tensor* dy;
    Tensor* dx;  // may be dy
    std::array<const Tensor*, 3> tensors() const { return {x, dy, dx}; }
    template <class F>
    void remap_tensors(F&& f) {
        x = f(x);
        dy = f(dy);
        dx = f(dx);
    }
};

struct RopeBackwardArgs {
    static constexpr std::array<const char*, 3> kRoles{"dy", "positions", "dx"};
    const Tensor* dy;         // [T, H, Dh]
    const Tensor* positions;  // I32 [T]
    float theta;
    Tensor* dx;  // [T, H, Dh], may be dy
    std::array<const Tensor*, 3> tensors() const { return {dy, positions, dx}; }
    template <class F>
    void remap_tensors(F&& f) {
        dy = f(dy);
        positions = f(positions);
        dx = f(dx);
    }
};

struct AttentionBackwardArgs {
    static constexpr std::array<const char*, 8> kRoles{"q", "positions", "k", "v", "dout", "dq", "dk", "dv"};
    const Tensor* q;          // [T, Hq, Dh]
    const Tensor* positions;  // I32 [T], each in [0, T)
    const Tensor* k;          // [T, Hkv, Dh], row j holds position j
    const Tensor* v;          // [T, Hkv, Dh]
    int32_t window;           // 0: no sliding window
    float scale;
    const Tensor* dout;  // [T, Hq, Dh]
    Tensor* dq;          // [T, Hq, Dh]
    Tensor* dk;          // [T, Hkv, Dh]
    Tensor* dv;          // [T, Hkv, Dh]
    std::array<const Tensor*, 8> tensors() const { return {q, positions, k, v, dout, dq, dk, dv}; }
    template <class F>
    void remap_tensors(F&& f) {
        q = f(q);
        positions = f(positions);
        k = f(k);
        v = f(v);
        dout = f(dout);
        dq = f(dq);
        dk = f(dk);
        dv = f(dv);
    }
};

struct CrossEntropyBackwardArgs {
    static constexpr std::array<const char*, 3> kRoles{"logits", "targets", "dlogits"};
    const Tensor* logits;   // [T, V]
    const Tensor* targets;  // I32 [T]
    float scale;
    Tensor* dlogits;  // [T, V]
    std::array<const Tensor*, 3> tensors() const { return {logits, targets, dlogits}; }
    template <class F>
    void remap_tensors(F&& f) {
        logits = f(logits);
        targets = f(targets);
        dlogits = f(dlogits);
    }
};

}  // namespace sn
