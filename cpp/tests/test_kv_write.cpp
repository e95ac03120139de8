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

// ---- sn_rope_kv_write: the fused rope(q) + rope(k) + kv_write(k) + kv_write(v) ---------------

namespace {

Tensor view_of(const Tensor& base, int64_t offset, const std::vector<int64_t>& dims) {
    sn_tensor* raw = nullptr;
    EXPECT_EQ(sn_tensor_view(base, offset, dims.data(), static_cast<int32_t>(dims.size()), &raw), SN_OK)
        << sn_last_error();
    return Tensor(raw);
}

// q, k, v as views of one fused [T, (Hq + 2·Hkv)·Dh] row block would not be [T, H, Dh] for T > 1,
// so each lives in its own tensor, as the decoder's prefill buffers do; T = 1 uses views of one row.
struct FusedInputs {
    Tensor q, k, v, positions, k_cache, v_cache;
};

FusedInputs make_inputs(sn_context* context, int64_t q_heads, int64_t kv_heads, int64_t head_dim, int64_t cache_len,
                        const std::vector<int32_t>& positions, sn_dtype cache_dtype, uint32_t seed) {
    const int64_t tokens = static_cast<int64_t>(positions.size());
    FusedInputs in;
    in.q = make_f32(context, {tokens, q_heads, head_dim}, sn_test::random_floats(tokens * q_heads * head_dim, seed));
    in.k = make_f32(context, {tokens, kv_heads, head_dim},
                    sn_test::random_floats(tokens * kv_heads * head_dim, seed + 1, -3.0f, 3.0f));
    in.v = make_f32(context, {tokens, kv_heads, head_dim},
                    sn_test::random_floats(tokens * kv_heads * head_dim, seed + 2, -3.0f, 3.0f));
    in.positions = sn_test::make_i32(context, {tokens}, positions);
    const std::vector<float> before = sn_test::random_floats(cache_len * kv_heads * head_dim, seed + 3);
    in.k_cache = make_tensor(context, cache_dtype, {cache_len, kv_heads, head_dim}, before);
    in.v_cache = make_tensor(context, cache_dtype, {cache_len, kv_heads, head_dim}, before);
    return in;
}

}  // namespace

TEST(RopeKvWrite, EqualsTheFourOpsBitForBit) {
    struct Case {
        int64_t q_heads, kv_heads, head_dim, cache_len;
        std::vector<int32_t> positions;
        float theta;
    };
    const Case cases[] = {
        {6, 2, 10, 12, {6, 0, 3, 11, 2}, 10000.0f},  // GQA, Dh/2 odd, scattered positions
        {4, 4, 64, 300, {299}, 500000.0f},           // decode at a long position
        {3, 1, 8, 40, {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}, 10000.0f},
        {4, 2, 7, 9, {8, 1}, 0.0f},  // theta 0 (OPT): no rotation, odd Dh allowed
    };
    uint32_t seed = 100;
    for (const Case& c : cases) {
        for (sn_dtype cache_dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
            SCOPED_TRACE("Dh " + std::to_string(c.head_dim) + " theta " + std::to_string(c.theta) + " cache dtype " +
                         std::to_string(cache_dtype));
            for (int threads : {1, 3}) {
                Context context(threads);
                const auto inputs = [&] {
                    return make_inputs(context, c.q_heads, c.kv_heads, c.head_dim, c.cache_len, c.positions,
                                       cache_dtype, seed);
                };
                FusedInputs fused = inputs();
                FusedInputs apart = inputs();
                ASSERT_SN_OK(sn_rope_kv_write(context, fused.q, fused.k, fused.v, fused.positions, c.theta,
                                              fused.k_cache, fused.v_cache));
                if (c.theta != 0.0f) {
                    ASSERT_SN_OK(sn_rope(context, apart.q, apart.positions, c.theta, apart.q));
                    ASSERT_SN_OK(sn_rope(context, apart.k, apart.positions, c.theta, apart.k));
                }
                ASSERT_SN_OK(sn_kv_write(context, apart.k, apart.positions, apart.k_cache));
                ASSERT_SN_OK(sn_kv_write(context, apart.v, apart.positions, apart.v_cache));
                EXPECT_EQ(download_f32(fused.q), download_f32(apart.q));
                EXPECT_EQ(download_f32(fused.k), download_f32(apart.k));
                EXPECT_EQ(download_as_f32(context, fused.k_cache), download_as_f32(context, apart.k_cache));
                EXPECT_EQ(download_as_f32(context, fused.v_cache), download_as_f32(context, apart.v_cache));
                if (c.theta == 0.0f) {
                    // Nothing rotated: q and k keep their values.
                    EXPECT_EQ(download_f32(fused.q),
                              sn_test::random_floats(c.positions.size() * c.q_heads * c.head_dim, seed));
                }
            }
            seed += 10;
        }
    }
}

