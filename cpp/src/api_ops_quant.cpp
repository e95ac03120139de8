// The exported LUT-quantized linear and the per-row k-means that quantizes for it: validate
// shapes, dtypes and aliasing against squeeze_native.h ("Quantized linears"), then run the
// backend's lut_matmul / kmeans_rows. Checks that depend
// on the data (CSR row pointers, column indices) belong to the backend (backend.h).
#include "backend.h"
#include "error.h"
#include "lut_layout.h"
#include "validate.h"

#include <array>

namespace {

using sn::kMaskFloat;
using sn::kMaskI32;
constexpr sn::DtypeMask kMaskF16 = sn::dtype_bit(SN_DTYPE_F16);
constexpr sn::DtypeMask kMaskU8 = sn::dtype_bit(SN_DTYPE_U8);

// The sparse part: all three tensors or none; rows I32 [N + 1], cols I32 [nnz], vals F16 [nnz].
sn_status validate_sparse(const sn::Context& context, const sn_tensor* rows, const sn_tensor* cols,
                          const sn_tensor* vals, int64_t n, sn::Tensor** live_rows, sn::Tensor** live_cols,
                          sn::Tensor** live_vals) {
    SN_TRY(sn::resolve_optional_tensor_in(context, rows, "sparse_rows", live_rows));
    SN_TRY(sn::resolve_optional_tensor_in(context, cols, "sparse_cols", live_cols));
    SN_TRY(sn::resolve_optional_tensor_in(context, vals, "sparse_vals", live_vals));
    const int present = (rows != nullptr) + (cols != nullptr) + (vals != nullptr);
    SN_CHECK(present == 0 || present == 3, SN_ERR_NULL_ARGUMENT,
             "sparse_rows, sparse_cols and sparse_vals must be all NULL (no sparse part) or all set; got "
             "sparse_rows %s, sparse_cols %s, sparse_vals %s",
             rows != nullptr ? "set" : "NULL", cols != nullptr ? "set" : "NULL", vals != nullptr ? "set" : "NULL");
    if (present == 0) return SN_OK;
    SN_TRY(sn::require_dtype(**live_rows, "sparse_rows", kMaskI32));
    SN_TRY(sn::require_dtype(**live_cols, "sparse_cols", kMaskI32));
    SN_TRY(sn::require_dtype(**live_vals, "sparse_vals", kMaskF16));
    SN_TRY(sn::require_vector(**live_rows, "sparse_rows", n + 1, "N + 1"));
    SN_TRY(sn::require_ndim(**live_cols, "sparse_cols", 1, "[nnz]"));
    SN_TRY(sn::require_vector(**live_vals, "sparse_vals", (*live_cols)->dims[0], "nnz (sparse_cols' length)"));
    return SN_OK;
}

// The shape of a repacked qweight on a backend (squeeze_native.h, sn_lut_repacked_shape): the
// checkpoint layout on the CPU, the tiled layout of src/lut_layout.h on CUDA.
struct RepackedShape {
    int32_t ndim;
    std::array<int64_t, SN_MAX_DIMS> dims;
};

RepackedShape repacked_shape(sn_backend_kind backend, int32_t bits, int64_t n, int64_t k) {
    if (backend == SN_BACKEND_CUDA) {
        return {3, {sn::lut::tiles(n), sn::lut::units(k), sn::lut::unit_words(bits), 1}};
    }
    return {2, {k / 32 * bits, n, 1, 1}};
}

bool has_shape(const sn::Tensor& tensor, const RepackedShape& shape) {
    if (tensor.ndim != shape.ndim) return false;
    for (int32_t d = 0; d < shape.ndim; ++d) {
        if (tensor.dims[d] != shape.dims[d]) return false;
    }
    return true;
}

// Validates a LUT product's arguments (sn_lut_matmul, or with `swiglu` sn_lut_matmul_swiglu, whose
// out is [M, N / 2]) and resolves them into *args.
sn_status validate_lut_product(sn_context* context, const sn_tensor* x, const sn_tensor* qweight, const sn_tensor* lut,
                               int32_t bits, const sn_tensor* sparse_rows, const sn_tensor* sparse_cols,
                               const sn_tensor* sparse_vals, const sn_tensor* bias, bool accumulate, bool swiglu,
                               sn_tensor* out, sn::Context** context_out, sn::LutMatmulArgs* args) {
    sn::Context* live = nullptr;
    sn::Tensor *live_x = nullptr, *live_qweight = nullptr, *live_lut = nullptr, *live_bias = nullptr,
               *live_out = nullptr;
    sn::Tensor *live_rows = nullptr, *live_cols = nullptr, *live_vals = nullptr;
    SN_TRY(sn::resolve_context(context, "context", &live));
    SN_TRY(sn::resolve_tensor_in(*live, x, "x", &live_x));
    SN_TRY(sn::resolve_tensor_in(*live, qweight, "qweight", &live_qweight));
    SN_TRY(sn::resolve_tensor_in(*live, lut, "lut", &live_lut));
    SN_TRY(sn::resolve_optional_tensor_in(*live, bias, "bias", &live_bias));
    SN_TRY(sn::resolve_tensor_in(*live, out, "out", &live_out));
    SN_CHECK(bits == 3 || bits == 4, SN_ERR_INVALID_ARGUMENT, "bits: must be 3 or 4, got %d", bits);

    SN_TRY(sn::require_dtype(*live_x, "x", kMaskFloat));
    SN_TRY(sn::require_same_dtype(*live_out, "out", *live_x, "x"));
    SN_TRY(sn::require_dtype(*live_qweight, "qweight", kMaskI32));
    SN_TRY(sn::require_dtype(*live_lut, "lut", kMaskF16));
    SN_TRY(sn::require_ndim(*live_lut, "lut", 2, "[N, 2^bits]"));
    const int64_t n = live_lut->dims[0];
    const int64_t k = live_x->last_dim();
    SN_CHECK(live_lut->dims[1] == (int64_t{1} << bits), SN_ERR_SHAPE_MISMATCH,
             "lut: expected [N, 2^bits] = [%lld, %d] for %d-bit codes, got %s", static_cast<long long>(n), 1 << bits,
             bits, sn::shape_text(*live_lut).text);
    SN_CHECK(k % 32 == 0, SN_ERR_SHAPE_MISMATCH,
             "x: the input dimension K = %lld (x %s) must be a multiple of 32 (codes are packed in groups "
             "of 32 inputs)",
             static_cast<long long>(k), sn::shape_text(*live_x).text);
    const RepackedShape checkpoint = repacked_shape(SN_BACKEND_CPU, bits, n, k);
    const RepackedShape repacked = repacked_shape(live->backend->kind, bits, n, k);
    SN_CHECK(has_shape(*live_qweight, checkpoint) || has_shape(*live_qweight, repacked), SN_ERR_SHAPE_MISMATCH,
             "qweight: expected [K*bits/32, N] = [%lld, %lld] (the checkpoint layout) or the %d-dimensional "
             "shape sn_lut_repacked_shape gives on this backend (%lld, %lld, %lld), with K = %lld from x %s, "
             "N = %lld from lut %s, bits = %d; got %s",
             static_cast<long long>(k / 32 * bits), static_cast<long long>(n), repacked.ndim,
             static_cast<long long>(repacked.dims[0]), static_cast<long long>(repacked.dims[1]),
             static_cast<long long>(repacked.dims[2]), static_cast<long long>(k), sn::shape_text(*live_x).text,
             static_cast<long long>(n), sn::shape_text(*live_lut).text, bits, sn::shape_text(*live_qweight).text);
    if (swiglu) {
        SN_CHECK(n % 2 == 0, SN_ERR_SHAPE_MISMATCH,
                 "lut: a gate|up stack has an even number of rows 2I (gate_proj's I, then up_proj's), got %s",
                 sn::shape_text(*live_lut).text);
    }
    const int64_t out_width = swiglu ? n / 2 : n;
    SN_CHECK(live_out->last_dim() == out_width && live_out->rows() == live_x->rows(), SN_ERR_SHAPE_MISMATCH,
             "out: expected %lld rows of %s = %lld (x is %s, lut %s), got %s", static_cast<long long>(live_x->rows()),
             swiglu ? "I = N/2" : "N", static_cast<long long>(out_width), sn::shape_text(*live_x).text,
             sn::shape_text(*live_lut).text, sn::shape_text(*live_out).text);
    SN_TRY(validate_sparse(*live, sparse_rows, sparse_cols, sparse_vals, n, &live_rows, &live_cols, &live_vals));
    if (live_bias != nullptr) {
        SN_TRY(sn::require_dtype(*live_bias, "bias", kMaskFloat));
        SN_TRY(sn::require_vector(*live_bias, "bias", n, "N"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_bias, "bias"));
    }
    SN_TRY(sn::require_no_overlap(*live_out, "out", *live_x, "x"));
    SN_TRY(sn::require_no_overlap(*live_out, "out", *live_qweight, "qweight"));
    SN_TRY(sn::require_no_overlap(*live_out, "out", *live_lut, "lut"));
    if (live_rows != nullptr) {
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_rows, "sparse_rows"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_cols, "sparse_cols"));
        SN_TRY(sn::require_no_overlap(*live_out, "out", *live_vals, "sparse_vals"));
    }
    *context_out = live;
    *args = sn::LutMatmulArgs{live_x,    live_qweight, live_lut, live_rows,  live_cols,
                              live_vals, live_bias,    bits,     accumulate, live_out};
    return SN_OK;
}

}  // namespace

