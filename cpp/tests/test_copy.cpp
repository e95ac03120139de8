// fp16/bf16 conversions (the scalar rules of src/half.h against independent references, and the
// vectorised sn_copy paths against the scalar rules) and sn_copy's contract.
#include "test_support.h"

#include <algorithm>
#include <limits>

using sn_test::Context;
using sn_test::make_f32;
using sn_test::Tensor;

namespace {

uint32_t bits_of(float value) {
    return sn::float_bits(value);
}

// Every finite non-negative binary16 value, by encoding (0x0000 .. 0x7BFF), as exact doubles.
const std::vector<double>& f16_magnitudes() {
    static const std::vector<double> values = [] {
        std::vector<double> all;
        for (uint32_t h = 0; h <= 0x7BFF; ++h) {
            const int exponent = static_cast<int>(h >> 10);
            const int mantissa = static_cast<int>(h & 0x3FF);
            all.push_back(exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25));
        }
        return all;
    }();
    return values;
}

// Round-to-nearest-even into binary16 by searching the table of all values (obviously correct).
uint16_t reference_f32_to_f16(float value) {
    const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
    if (std::isnan(value)) return 0x7E00;  // any NaN; compared by class below
    const double magnitude = std::fabs(static_cast<double>(value));
    if (magnitude >= 65520.0) return sign | 0x7C00;  // halfway above 65504 and beyond: inf
    const std::vector<double>& table = f16_magnitudes();
    const auto upper = std::lower_bound(table.begin(), table.end(), magnitude);
    if (upper == table.begin()) return sign;
    const size_t high = static_cast<size_t>(upper - table.begin());
    if (high == table.size()) return sign | 0x7BFF;
    const size_t low = high - 1;
    const double below = magnitude - table[low];
    const double above = table[high] - magnitude;
    if (below < above || (below == above && (low % 2) == 0)) return static_cast<uint16_t>(sign | low);
    return static_cast<uint16_t>(sign | high);
}

uint16_t reference_f32_to_bf16(float value) {
    if (std::isnan(value)) return 0x7FC0;
    const uint32_t bits = bits_of(value);
    const uint32_t low = bits & 0xFFFF0000u;
    const double exact = value;
    const double down = sn::bits_float(low);
    const double up = (low & 0x7FFFFFFFu) == 0x7F7F0000u ? std::copysign(std::ldexp(1.0, 128), exact)
                                                         : static_cast<double>(sn::bits_float(low + 0x10000u));
    const double below = std::fabs(exact - down);
    const double above = std::fabs(up - exact);
    const bool round_up = above < below || (above == below && ((low >> 16) & 1u) == 1u);
    return static_cast<uint16_t>((round_up ? low + 0x10000u : low) >> 16);
}

// Random floats over every exponent, plus specials and the exact midpoints between
// consecutive binary16 values (the ties) and their neighbours one F32 ulp away.
std::vector<float> conversion_inputs() {
    std::vector<float> values = {0.0f,
                                 -0.0f,
                                 1.0f,
                                 -1.0f,
                                 65504.0f,
                                 65519.99f,
                                 65520.0f,
                                 -65520.0f,
                                 1e-8f,
                                 5.9604645e-8f,
                                 2.9802322e-8f,
                                 2.9802326e-8f,
                                 6.1035156e-5f,
                                 std::numeric_limits<float>::infinity(),
                                 -std::numeric_limits<float>::infinity(),
                                 std::numeric_limits<float>::max(),
                                 std::numeric_limits<float>::denorm_min(),
                                 3.3895314e38f,
                                 -3.3895314e38f};
    std::mt19937 rng(1234);
    std::uniform_int_distribution<uint32_t> any_bits;
    for (int i = 0; i < 200000; ++i) {
        const float value = sn::bits_float(any_bits(rng));
        if (!std::isnan(value)) values.push_back(value);
    }
    const std::vector<double>& table = f16_magnitudes();
    for (size_t i = 0; i + 1 < table.size(); i += 7) {
        const float midpoint = static_cast<float>((table[i] + table[i + 1]) / 2.0);  // exact in F32
        for (float value : {midpoint, std::nextafter(midpoint, 0.0f), std::nextafter(midpoint, 1e9f)}) {
            values.push_back(value);
            values.push_back(-value);
        }
    }
    return values;
}

}  // namespace