TEST(RopeKvWrite, DecodeViewsOfOneFusedRowAndGraphReplay) {
    // Decode: q, k, v are views of one q|k|v row; a recorded call reads the position tensor anew.
    Context context(2);
    const int64_t q_heads = 4, kv_heads = 2, head_dim = 8, cache_len = 5;
    const int64_t row = (q_heads + 2 * kv_heads) * head_dim;
    const std::vector<float> values = sn_test::random_floats(row, 7);
    Tensor qkv = make_f32(context, {1, row}, values);
    Tensor q = view_of(qkv, 0, {1, q_heads, head_dim});
    Tensor k = view_of(qkv, q_heads * head_dim, {1, kv_heads, head_dim});
    Tensor v = view_of(qkv, (q_heads + kv_heads) * head_dim, {1, kv_heads, head_dim});
    Tensor position = sn_test::make_i32(context, {1}, {0});
    Tensor k_cache(context, SN_DTYPE_F32, {cache_len, kv_heads, head_dim});
    Tensor v_cache(context, SN_DTYPE_F32, {cache_len, kv_heads, head_dim});
    ASSERT_SN_OK(sn_graph_begin_capture(context));
    ASSERT_SN_OK(sn_rope_kv_write(context, q, k, v, position, 10000.0f, k_cache, v_cache));
    sn_graph* graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(context, &graph));
    EXPECT_EQ(download_f32(qkv), values) << "capturing ran nothing";
    for (int32_t pos : {3, 1}) {
        ASSERT_SN_OK(sn_tensor_upload(qkv, values.data(), values.size() * sizeof(float)));
        ASSERT_SN_OK(sn_tensor_upload(position, &pos, sizeof pos));
        ASSERT_SN_OK(sn_graph_launch(graph));
        // The same through the separate ops on copies.
        const auto k_begin = values.begin() + q_heads * head_dim;
        const auto v_begin = values.begin() + (q_heads + kv_heads) * head_dim;
        Tensor q2 = make_f32(context, {1, q_heads, head_dim}, std::vector<float>(values.begin(), k_begin));
        Tensor k2 = make_f32(context, {1, kv_heads, head_dim}, std::vector<float>(k_begin, v_begin));
        ASSERT_SN_OK(sn_rope(context, q2, position, 10000.0f, q2));
        ASSERT_SN_OK(sn_rope(context, k2, position, 10000.0f, k2));
        EXPECT_EQ(download_f32(q), download_f32(q2)) << pos;
        EXPECT_EQ(download_f32(k), download_f32(k2)) << pos;
        const std::vector<float> k_rows = download_f32(k_cache), v_rows = download_f32(v_cache);
        const std::vector<float> k_rotated = download_f32(k2);
        for (int64_t i = 0; i < kv_heads * head_dim; ++i) {
            EXPECT_EQ(k_rows[pos * kv_heads * head_dim + i], k_rotated[i]) << pos << " " << i;
            EXPECT_EQ(v_rows[pos * kv_heads * head_dim + i], v_begin[i]) << pos << " " << i;
        }
    }
    ASSERT_SN_OK(sn_graph_destroy(graph));
}