extern "C" {

SN_API sn_status sn_lut_repacked_shape(const sn_context* context, int32_t bits, int64_t n, int64_t k, int32_t* out_ndim,
                                       int64_t* out_dims) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_CHECK(out_ndim != nullptr, SN_ERR_NULL_ARGUMENT, "out_ndim is NULL");
        SN_CHECK(out_dims != nullptr, SN_ERR_NULL_ARGUMENT, "out_dims is NULL");
        SN_CHECK(bits == 3 || bits == 4, SN_ERR_INVALID_ARGUMENT, "bits: must be 3 or 4, got %d", bits);
        SN_CHECK(n >= 1, SN_ERR_INVALID_ARGUMENT, "n: must be >= 1, got %lld", static_cast<long long>(n));
        SN_CHECK(k >= 32 && k % 32 == 0, SN_ERR_INVALID_ARGUMENT,
                 "k: must be a positive multiple of 32 (codes are packed in groups of 32 inputs), got %lld",
                 static_cast<long long>(k));
        const RepackedShape shape = repacked_shape(live->backend->kind, bits, n, k);
        *out_ndim = shape.ndim;
        for (int32_t d = 0; d < shape.ndim; ++d) out_dims[d] = shape.dims[d];
        return SN_OK;
    });
}

SN_API sn_status sn_lut_repack(sn_context* context, const sn_tensor* qweight, int32_t bits, sn_tensor* packed) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_qweight = nullptr, *live_packed = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, qweight, "qweight", &live_qweight));
        SN_TRY(sn::resolve_tensor_in(*live, packed, "packed", &live_packed));
        SN_CHECK(bits == 3 || bits == 4, SN_ERR_INVALID_ARGUMENT, "bits: must be 3 or 4, got %d", bits);
        SN_TRY(sn::require_dtype(*live_qweight, "qweight", kMaskI32));
        SN_TRY(sn::require_dtype(*live_packed, "packed", kMaskI32));
        SN_TRY(sn::require_ndim(*live_qweight, "qweight", 2, "[K*bits/32, N]"));
        SN_CHECK(live_qweight->dims[0] % bits == 0 && live_qweight->dims[0] > 0 && live_qweight->dims[1] > 0,
                 SN_ERR_SHAPE_MISMATCH,
                 "qweight: expected [K*bits/32, N] with K a positive multiple of 32 for %d-bit "
                 "codes (the first dimension a multiple of %d), got %s",
                 bits, bits, sn::shape_text(*live_qweight).text);
        const int64_t n = live_qweight->dims[1], k = live_qweight->dims[0] / bits * 32;
        const RepackedShape shape = repacked_shape(live->backend->kind, bits, n, k);
        SN_CHECK(has_shape(*live_packed, shape), SN_ERR_SHAPE_MISMATCH,
                 "packed: expected the shape sn_lut_repacked_shape gives for %d bits, N = %lld, K = %lld "
                 "(%d dimensions: %lld, %lld, %lld), got %s",
                 bits, static_cast<long long>(n), static_cast<long long>(k), shape.ndim,
                 static_cast<long long>(shape.dims[0]), static_cast<long long>(shape.dims[1]),
                 static_cast<long long>(shape.dims[2]), sn::shape_text(*live_packed).text);
        SN_TRY(sn::require_no_overlap(*live_packed, "packed", *live_qweight, "qweight"));
        return SN_RUN_OP(*live, lut_repack, (sn::LutRepackArgs{live_qweight, bits, live_packed}));
    });
}

