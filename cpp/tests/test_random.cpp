// sn_fill_random against an independent implementation of the header's formula (SplitMix64's
// output mix of seed + (i + 1)·0x9E3779B97F4A7C15, the top 24 bits as u, scale·(2u − 1)),
// bit for bit in every float dtype, plus the canonical SplitMix64 test vector.
#include "test_support.h"

#include <algorithm>
#include <set>

using sn_test::Context;
using sn_test::Tensor;

namespace {

uint64_t splitmix64_output(uint64_t state) {
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float expected_value(uint64_t seed, uint64_t index, float scale) {
    const uint64_t z = splitmix64_output(seed + (index + 1) * 0x9E3779B97F4A7C15ull);
    const float u = static_cast<float>(z >> 40) / 16777216.0f;
    return scale * (2.0f * u - 1.0f);
}

std::vector<uint16_t> download_u16(const Tensor& tensor, size_t count) {
    std::vector<uint16_t> values(count);
    EXPECT_EQ(sn_tensor_download(tensor, values.data(), count * 2), SN_OK) << sn_last_error();
    return values;
}

}  // namespace

TEST(FillRandom, FirstValueIsTheCanonicalSplitMix64Output) {
    // SplitMix64 seeded with 0 first returns 0xE220A8397B1DCDAF (Vigna's reference generator).
    EXPECT_EQ(splitmix64_output(0x9E3779B97F4A7C15ull), 0xE220A8397B1DCDAFull);
    Context context(1);
    Tensor tensor(context, SN_DTYPE_F32, {1});
    ASSERT_SN_OK(sn_fill_random(context, tensor, 0, 1.0f));
    EXPECT_EQ(sn_test::download_f32(tensor)[0], 2.0f * (0xE220A8 / 16777216.0f) - 1.0f);
}

TEST(FillRandom, MatchesTheFormulaInEveryDtype) {
    const int64_t rows = 37, cols = 129;  // more than one thread's share, odd sizes
    const size_t count = rows * cols;
    const uint64_t seed = 0xDEADBEEFCAFEull;
    const float scale = 0.02f;
    Context context(3);
    Tensor f32(context, SN_DTYPE_F32, {rows, cols});
    Tensor f16(context, SN_DTYPE_F16, {rows, cols});
    Tensor bf16(context, SN_DTYPE_BF16, {rows, cols});
    ASSERT_SN_OK(sn_fill_random(context, f32, seed, scale));
    ASSERT_SN_OK(sn_fill_random(context, f16, seed, scale));
    ASSERT_SN_OK(sn_fill_random(context, bf16, seed, scale));
    const std::vector<float> values = sn_test::download_f32(f32);
    const std::vector<uint16_t> halves = download_u16(f16, count);
    const std::vector<uint16_t> brains = download_u16(bf16, count);
    for (size_t i = 0; i < count; ++i) {
        const float expected = expected_value(seed, i, scale);
        ASSERT_EQ(values[i], expected) << i;
        ASSERT_EQ(halves[i], sn::f32_to_f16(expected)) << i;
        ASSERT_EQ(brains[i], sn::f32_to_bf16(expected)) << i;
        ASSERT_GE(values[i], -scale) << i;
        ASSERT_LT(values[i], scale) << i;
    }
    // Uniform-looking: mean near 0, both halves of the range used.
    double sum = 0.0;
    for (float value : values) sum += value;
    EXPECT_LT(std::fabs(sum / count), 0.05 * scale);
    EXPECT_LT(*std::min_element(values.begin(), values.end()), -0.99f * scale);
    EXPECT_GT(*std::max_element(values.begin(), values.end()), 0.99f * scale);
}

TEST(FillRandom, SeedsAndViewsGiveTheirOwnStreams) {
    Context context(1);
    Tensor a(context, SN_DTYPE_F32, {64});
    Tensor b(context, SN_DTYPE_F32, {64});
    ASSERT_SN_OK(sn_fill_random(context, a, 1, 1.0f));
    ASSERT_SN_OK(sn_fill_random(context, b, 2, 1.0f));
    const std::vector<float> first = sn_test::download_f32(a);
    const std::vector<float> second = sn_test::download_f32(b);
    EXPECT_NE(first, second);
    EXPECT_EQ(std::set<float>(first.begin(), first.end()).size(), first.size());
    // A view counts its elements from its own start: filling a view of a with seed 1 reproduces
    // a's first values there.
    const int64_t dims[] = {8};
    sn_tensor* raw_view = nullptr;
    ASSERT_SN_OK(sn_tensor_view(b, 10, dims, 1, &raw_view));
    Tensor view(raw_view);
    ASSERT_SN_OK(sn_fill_random(context, view, 1, 1.0f));
    const std::vector<float> refilled = sn_test::download_f32(b);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(refilled[10 + i], first[i]);
    EXPECT_EQ(refilled[9], second[9]);
    EXPECT_EQ(refilled[18], second[18]);
}

TEST(FillRandom, ArgumentChecks) {
    Context context(1);
    Tensor ints(context, SN_DTYPE_I32, {4});
    EXPECT_SN_ERROR(sn_fill_random(context, ints, 1, 1.0f), SN_ERR_DTYPE_MISMATCH, "tensor: expected dtype");
    Tensor floats(context, SN_DTYPE_F32, {4});
    EXPECT_SN_ERROR(sn_fill_random(context, floats, 1, NAN), SN_ERR_INVALID_ARGUMENT, "scale");
    EXPECT_SN_ERROR(sn_fill_random(context, nullptr, 1, 1.0f), SN_ERR_NULL_ARGUMENT, "tensor");
    EXPECT_SN_ERROR(sn_fill_random(nullptr, floats, 1, 1.0f), SN_ERR_NULL_ARGUMENT, "context");
}