TEST(RopeKvWrite, ArgumentChecks) {
    Context context(1);
    FusedInputs in = make_inputs(context, 4, 2, 8, 6, {0, 5}, SN_DTYPE_F32, 1);
    const std::vector<float> q_before = download_f32(in.q), k_before = download_f32(in.k);
    const std::vector<float> cache_before = download_f32(in.k_cache);
    Tensor bad = sn_test::make_i32(context, {2}, {1, 6});
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, bad, 10000.0f, in.k_cache, in.v_cache),
                    SN_ERR_INVALID_ARGUMENT, "positions[1] = 6 is outside the cache");
    EXPECT_EQ(download_f32(in.q), q_before) << "a rejected call must not rotate q";
    EXPECT_EQ(download_f32(in.k), k_before) << "a rejected call must not rotate k";
    EXPECT_EQ(download_f32(in.k_cache), cache_before) << "a rejected call must not write the cache";
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, in.positions, -1.0f, in.k_cache, in.v_cache),
                    SN_ERR_INVALID_ARGUMENT, "theta");
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, in.positions, NAN, in.k_cache, in.v_cache),
                    SN_ERR_INVALID_ARGUMENT, "theta");
    FusedInputs odd = make_inputs(context, 2, 1, 5, 6, {0, 1}, SN_DTYPE_F32, 2);
    EXPECT_SN_ERROR(sn_rope_kv_write(context, odd.q, odd.k, odd.v, odd.positions, 10000.0f, odd.k_cache, odd.v_cache),
                    SN_ERR_SHAPE_MISMATCH, "must be even");
    ASSERT_SN_OK(sn_rope_kv_write(context, odd.q, odd.k, odd.v, odd.positions, 0.0f, odd.k_cache, odd.v_cache));
    Tensor k_wide(context, SN_DTYPE_F32, {2, 2, 16});
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, k_wide, in.v, in.positions, 10000.0f, in.k_cache, in.v_cache),
                    SN_ERR_SHAPE_MISMATCH, "k: expected [T, Hkv, Dh] with T = 2 and Dh = 8");
    Tensor v_heads(context, SN_DTYPE_F32, {2, 1, 8});
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, v_heads, in.positions, 10000.0f, in.k_cache, in.v_cache),
                    SN_ERR_SHAPE_MISMATCH, "v has shape [2, 1, 8] but k has [2, 2, 8]");
    Tensor cache_heads(context, SN_DTYPE_F32, {6, 1, 8});
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, in.positions, 10000.0f, cache_heads, in.v_cache),
                    SN_ERR_SHAPE_MISMATCH, "k_cache: expected [S, 2, 8]");
    Tensor v_cache_short(context, SN_DTYPE_F32, {5, 2, 8});
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, in.positions, 10000.0f, in.k_cache, v_cache_short),
                    SN_ERR_SHAPE_MISMATCH, "v_cache has shape");
    Tensor v_cache_f16(context, SN_DTYPE_F16, {6, 2, 8});
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, in.positions, 10000.0f, in.k_cache, v_cache_f16),
                    SN_ERR_DTYPE_MISMATCH, "v_cache has dtype F16 but k_cache has F32");
    Tensor k_f16(context, SN_DTYPE_F16, {2, 2, 8});
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, k_f16, in.v, in.positions, 10000.0f, in.k_cache, in.v_cache),
                    SN_ERR_DTYPE_MISMATCH, "k has dtype F16 but q has F32");
    Tensor short_positions = sn_test::make_i32(context, {1}, {0});
    EXPECT_SN_ERROR(
        sn_rope_kv_write(context, in.q, in.k, in.v, short_positions, 10000.0f, in.k_cache, in.v_cache),
        SN_ERR_SHAPE_MISMATCH, "positions: expected 1-D [T] = [2]");
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, in.positions, 10000.0f, nullptr, in.v_cache),
                    SN_ERR_NULL_ARGUMENT, "k_cache");
    // No two tensors may overlap: k and v as the same memory, the caches as one tensor.
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.k, in.positions, 10000.0f, in.k_cache, in.v_cache),
                    SN_ERR_INVALID_ARGUMENT, "v must not alias k");
    EXPECT_SN_ERROR(sn_rope_kv_write(context, in.q, in.k, in.v, in.positions, 10000.0f, in.k_cache, in.k_cache),
                    SN_ERR_INVALID_ARGUMENT, "v_cache must not alias k_cache");
}
