// sn_cross_entropy against logsumexp in double, over a vocabulary the size of OPT's and with
// logits offset far from zero; bad targets are reported with their position.
#include "test_support.h"

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::Tensor;

namespace {

std::vector<double> reference_losses(const std::vector<float>& logits, const std::vector<int32_t>& targets,
                                     int64_t vocabulary) {
    std::vector<double> losses;
    for (size_t t = 0; t < targets.size(); ++t) {
        const float* row = logits.data() + t * vocabulary;
        double maximum = row[0];
        for (int64_t i = 1; i < vocabulary; ++i) maximum = std::max(maximum, static_cast<double>(row[i]));
        double sum = 0.0;
        for (int64_t i = 0; i < vocabulary; ++i) sum += std::exp(row[i] - maximum);
        losses.push_back(maximum + std::log(sum) - row[targets[t]]);
    }
    return losses;
}

}  // namespace

TEST(CrossEntropy, LargeVocabularyMatchesDoubleLogSumExp) {
    Context context(2);
    const int64_t vocabulary = 50272;
    const std::vector<int32_t> targets = {0, 50271, 12345, 7};
    std::vector<float> logits = sn_test::random_floats(targets.size() * vocabulary, 1, -8.0f, 8.0f);
    for (int64_t i = 0; i < vocabulary; ++i) logits[2 * vocabulary + i] += 3000.0f;  // far from zero
    logits[3 * vocabulary + 7] = 40.0f;                                              // a confident, right row
    Tensor tlogits = make_f32(context, {4, vocabulary}, logits);
    Tensor ttargets = sn_test::make_i32(context, {4}, targets);
    Tensor losses(context, SN_DTYPE_F32, {4});
    ASSERT_SN_OK(sn_cross_entropy(context, tlogits, ttargets, losses));
    // Losses are ~11 (log V) here; 2e-6 relative is a few F32 ulps. Row 2's logits of ~3000 carry
    // ulp(3000) = 2.4e-4 of their own, which the reference shares (it reads the same floats).
    sn_test::expect_close(download_f32(losses), reference_losses(logits, targets, vocabulary), 1e-5, 2e-6, "losses");
}

TEST(CrossEntropy, OddVocabularyManyRows) {
    Context context(3);
    const int64_t vocabulary = 37;
    std::vector<int32_t> targets(50);
    for (size_t t = 0; t < targets.size(); ++t) targets[t] = static_cast<int32_t>((t * 7) % vocabulary);
    const std::vector<float> logits = sn_test::random_floats(targets.size() * vocabulary, 2, -5.0f, 5.0f);
    Tensor tlogits = make_f32(context, {50, vocabulary}, logits);
    Tensor ttargets = sn_test::make_i32(context, {50}, targets);
    Tensor losses(context, SN_DTYPE_F32, {50});
    ASSERT_SN_OK(sn_cross_entropy(context, tlogits, ttargets, losses));
    sn_test::expect_close(download_f32(losses), reference_losses(logits, targets, vocabulary), 1e-6, 1e-6, "losses");
}

TEST(CrossEntropy, ArgumentChecks) {
    Context context(1);
    Tensor logits = make_f32(context, {2, 5}, std::vector<float>(10, 0.0f));
    Tensor losses(context, SN_DTYPE_F32, {2});
    Tensor bad_target = sn_test::make_i32(context, {2}, {1, 5});
    EXPECT_SN_ERROR(sn_cross_entropy(context, logits, bad_target, losses), SN_ERR_INVALID_ARGUMENT,
                    "targets[1] = 5 is outside [0, V) with V = 5");
    Tensor ignore_index = sn_test::make_i32(context, {2}, {-100, 0});
    EXPECT_SN_ERROR(sn_cross_entropy(context, logits, ignore_index, losses), SN_ERR_INVALID_ARGUMENT,
                    "targets[0] = -100");
    Tensor short_targets = sn_test::make_i32(context, {3}, {0, 1, 2});
    EXPECT_SN_ERROR(sn_cross_entropy(context, logits, short_targets, losses), SN_ERR_SHAPE_MISMATCH,
                    "targets: expected 1-D [T] = [2]");
    Tensor f16_losses(context, SN_DTYPE_F16, {2});
    Tensor targets = sn_test::make_i32(context, {2}, {0, 1});
    EXPECT_SN_ERROR(sn_cross_entropy(context, logits, targets, f16_losses), SN_ERR_DTYPE_MISMATCH, "losses");
}
