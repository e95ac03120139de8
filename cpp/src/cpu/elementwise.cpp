// add and mul: out = a ∘ b, with b either a's shape or one row [D] broadcast over a's rows.
#include "cpu/isa.h"
#include "cpu/ops.h"

namespace sn::cpu {
namespace {

enum class Binary { add, mul };

// Elements per parallel work item: large enough to amortise scheduling, small enough to balance.
constexpr int64_t kBlock = 16384;

SN_ALWAYS_INLINE void add_rows_body(const float* a, const float* b, float* out, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i];
}
SN_MULTIVERSION(add_rows, (const float* a, const float* b, float* out, int64_t count), (a, b, out, count))

SN_ALWAYS_INLINE void mul_rows_body(const float* a, const float* b, float* out, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) out[i] = a[i] * b[i];
}
SN_MULTIVERSION(mul_rows, (const float* a, const float* b, float* out, int64_t count), (a, b, out, count))

sn_status binary(const Context& context, const BinaryArgs& args, Binary op) {
    const float* a = args.a->data_as<const float>();
    const float* b = args.b->data_as<const float>();
    float* out = args.out->data_as<float>();
    auto kernel = op == Binary::add ? add_rows : mul_rows;
    const int threads = worker_count(context, args.a->numel);
    if (args.b->numel == args.a->numel) {
        const int64_t total = args.a->numel;
        const int64_t blocks = (total + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t block = 0; block < blocks; ++block) {
            const int64_t begin = block * kBlock;
            const int64_t count = std::min(kBlock, total - begin);
            kernel(a + begin, b + begin, out + begin, count);
        }
    } else {
        const int64_t rows = args.a->rows();
        const int64_t width = args.a->last_dim();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t row = 0; row < rows; ++row) kernel(a + row * width, b, out + row * width, width);
    }
    return SN_OK;
}

}  // namespace

sn_status add(Context& context, const BinaryArgs& args) {
    return binary(context, args, Binary::add);
}

sn_status mul(Context& context, const BinaryArgs& args) {
    return binary(context, args, Binary::mul);
}

}  // namespace sn::cpu
