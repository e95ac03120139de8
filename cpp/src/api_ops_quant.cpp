// The exported LUT-quantized linear: validates shapes, dtypes and aliasing against
// squeeze_native.h ("Quantized linears"), then runs the backend's lut_matmul. Checks that depend
// on the data (CSR row pointers, column indices) belong to the backend (backend.h).
#include "backend.h"
#include "error.h"
#include "validate.h"

namespace {

using sn::kMaskFloat;
using sn::kMaskI32;
constexpr sn::DtypeMask kMaskF16 = sn::dtype_bit(SN_DTYPE_F16);

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

}  // namespace

extern "C" {

SN_API sn_status sn_lut_matmul(sn_context* context, const sn_tensor* x, const sn_tensor* qweight, const sn_tensor* lut,
                               int32_t bits, const sn_tensor* sparse_rows, const sn_tensor* sparse_cols,
                               const sn_tensor* sparse_vals, const sn_tensor* bias, int32_t accumulate,
                               sn_tensor* out) {
    return sn::guarded_op(__func__, context, [&]() -> sn_status {
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
                 "lut: expected [N, 2^bits] = [%lld, %d] for %d-bit codes, got %s", static_cast<long long>(n),
                 1 << bits, bits, sn::shape_text(*live_lut).text);
        SN_CHECK(k % 32 == 0, SN_ERR_SHAPE_MISMATCH,
                 "x: the input dimension K = %lld (x %s) must be a multiple of 32 (codes are packed in groups "
                 "of 32 inputs)",
                 static_cast<long long>(k), sn::shape_text(*live_x).text);
        SN_TRY(sn::require_ndim(*live_qweight, "qweight", 2, "[K*bits/32, N]"));
        SN_CHECK(live_qweight->dims[0] == k / 32 * bits && live_qweight->dims[1] == n, SN_ERR_SHAPE_MISMATCH,
                 "qweight: expected [K*bits/32, N] = [%lld, %lld] (K = %lld from x %s, N = %lld from lut %s, "
                 "bits = %d), got %s",
                 static_cast<long long>(k / 32 * bits), static_cast<long long>(n), static_cast<long long>(k),
                 sn::shape_text(*live_x).text, static_cast<long long>(n), sn::shape_text(*live_lut).text, bits,
                 sn::shape_text(*live_qweight).text);
        SN_CHECK(live_out->last_dim() == n && live_out->rows() == live_x->rows(), SN_ERR_SHAPE_MISMATCH,
                 "out: expected %lld rows of N = %lld (x is %s, lut %s), got %s",
                 static_cast<long long>(live_x->rows()), static_cast<long long>(n), sn::shape_text(*live_x).text,
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
        return SN_RUN_OP(*live, lut_matmul,
                         (sn::LutMatmulArgs{live_x, live_qweight, live_lut, live_rows, live_cols, live_vals, live_bias,
                                            bits, accumulate != 0, live_out}));
    });
}

}  // extern "C"