SN_API sn_status sn_lut_matmul(sn_context* context, const sn_tensor* x, const sn_tensor* qweight, const sn_tensor* lut,
                               int32_t bits, const sn_tensor* sparse_rows, const sn_tensor* sparse_cols,
                               const sn_tensor* sparse_vals, const sn_tensor* bias, int32_t accumulate,
                               sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::LutMatmulArgs args{};
        SN_TRY(validate_lut_product(context, x, qweight, lut, bits, sparse_rows, sparse_cols, sparse_vals, bias,
                                    accumulate != 0, false, out, &live, &args));
        return SN_RUN_OP(*live, lut_matmul, args);
    });
}

SN_API sn_status sn_lut_matmul_swiglu(sn_context* context, const sn_tensor* x, const sn_tensor* qweight,
                                      const sn_tensor* lut, int32_t bits, const sn_tensor* sparse_rows,
                                      const sn_tensor* sparse_cols, const sn_tensor* sparse_vals, const sn_tensor* bias,
                                      sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::LutMatmulArgs args{};
        SN_TRY(validate_lut_product(context, x, qweight, lut, bits, sparse_rows, sparse_cols, sparse_vals, bias, false,
                                    true, out, &live, &args));
        return SN_RUN_OP(*live, lut_matmul_swiglu, args);
    });
}