TEST(Half, EveryF16WidensExactlyAndNarrowsBack) {
    for (uint32_t h = 0; h <= 0xFFFF; ++h) {
        const uint16_t half = static_cast<uint16_t>(h);
        const float wide = sn::f16_to_f32(half);
        const bool nan = (half & 0x7C00) == 0x7C00 && (half & 0x3FF) != 0;
        if (nan) {
            ASSERT_TRUE(std::isnan(wide)) << std::hex << h;
            EXPECT_EQ(sn::f32_to_f16(wide), half | 0x200) << std::hex << h;  // quieted, payload kept
            continue;
        }
        const double magnitude = (half & 0x7FFF) == 0x7C00 ? INFINITY : f16_magnitudes()[half & 0x7FFF];
        ASSERT_EQ(static_cast<double>(wide), (half & 0x8000) ? -magnitude : magnitude) << std::hex << h;
        ASSERT_EQ(sn::f32_to_f16(wide), half) << std::hex << h;
    }
}

TEST(Half, F32ToF16RoundsToNearestEven) {
    for (float value : conversion_inputs()) {
        ASSERT_EQ(sn::f32_to_f16(value), reference_f32_to_f16(value))
            << value << " (bits 0x" << std::hex << bits_of(value) << ")";
    }
}

TEST(Half, F32ToBf16RoundsToNearestEven) {
    for (float value : conversion_inputs()) {
        ASSERT_EQ(sn::f32_to_bf16(value), reference_f32_to_bf16(value))
            << value << " (bits 0x" << std::hex << bits_of(value) << ")";
    }
    EXPECT_TRUE(std::isnan(sn::bf16_to_f32(sn::f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_EQ(sn::bf16_to_f32(0x3F80), 1.0f);
}

// sn_copy's vectorised conversions (F16C where present, and odd lengths for the scalar tails)
// must agree bit for bit with the scalar rules.
TEST(Copy, ConversionsMatchTheScalarRulesBitForBit) {
    Context context(2);
    std::vector<float> values = conversion_inputs();
    values.resize(values.size() - values.size() % 2 + 1);  // odd: exercises the tails
    values.push_back(std::numeric_limits<float>::quiet_NaN());
    const int64_t count = static_cast<int64_t>(values.size());
    Tensor source = make_f32(context, {count}, values);
    for (sn_dtype narrow : {SN_DTYPE_F16, SN_DTYPE_BF16}) {
        Tensor narrowed(context, narrow, {count});
        ASSERT_SN_OK(sn_copy(context, source, narrowed));
        std::vector<uint16_t> bits(values.size());
        ASSERT_SN_OK(sn_tensor_download(narrowed, bits.data(), bits.size() * 2));
        for (size_t i = 0; i < values.size(); ++i) {
            const uint16_t expected = narrow == SN_DTYPE_F16 ? sn::f32_to_f16(values[i]) : sn::f32_to_bf16(values[i]);
            ASSERT_EQ(bits[i], expected) << "element " << i << " = " << values[i];
        }
        Tensor widened(context, SN_DTYPE_F32, {count});
        ASSERT_SN_OK(sn_copy(context, narrowed, widened));
        const std::vector<float> back = sn_test::download_f32(widened);
        for (size_t i = 0; i < values.size(); ++i) {
            const float expected = narrow == SN_DTYPE_F16 ? sn::f16_to_f32(bits[i]) : sn::bf16_to_f32(bits[i]);
            ASSERT_EQ(bits_of(back[i]), bits_of(expected)) << "element " << i;
        }
    }
}

TEST(Copy, F16ToBf16GoesThroughExactF32) {
    Context context(1);
    const std::vector<float> values = {1.0f, -2.5f, 0.1f, 65504.0f, 3.0e-5f, -7.0f, 1000.25f};
    Tensor half = sn_test::make_tensor(context, SN_DTYPE_F16, {7}, values);
    Tensor brain(context, SN_DTYPE_BF16, {7});
    ASSERT_SN_OK(sn_copy(context, half, brain));
    std::vector<uint16_t> bits(7);
    ASSERT_SN_OK(sn_tensor_download(brain, bits.data(), 14));
    for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(bits[i], sn::f32_to_bf16(sn::f16_to_f32(sn::f32_to_f16(values[i])))) << i;
    }
}

TEST(Copy, SameDtypeCopiesAnyDtypeAndMayReshape) {
    Context context(1);
    const std::vector<int32_t> ids = {5, -1, 7, 9, 11, 13};
    Tensor source = sn_test::make_i32(context, {2, 3}, ids);
    Tensor destination(context, SN_DTYPE_I32, {6});
    ASSERT_SN_OK(sn_copy(context, source, destination));
    std::vector<int32_t> back(6);
    ASSERT_SN_OK(sn_tensor_download(destination, back.data(), 24));
    EXPECT_EQ(back, ids);

    const uint8_t bytes[] = {1, 2, 250};
    Tensor u8_source(context, SN_DTYPE_U8, {3});
    ASSERT_SN_OK(sn_tensor_upload(u8_source, bytes, 3));
    Tensor u8_destination(context, SN_DTYPE_U8, {3, 1});
    ASSERT_SN_OK(sn_copy(context, u8_source, u8_destination));
    uint8_t u8_back[3] = {};
    ASSERT_SN_OK(sn_tensor_download(u8_destination, u8_back, 3));
    EXPECT_EQ(u8_back[2], 250);
}

// Same-dtype copies between overlapping views behave like memmove (the KV-cache shift case).
TEST(Copy, OverlappingSameDtypeViewsMove) {
    Context context(1);
    Tensor base = make_f32(context, {8}, {0, 1, 2, 3, 4, 5, 6, 7});
    const int64_t dims[] = {6};
    sn_tensor* raw_from = nullptr;
    sn_tensor* raw_to = nullptr;
    ASSERT_SN_OK(sn_tensor_view(base, 0, dims, 1, &raw_from));
    ASSERT_SN_OK(sn_tensor_view(base, 2, dims, 1, &raw_to));
    Tensor from(raw_from);
    Tensor to(raw_to);
    ASSERT_SN_OK(sn_copy(context, from, to));
    EXPECT_EQ(sn_test::download_f32(base), (std::vector<float>{0, 1, 0, 1, 2, 3, 4, 5}));
}

TEST(Copy, Misuse) {
    Context context(1);
    Tensor f32 = make_f32(context, {4}, {1, 2, 3, 4});
    Tensor i32 = sn_test::make_i32(context, {4}, {1, 2, 3, 4});
    Tensor f16_short(context, SN_DTYPE_F16, {3});
    EXPECT_SN_ERROR(sn_copy(context, i32, f32), SN_ERR_DTYPE_MISMATCH, "src: expected dtype F32, F16 or BF16, got I32");
    EXPECT_SN_ERROR(sn_copy(context, f32, i32), SN_ERR_DTYPE_MISMATCH, "dst: expected dtype F32, F16 or BF16, got I32");
    EXPECT_SN_ERROR(sn_copy(context, f32, f16_short), SN_ERR_SHAPE_MISMATCH, "dst has 3 elements");
    EXPECT_SN_ERROR(sn_copy(context, nullptr, f32), SN_ERR_NULL_ARGUMENT, "src");
}
