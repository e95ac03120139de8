// KV-cache write: cache[positions[t], :, :] = src[t, :, :], converting to the cache's dtype.
// Every position is checked before any row is written, so a bad one leaves the cache untouched.
// Rows are written in order of t, so of two equal positions the later row wins (as on CUDA,
// where such a call is not meaningful anyway).
#include "cpu/convert.h"
#include "cpu/ops.h"
#include "cpu/scratch.h"
#include "error.h"

#include <cstring>

namespace sn::cpu {

sn_status kv_write(Context& /*context*/, const KvWriteArgs& args) {
    const int64_t tokens = args.src->dims[0];
    const int64_t cache_len = args.cache->dims[0];
    const int64_t row = args.src->dims[1] * args.src->dims[2];  // Hkv·Dh elements per position
    const int32_t* positions = args.positions->data_as<const int32_t>();
    for (int64_t t = 0; t < tokens; ++t) {
        SN_CHECK(positions[t] >= 0 && positions[t] < cache_len, SN_ERR_INVALID_ARGUMENT,
                 "positions[%lld] = %d is outside the cache: positions must be in [0, S) with S = %lld",
                 static_cast<long long>(t), positions[t], static_cast<long long>(cache_len));
    }
    const sn_dtype src_dtype = args.src->dtype;
    const sn_dtype cache_dtype = args.cache->dtype;
    const size_t src_row_bytes = static_cast<size_t>(row) * args.src->element_size();
    const size_t cache_row_bytes = static_cast<size_t>(row) * args.cache->element_size();
    const char* src = static_cast<const char*>(args.src->data());
    char* cache = static_cast<char*>(args.cache->data());
    // A few rows per call (decode writes one): converting serially is cheaper than waking threads.
    float* wide = src_dtype == cache_dtype ? nullptr : scratch_floats(static_cast<size_t>(row));
    for (int64_t t = 0; t < tokens; ++t) {
        const char* source = src + static_cast<size_t>(t) * src_row_bytes;
        char* destination = cache + static_cast<size_t>(positions[t]) * cache_row_bytes;
        if (wide == nullptr) {
            std::memcpy(destination, source, src_row_bytes);
            continue;
        }
        widen_to_f32(src_dtype, source, wide, row);
        switch (cache_dtype) {
            case SN_DTYPE_F32:
                std::memcpy(destination, wide, cache_row_bytes);
                break;
            case SN_DTYPE_F16:
                f32_to_f16(wide, reinterpret_cast<uint16_t*>(destination), row);
                break;
            default:
                f32_to_bf16(wide, reinterpret_cast<uint16_t*>(destination), row);
                break;
        }
    }
    return SN_OK;
}

}  // namespace sn::cpu