SN_API sn_status sn_kmeans_rows(sn_context* context, const sn_tensor* values, const sn_tensor* weights,
                                const sn_tensor* excluded, int32_t bits, int32_t half_precision_lut, sn_tensor* lut,
                                sn_tensor* codes) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
        sn::Context* live = nullptr;
        sn::Tensor *live_values = nullptr, *live_weights = nullptr, *live_excluded = nullptr, *live_lut = nullptr,
                   *live_codes = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        SN_TRY(sn::resolve_tensor_in(*live, values, "values", &live_values));
        SN_TRY(sn::resolve_optional_tensor_in(*live, weights, "weights", &live_weights));
        SN_TRY(sn::resolve_optional_tensor_in(*live, excluded, "excluded", &live_excluded));
        SN_TRY(sn::resolve_tensor_in(*live, lut, "lut", &live_lut));
        SN_TRY(sn::resolve_tensor_in(*live, codes, "codes", &live_codes));
        SN_CHECK(bits >= 1 && bits <= 8, SN_ERR_INVALID_ARGUMENT,
                 "bits: must be 1..8 (one code per byte; the quantizers use 3 and 4), got %d", bits);

        SN_TRY(sn::require_dtype(*live_values, "values", sn::kMaskF32));
        SN_TRY(sn::require_ndim(*live_values, "values", 2, "[R, C]"));
        SN_TRY(sn::require_dtype(*live_codes, "codes", kMaskU8));
        SN_TRY(sn::require_same_shape(*live_codes, "codes", *live_values, "values"));
        if (live_weights != nullptr) {
            SN_TRY(sn::require_dtype(*live_weights, "weights", sn::kMaskF32));
            SN_TRY(sn::require_same_shape(*live_weights, "weights", *live_values, "values"));
        }
        if (live_excluded != nullptr) {
            SN_TRY(sn::require_dtype(*live_excluded, "excluded", kMaskU8 | kMaskI32));
            SN_TRY(sn::require_same_shape(*live_excluded, "excluded", *live_values, "values"));
        }
        SN_TRY(sn::require_dtype(*live_lut, "lut", sn::kMaskF32));
        const int64_t rows = live_values->dims[0];
        SN_CHECK(live_lut->ndim == 2 && live_lut->dims[0] == rows && live_lut->dims[1] == (int64_t{1} << bits),
                 SN_ERR_SHAPE_MISMATCH, "lut: expected [R, 2^bits] = [%lld, %d] (R from values %s, bits = %d), got %s",
                 static_cast<long long>(rows), 1 << bits, sn::shape_text(*live_values).text, bits,
                 sn::shape_text(*live_lut).text);
        SN_TRY(sn::require_no_overlap(*live_lut, "lut", *live_codes, "codes"));
        const sn::Tensor* inputs[] = {live_values, live_weights, live_excluded};
        const char* input_names[] = {"values", "weights", "excluded"};
        for (int i = 0; i < 3; ++i) {
            if (inputs[i] == nullptr) continue;
            SN_TRY(sn::require_no_overlap(*live_lut, "lut", *inputs[i], input_names[i]));
            SN_TRY(sn::require_no_overlap(*live_codes, "codes", *inputs[i], input_names[i]));
        }
        return SN_RUN_OP(*live, kmeans_rows,
                         (sn::KmeansRowsArgs{live_values, live_weights, live_excluded, bits, half_precision_lut != 0,
                                             live_lut, live_codes}));
    });
}

}  // extern "C"
