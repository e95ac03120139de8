// Embedding gather: out[t, :] = table[ids[t], :] widened to F32. Ids are all checked before any
// row is written, so a bad id leaves out untouched.
#include "cpu/convert.h"
#include "cpu/ops.h"
#include "error.h"

namespace sn::cpu {

sn_status embedding(Context& context, const EmbeddingArgs& args) {
    const int64_t vocabulary = args.table->dims[0];
    const int64_t width = args.table->dims[1];
    const int64_t tokens = args.ids->dims[0];
    const int32_t* ids = args.ids->data_as<const int32_t>();
    for (int64_t t = 0; t < tokens; ++t) {
        SN_CHECK(ids[t] >= 0 && ids[t] < vocabulary, SN_ERR_INVALID_ARGUMENT,
                 "ids[%lld] = %d is outside [0, V) with V = %lld (table %lld×%lld)", static_cast<long long>(t), ids[t],
                 static_cast<long long>(vocabulary), static_cast<long long>(vocabulary), static_cast<long long>(width));
    }
    const char* table = static_cast<const char*>(args.table->data());
    const size_t row_bytes = static_cast<size_t>(width) * args.table->element_size();
    const sn_dtype dtype = args.table->dtype;
    float* out = args.out->data_as<float>();
    const int threads = worker_count(context, tokens * width);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < tokens; ++t) {
        widen_to_f32(dtype, table + static_cast<size_t>(ids[t]) * row_bytes, out + t * width, width);
    }
    return SN_OK;
}

}  // namespace sn::cpu
