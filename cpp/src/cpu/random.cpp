// sn_fill_random on the CPU: element i = random_value(seed, i, scale) (backend.h), rounded to
// the tensor's dtype by the scalar rules of src/half.h (round to nearest even), exactly as the
// CUDA kernel rounds it.
#include "cpu/ops.h"
#include "half.h"

namespace sn::cpu {

sn_status fill_random(Context& context, const FillRandomArgs& args) {
    const int64_t count = args.tensor->numel;
    const uint64_t seed = args.seed;
    const float scale = args.scale;
    const sn_dtype dtype = args.tensor->dtype;
    void* data = args.tensor->data();
    const int threads = worker_count(context, count * 8);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < count; ++i) {
        const float value = random_value(seed, static_cast<uint64_t>(i), scale);
        if (dtype == SN_DTYPE_F32) {
            static_cast<float*>(data)[i] = value;
        } else if (dtype == SN_DTYPE_F16) {
            static_cast<uint16_t*>(data)[i] = f32_to_f16(value);
        } else {
            static_cast<uint16_t*>(data)[i] = f32_to_bf16(value);
        }
    }
    return SN_OK;
}

}  // namespace sn::cpu
