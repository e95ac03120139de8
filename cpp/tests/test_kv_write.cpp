// sn_kv_write: rows land at their positions (any order, gaps), other cache rows keep their
// values, dtypes convert by the scalar rounding rules, and bad positions leave the cache untouched.
#include "test_support.h"

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_tensor;
using sn_test::Tensor;

namespace {

// Cache contents as F32 whatever their dtype.
std::vector<float> download_as_f32(sn_context* context, const Tensor& tensor) {
    const sn_tensor_info info = sn_test::info_of(tensor);
    Tensor wide(context, SN_DTYPE_F32, {info.numel});
    EXPECT_EQ(sn_copy(context, tensor, wide), SN_OK) << sn_last_error();
    return download_f32(wide);
}

}  // namespace

TEST(KvWrite, RowsLandAtTheirPositionsInEveryDtypePair) {
    const int64_t tokens = 3, heads = 2, head_dim = 5, cache_len = 9, row = heads * head_dim;
    const std::vector<int32_t> positions = {6, 0, 3};
    const std::vector<float> src = sn_test::random_floats(tokens * row, 1, -3.0f, 3.0f);
    const std::vector<float> before = sn_test::random_floats(cache_len * row, 2);
    for (sn_dtype src_dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
        for (sn_dtype cache_dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
            SCOPED_TRACE(std::to_string(src_dtype) + " -> " + std::to_string(cache_dtype));
            Context context(1);
            Tensor tsrc = make_tensor(context, src_dtype, {tokens, heads, head_dim}, src);
            Tensor tpos = sn_test::make_i32(context, {tokens}, positions);
            Tensor cache = make_tensor(context, cache_dtype, {cache_len, heads, head_dim}, before);
            ASSERT_SN_OK(sn_kv_write(context, tsrc, tpos, cache));

            // Expected: the untouched rows as the cache stored them; written rows are the source
            // values as src stored them, rounded once more to the cache's dtype.
            std::vector<float> expected = sn_test::rounded_to(cache_dtype, before);
            const std::vector<float> src_seen = sn_test::rounded_to(src_dtype, src);
            for (int64_t t = 0; t < tokens; ++t) {
                for (int64_t i = 0; i < row; ++i) {
                    expected[positions[t] * row + i] = sn_test::rounded_to(cache_dtype, {src_seen[t * row + i]})[0];
                }
            }
            EXPECT_EQ(download_as_f32(context, cache), expected);
        }
    }
}

TEST(KvWrite, ViewsOfAFusedProjectionAsSource) {
    // Decode writes K and V straight from views into one q|k|v row.
    Context context(1);
    const int64_t heads = 2, head_dim = 4;
    const std::vector<float> qkv = sn_test::random_floats(3 * heads * head_dim, 5);
    Tensor fused = make_f32(context, {1, 3 * heads * head_dim}, qkv);
    const int64_t dims[] = {1, heads, head_dim};
    sn_tensor* raw_k = nullptr;
    ASSERT_SN_OK(sn_tensor_view(fused, heads * head_dim, dims, 3, &raw_k));
    Tensor k_view(raw_k);
    Tensor position = sn_test::make_i32(context, {1}, {2});
    Tensor cache(context, SN_DTYPE_F32, {4, heads, head_dim});
    ASSERT_SN_OK(sn_kv_write(context, k_view, position, cache));
    const std::vector<float> actual = download_f32(cache);
    for (int64_t i = 0; i < 4 * heads * head_dim; ++i) {
        const bool written = i / (heads * head_dim) == 2;
        EXPECT_EQ(actual[i], written ? qkv[heads * head_dim + i % (heads * head_dim)] : 0.0f) << i;
    }
}

TEST(KvWrite, ArgumentChecks) {
    Context context(1);
    Tensor src = make_f32(context, {2, 2, 4}, std::vector<float>(16, 1.0f));
    Tensor positions = sn_test::make_i32(context, {2}, {0, 3});
    Tensor cache(context, SN_DTYPE_F32, {4, 2, 4});
    Tensor out_of_range = sn_test::make_i32(context, {2}, {1, 4});
    EXPECT_SN_ERROR(sn_kv_write(context, src, out_of_range, cache), SN_ERR_INVALID_ARGUMENT,
                    "positions[1] = 4 is outside the cache");
    EXPECT_EQ(download_f32(cache), std::vector<float>(32, 0.0f)) << "a rejected write must not touch the cache";
    Tensor negative = sn_test::make_i32(context, {2}, {0, -2});
    EXPECT_SN_ERROR(sn_kv_write(context, src, negative, cache), SN_ERR_INVALID_ARGUMENT, "positions[1] = -2");
    Tensor wrong_heads(context, SN_DTYPE_F32, {4, 1, 4});
    EXPECT_SN_ERROR(sn_kv_write(context, src, positions, wrong_heads), SN_ERR_SHAPE_MISMATCH,
                    "cache: expected [S, 2, 4]");
    Tensor short_positions = sn_test::make_i32(context, {1}, {0});
    EXPECT_SN_ERROR(sn_kv_write(context, src, short_positions, cache), SN_ERR_SHAPE_MISMATCH,
                    "positions: expected 1-D [T] = [2]");
    Tensor flat_src = make_f32(context, {2, 8}, std::vector<float>(16, 1.0f));
    EXPECT_SN_ERROR(sn_kv_write(context, flat_src, positions, cache), SN_ERR_SHAPE_MISMATCH,
                    "src: expected 3-D [T, Hkv, Dh]");
    Tensor float_positions = make_f32(context, {2}, {0, 1});
    EXPECT_SN_ERROR(sn_kv_write(context, src, float_positions, cache), SN_ERR_DTYPE_MISMATCH, "positions");
    EXPECT_SN_ERROR(sn_kv_write(context, src, positions, nullptr), SN_ERR_NULL_ARGUMENT, "cache");
    // The cache may not overlap the rows it receives.
    Tensor big(context, SN_DTYPE_F32, {6, 2, 4});
    const int64_t dims[] = {2, 2, 4};
    sn_tensor* raw_view = nullptr;
    ASSERT_SN_OK(sn_tensor_view(big, 0, dims, 3, &raw_view));
    Tensor inside(raw_view);
    EXPECT_SN_ERROR(sn_kv_write(context, inside, positions, big), SN_ERR_INVALID_ARGUMENT, "cache must not alias src");
}
