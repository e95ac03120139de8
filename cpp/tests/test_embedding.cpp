// sn_embedding: gathers rows of F32/F16/BF16 tables; a bad id is reported with its position
// and leaves the output untouched.
#include "test_support.h"

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_tensor;
using sn_test::Tensor;

TEST(Embedding, GathersRowsOfEveryTableDtype) {
    const int64_t vocabulary = 11, width = 19;
    const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
    const std::vector<float> table = sn_test::random_floats(vocabulary * width, 1, -2.0f, 2.0f);
    for (sn_dtype dtype : {SN_DTYPE_F32, SN_DTYPE_F16, SN_DTYPE_BF16}) {
        Context context(2);
        Tensor ttable = make_tensor(context, dtype, {vocabulary, width}, table);
        Tensor tids = sn_test::make_i32(context, {5}, ids);
        Tensor out(context, SN_DTYPE_F32, {5, width});
        ASSERT_SN_OK(sn_embedding(context, ttable, tids, out));
        const std::vector<float> seen = sn_test::rounded_to(dtype, table);
        const std::vector<float> actual = download_f32(out);
        for (size_t t = 0; t < ids.size(); ++t) {
            for (int64_t d = 0; d < width; ++d) {
                ASSERT_EQ(actual[t * width + d], seen[ids[t] * width + d]) << "token " << t << " dim " << d;
            }
        }
    }
}

TEST(Embedding, OutOfRangeIdNamesItsPosition) {
    Context context(1);
    Tensor table = make_f32(context, {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    Tensor out = make_f32(context, {3, 2}, {-1, -1, -1, -1, -1, -1});
    Tensor too_big = sn_test::make_i32(context, {3}, {0, 1, 4});
    EXPECT_SN_ERROR(sn_embedding(context, table, too_big, out), SN_ERR_INVALID_ARGUMENT,
                    "ids[2] = 4 is outside [0, V)");
    Tensor negative = sn_test::make_i32(context, {3}, {-1, 1, 2});
    EXPECT_SN_ERROR(sn_embedding(context, table, negative, out), SN_ERR_INVALID_ARGUMENT, "ids[0] = -1");
    EXPECT_EQ(download_f32(out), std::vector<float>(6, -1.0f));
}

TEST(Embedding, ArgumentChecks) {
    Context context(1);
    Tensor table = make_f32(context, {4, 2}, std::vector<float>(8, 1.0f));
    Tensor ids = sn_test::make_i32(context, {3}, {0, 1, 2});
    Tensor out_wrong(context, SN_DTYPE_F32, {3, 3});
    EXPECT_SN_ERROR(sn_embedding(context, table, ids, out_wrong), SN_ERR_SHAPE_MISMATCH,
                    "out: expected [T, D] = [3, 2]");
    Tensor float_ids(context, SN_DTYPE_F32, {3});
    Tensor out(context, SN_DTYPE_F32, {3, 2});
    EXPECT_SN_ERROR(sn_embedding(context, table, float_ids, out), SN_ERR_DTYPE_MISMATCH, "ids: expected dtype I32");
}
