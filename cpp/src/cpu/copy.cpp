// sn_copy: same dtype is a byte copy (memmove: overlapping views are fine); F32/F16/BF16
// conversions round to nearest even (src/half.h), in parallel blocks. A conversion between
// the two 16-bit formats goes through F32, which is exact for the widening step.
#include "cpu/convert.h"
#include "cpu/ops.h"
#include "cpu/scratch.h"

#include <cstring>
#include <omp.h>

namespace sn::cpu {
namespace {

constexpr int64_t kBlock = 8192;

// Converts `count` elements from `source` (src dtype) into `destination` (dst dtype); `buffer`
// holds kBlock floats for the 16-bit → 16-bit case.
void convert_block(sn_dtype src_dtype, const void* source, sn_dtype dst_dtype, void* destination, int64_t count,
                   float* buffer) {
    if (dst_dtype == SN_DTYPE_F32) {
        widen_to_f32(src_dtype, source, static_cast<float*>(destination), count);
        return;
    }
    const float* wide = src_dtype == SN_DTYPE_F32 ? static_cast<const float*>(source) : buffer;
    if (src_dtype != SN_DTYPE_F32) widen_to_f32(src_dtype, source, buffer, count);
    if (dst_dtype == SN_DTYPE_F16) {
        f32_to_f16(wide, static_cast<uint16_t*>(destination), count);
    } else {
        f32_to_bf16(wide, static_cast<uint16_t*>(destination), count);
    }
}

}  // namespace

sn_status copy(Context& context, const CopyArgs& args) {
    const sn_dtype src_dtype = args.src->dtype;
    const sn_dtype dst_dtype = args.dst->dtype;
    if (src_dtype == dst_dtype) {
        if (args.src->data() != args.dst->data()) std::memmove(args.dst->data(), args.src->data(), args.src->nbytes());
        return SN_OK;
    }
    const int64_t total = args.src->numel;
    const int64_t blocks = (total + kBlock - 1) / kBlock;
    const int threads = worker_count(context, total * 2);
    float* buffers = scratch_floats(static_cast<size_t>(threads) * kBlock);
    const char* source = static_cast<const char*>(args.src->data());
    char* destination = static_cast<char*>(args.dst->data());
    const size_t src_size = args.src->element_size();
    const size_t dst_size = args.dst->element_size();
#pragma omp parallel num_threads(threads)
    {
        float* buffer = buffers + static_cast<size_t>(omp_get_thread_num()) * kBlock;
#pragma omp for schedule(static)
        for (int64_t block = 0; block < blocks; ++block) {
            const int64_t begin = block * kBlock;
            convert_block(src_dtype, source + static_cast<size_t>(begin) * src_size, dst_dtype,
                          destination + static_cast<size_t>(begin) * dst_size, std::min(kBlock, total - begin), buffer);
        }
    }
    return SN_OK;
}

}  // namespace sn::cpu
