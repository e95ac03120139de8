// sn_kmeans_rows on the CPU backend: the exact weighted k-means per row against a brute force
// over every partition (tiny rows), never worse than Lloyd, the rules of the C# solver
// (exclusions, zero weights, duplicates, m <= k, F16 LUTs, ties) and argument validation.
// Bit-for-bit agreement with the C# solver is checked by the managed tests (NativeKMeansTests).
#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

using sn_test::Tensor;

namespace {

struct Result {
    std::vector<float> lut;
    std::vector<uint8_t> codes;
};

// Runs the op on a fresh set of tensors. weights / excluded empty = NULL.
Result run_kmeans(sn_context* context, const std::vector<float>& values, const std::vector<float>& weights,
                  const std::vector<uint8_t>& excluded, int64_t rows, int64_t cols, int bits, bool half = false) {
    const int k = 1 << bits;
    Tensor v = sn_test::make_f32(context, {rows, cols}, values);
    Tensor w = weights.empty() ? Tensor() : sn_test::make_f32(context, {rows, cols}, weights);
    Tensor e;
    if (!excluded.empty()) {
        e = Tensor(context, SN_DTYPE_U8, {rows, cols});
        EXPECT_EQ(sn_tensor_upload(e, excluded.data(), excluded.size()), SN_OK) << sn_last_error();
    }
    Tensor lut(context, SN_DTYPE_F32, {rows, k});
    Tensor codes(context, SN_DTYPE_U8, {rows, cols});
    const sn_status status = sn_kmeans_rows(context, v, w, e, bits, half ? 1 : 0, lut, codes);
    EXPECT_EQ(status, SN_OK) << sn_last_error();
    Result result;
    result.lut = sn_test::download_f32(lut);
    result.codes.resize(static_cast<size_t>(rows * cols));
    EXPECT_EQ(sn_tensor_download(codes, result.codes.data(), result.codes.size()), SN_OK) << sn_last_error();
    return result;
}

// Σ w (x − lut[code])² of one row over its points (non-excluded, weight > 0), in double.
double objective(const float* values, const float* weights, const uint8_t* excluded, int64_t cols, const float* lut,
                 const uint8_t* codes) {
    double sum = 0;
    for (int64_t i = 0; i < cols; ++i) {
        if (excluded != nullptr && excluded[i] != 0) continue;
        const double w = weights != nullptr ? weights[i] : 1.0;
        const double d = static_cast<double>(values[i]) - lut[codes[i]];
        sum += w * d * d;
    }
    return sum;
}

// The merged points of a row: distinct values (ascending) with their summed weights.
std::vector<std::pair<double, double>> points_of(const float* values, const float* weights, int64_t cols) {
    std::map<double, double> merged;
    for (int64_t i = 0; i < cols; ++i) {
        const double w = weights != nullptr ? weights[i] : 1.0;
        if (w > 0) merged[values[i]] += w;
    }
    return {merged.begin(), merged.end()};
}

// The least Σ a (x − mean of its group)² over every split of the sorted points into k contiguous
// non-empty groups (k <= m): enumerates the C(m − 1, k − 1) sets of cut positions.
double brute_force(const std::vector<std::pair<double, double>>& points, int k) {
    const int m = static_cast<int>(points.size());
    const auto group_cost = [&](int begin, int end) {
        double weight = 0, moment = 0;
        for (int i = begin; i < end; ++i) {
            weight += points[i].second;
            moment += points[i].second * points[i].first;
        }
        const double mean = moment / weight;
        double cost = 0;
        for (int i = begin; i < end; ++i) cost += points[i].second * (points[i].first - mean) * (points[i].first - mean);
        return cost;
    };
    std::vector<int> cuts(static_cast<size_t>(k - 1));
    for (int c = 0; c < k - 1; ++c) cuts[c] = c + 1;
    double best = std::numeric_limits<double>::infinity();
    while (true) {
        double cost = 0;
        int begin = 0;
        for (int c = 0; c < k - 1; ++c) {
            cost += group_cost(begin, cuts[c]);
            begin = cuts[c];
        }
        cost += group_cost(begin, m);
        best = std::min(best, cost);
        // Next combination of k − 1 cuts from 1..m−1, in lexicographic order.
        int c = k - 2;
        while (c >= 0 && cuts[c] == m - (k - 1 - c)) --c;
        if (c < 0) break;
        ++cuts[c];
        for (int d = c + 1; d < k - 1; ++d) cuts[d] = cuts[d - 1] + 1;
    }
    return best;
}

// Weighted Lloyd from quantile seeds, 50 rounds: a local optimum the exact method must not lose to.
double lloyd(const std::vector<std::pair<double, double>>& points, int k) {
    const int m = static_cast<int>(points.size());
    std::vector<double> centers(static_cast<size_t>(k));
    for (int c = 0; c < k; ++c) centers[c] = points[static_cast<size_t>((2 * c + 1) * m / (2 * k))].first;
    std::vector<int> assignment(static_cast<size_t>(m));
    for (int round = 0; round < 50; ++round) {
        std::vector<double> weight(static_cast<size_t>(k)), moment(static_cast<size_t>(k));
        for (int i = 0; i < m; ++i) {
            int best = 0;
            for (int c = 1; c < k; ++c) {
                if (std::fabs(points[i].first - centers[c]) < std::fabs(points[i].first - centers[best])) best = c;
            }
            assignment[i] = best;
            weight[best] += points[i].second;
            moment[best] += points[i].second * points[i].first;
        }
        for (int c = 0; c < k; ++c) {
            if (weight[c] > 0) centers[c] = moment[c] / weight[c];
        }
    }
    double cost = 0;
    for (int i = 0; i < m; ++i) {
        double best = std::numeric_limits<double>::infinity();
        for (int c = 0; c < k; ++c) best = std::min(best, (points[i].first - centers[c]) * (points[i].first - centers[c]));
        cost += points[i].second * best;
    }
    return cost;
}

std::vector<float> positive_weights(size_t count, uint32_t seed) {
    std::vector<float> weights = sn_test::random_floats(count, seed, 0.0f, 1.0f);
    // Fisher-like: a few orders of magnitude, strictly positive.
    for (float& w : weights) w = std::pow(10.0f, 3.0f * w - 3.0f);
    return weights;
}

// Codes of a row are the nearest LUT entries (ties to the lower index), excluded ones that of 0.
void expect_nearest_codes(const float* values, const uint8_t* excluded, int64_t cols, const float* lut, int k,
                          const uint8_t* codes, const std::string& what) {
    const auto nearest = [&](double x) {
        int index = 0;
        while (index + 1 < k && x > 0.5 * (static_cast<double>(lut[index]) + lut[index + 1])) ++index;
        return index;
    };
    for (int64_t i = 0; i < cols; ++i) {
        const double x = excluded != nullptr && excluded[i] != 0 ? 0.0 : values[i];
        ASSERT_EQ(codes[i], nearest(x)) << what << ": position " << i;
    }
}

}  // namespace

TEST(KMeans, MatchesBruteForceOnTinyRows) {
    sn_test::Context context(2);
    std::mt19937 rng(7);
    for (int bits = 1; bits <= 3; ++bits) {
        const int k = 1 << bits;
        for (int64_t cols : {int64_t{3}, int64_t{7}, int64_t{9}, int64_t{12}}) {
            for (bool fisher : {false, true}) {
                const int64_t rows = 6;
                std::vector<float> values = sn_test::random_floats(static_cast<size_t>(rows * cols), rng());
                // Some duplicates, as real weights have after rounding.
                for (size_t i = 3; i < values.size(); i += 5) values[i] = values[i - 2];
                const std::vector<float> weights =
                    fisher ? positive_weights(values.size(), rng()) : std::vector<float>{};
                const Result result = run_kmeans(context, values, weights, {}, rows, cols, bits);
                for (int64_t r = 0; r < rows; ++r) {
                    const std::string what = std::to_string(bits) + " bits, C = " + std::to_string(cols) +
                                             (fisher ? " fisher" : "") + ", row " + std::to_string(r);
                    const float* row = values.data() + r * cols;
                    const float* row_weights = fisher ? weights.data() + r * cols : nullptr;
                    const auto points = points_of(row, row_weights, cols);
                    const double got = objective(row, row_weights, nullptr, cols, result.lut.data() + r * k,
                                                 result.codes.data() + r * cols);
                    const double expected =
                        static_cast<int>(points.size()) <= k ? 0.0 : brute_force(points, k);
                    EXPECT_NEAR(got, expected, 1e-6 * expected + 1e-12) << what;
                    EXPECT_TRUE(std::is_sorted(result.lut.begin() + r * k, result.lut.begin() + (r + 1) * k)) << what;
                    expect_nearest_codes(row, nullptr, cols, result.lut.data() + r * k, k,
                                         result.codes.data() + r * cols, what);
                }
            }
        }
    }
}

TEST(KMeans, NeverWorseThanLloyd) {
    sn_test::Context context(2);
    for (int bits : {3, 4}) {
        const int k = 1 << bits;
        for (int64_t cols : {int64_t{100}, int64_t{1000}}) {
            const int64_t rows = 4;
            std::vector<float> values = sn_test::random_floats(static_cast<size_t>(rows * cols), 11 + bits);
            // Heavy tails, like LLM weights.
            for (float& v : values) v = v * v * v;
            const std::vector<float> weights = positive_weights(values.size(), 12 + bits);
            const Result result = run_kmeans(context, values, weights, {}, rows, cols, bits);
            for (int64_t r = 0; r < rows; ++r) {
                const float* row = values.data() + r * cols;
                const float* row_weights = weights.data() + r * cols;
                const double exact =
                    objective(row, row_weights, nullptr, cols, result.lut.data() + r * k, result.codes.data() + r * cols);
                const double local = lloyd(points_of(row, row_weights, cols), k);
                EXPECT_LE(exact, local * (1 + 1e-9)) << bits << " bits, C = " << cols << ", row " << r;
            }
        }
    }
}

TEST(KMeans, ExcludedPositionsNeitherMoveCentroidsNorKeepTheirCode) {
    sn_test::Context context(2);
    const int64_t rows = 3, cols = 200;
    const int bits = 3, k = 8;
    std::vector<float> values = sn_test::random_floats(static_cast<size_t>(rows * cols), 21);
    const std::vector<float> weights = positive_weights(values.size(), 22);
    std::vector<uint8_t> excluded(values.size());
    for (size_t i = 0; i < excluded.size(); i += 7) excluded[i] = 1;
    const Result result = run_kmeans(context, values, weights, excluded, rows, cols, bits);

    // Excluded values are ignored: changing them changes nothing but nothing else either.
    std::vector<float> changed = values;
    for (size_t i = 0; i < changed.size(); ++i) {
        if (excluded[i] != 0) changed[i] = 100.0f;
    }
    const Result again = run_kmeans(context, changed, weights, excluded, rows, cols, bits);
    EXPECT_EQ(result.lut, again.lut);
    EXPECT_EQ(result.codes, again.codes);
    for (int64_t r = 0; r < rows; ++r) {
        expect_nearest_codes(values.data() + r * cols, excluded.data() + r * cols, cols, result.lut.data() + r * k, k,
                             result.codes.data() + r * cols, "row " + std::to_string(r));
    }

    // The same exclusions as I32 flags give the same result.
    Tensor v = sn_test::make_f32(context, {rows, cols}, values);
    Tensor w = sn_test::make_f32(context, {rows, cols}, weights);
    std::vector<int32_t> flags(excluded.begin(), excluded.end());
    for (int32_t& flag : flags) flag *= -3;  // any non-zero value
    Tensor e = sn_test::make_i32(context, {rows, cols}, flags);
    Tensor lut(context, SN_DTYPE_F32, {rows, k});
    Tensor codes(context, SN_DTYPE_U8, {rows, cols});
    ASSERT_SN_OK(sn_kmeans_rows(context, v, w, e, bits, 0, lut, codes));
    EXPECT_EQ(sn_test::download_f32(lut), result.lut);
}

TEST(KMeans, ZeroWeightPositionsAreCodedButDoNotMoveCentroids) {
    sn_test::Context context(2);
    const int64_t rows = 2, cols = 300;
    const int bits = 4;
    std::vector<float> values = sn_test::random_floats(static_cast<size_t>(rows * cols), 31);
    std::vector<float> weights = positive_weights(values.size(), 32);
    for (size_t i = 0; i < weights.size(); i += 3) weights[i] = 0.0f;
    const Result result = run_kmeans(context, values, weights, {}, rows, cols, bits);
    std::vector<float> changed = values;
    for (size_t i = 0; i < changed.size(); i += 3) changed[i] = -changed[i] * 1.5f;
    const Result again = run_kmeans(context, changed, weights, {}, rows, cols, bits);
    EXPECT_EQ(result.lut, again.lut);
    for (int64_t r = 0; r < rows; ++r) {
        expect_nearest_codes(changed.data() + r * cols, nullptr, cols, again.lut.data() + r * 16, 16,
                             again.codes.data() + r * cols, "row " + std::to_string(r));
    }
}

TEST(KMeans, AllZeroWeightsFallBackToUniform) {
    sn_test::Context context(2);
    const int64_t rows = 2, cols = 150;
    const int bits = 3;
    const std::vector<float> values = sn_test::random_floats(static_cast<size_t>(rows * cols), 41);
    std::vector<float> weights = positive_weights(values.size(), 42);
    std::fill(weights.begin(), weights.begin() + cols, 0.0f);  // row 0: no sensitivity at all
    std::vector<uint8_t> excluded(values.size());
    for (size_t i = 0; i < excluded.size(); i += 5) excluded[i] = 1;
    const Result fisher = run_kmeans(context, values, weights, excluded, rows, cols, bits);
    const Result uniform = run_kmeans(context, values, {}, excluded, rows, cols, bits);
    EXPECT_TRUE(std::equal(fisher.lut.begin(), fisher.lut.begin() + 8, uniform.lut.begin()));
    EXPECT_TRUE(std::equal(fisher.codes.begin(), fisher.codes.begin() + cols, uniform.codes.begin()));
    EXPECT_FALSE(std::equal(fisher.lut.begin() + 8, fisher.lut.end(), uniform.lut.begin() + 8));
}

TEST(KMeans, FewDistinctValuesAreTheirOwnCentroids) {
    sn_test::Context context(2);
    const int bits = 3;
    // Row 0: 5 distinct values (many duplicates) -> LUT = them, padded with the largest.
    // Row 1: every position excluded -> LUT all 0, every code that of 0.
    // Row 2: exactly k distinct values.
    const int64_t cols = 12;
    std::vector<float> values = {0.5f, -1.0f, 0.5f, 2.0f, 0.25f, 2.0f, -1.0f, 0.5f, 3.0f, 3.0f, 0.25f, 0.5f,
                                 1.0f, 2.0f,  3.0f, 4.0f, 5.0f,  6.0f, 7.0f,  8.0f, 9.0f, 1.0f, 2.0f,  3.0f,
                                 -4.0f, -3.0f, -2.0f, -1.0f, 0.0f, 1.0f, 2.0f, 3.0f, -4.0f, 3.0f, 0.0f, -2.0f};
    std::vector<uint8_t> excluded(values.size());
    std::fill(excluded.begin() + cols, excluded.begin() + 2 * cols, 1);
    const Result result = run_kmeans(context, values, {}, excluded, 3, cols, bits);
    EXPECT_EQ(std::vector<float>(result.lut.begin(), result.lut.begin() + 8),
              (std::vector<float>{-1.0f, 0.25f, 0.5f, 2.0f, 3.0f, 3.0f, 3.0f, 3.0f}));
    EXPECT_EQ(std::vector<float>(result.lut.begin() + 8, result.lut.begin() + 16), std::vector<float>(8, 0.0f));
    EXPECT_EQ(std::vector<uint8_t>(result.codes.begin() + cols, result.codes.begin() + 2 * cols),
              std::vector<uint8_t>(cols, 0));
    EXPECT_EQ(std::vector<float>(result.lut.begin() + 16, result.lut.end()),
              (std::vector<float>{-4.0f, -3.0f, -2.0f, -1.0f, 0.0f, 1.0f, 2.0f, 3.0f}));
    for (int64_t i = 0; i < cols; ++i) {
        EXPECT_EQ(result.lut[static_cast<size_t>(result.codes[i])], values[i]) << "row 0, position " << i;
        EXPECT_EQ(result.lut[16 + result.codes[2 * cols + i]], values[2 * cols + i]) << "row 2, position " << i;
    }
    // Repeated LUT entries: the first of equal entries wins (3.0 -> index 4).
    EXPECT_EQ(result.codes[8], 4);
}

TEST(KMeans, HalfPrecisionLutHoldsF16ValuesAndNearestCodes) {
    sn_test::Context context(2);
    const int64_t rows = 3, cols = 500;
    const int bits = 4;
    const std::vector<float> values = sn_test::random_floats(static_cast<size_t>(rows * cols), 51, -0.05f, 0.05f);
    const std::vector<float> weights = positive_weights(values.size(), 52);
    const Result result = run_kmeans(context, values, weights, {}, rows, cols, bits, true);
    const Result full = run_kmeans(context, values, weights, {}, rows, cols, bits, false);
    for (size_t j = 0; j < result.lut.size(); ++j) {
        EXPECT_EQ(result.lut[j], sn::f16_to_f32(sn::f32_to_f16(full.lut[j]))) << "entry " << j;
    }
    for (int64_t r = 0; r < rows; ++r) {
        expect_nearest_codes(values.data() + r * cols, nullptr, cols, result.lut.data() + r * 16, 16,
                             result.codes.data() + r * cols, "row " + std::to_string(r));
    }
}

TEST(KMeans, ResultDoesNotDependOnTheThreadCount) {
    const int64_t rows = 9, cols = 257;
    const std::vector<float> values = sn_test::random_floats(static_cast<size_t>(rows * cols), 61);
    const std::vector<float> weights = positive_weights(values.size(), 62);
    sn_test::Context one(1), four(4);
    const Result a = run_kmeans(one, values, weights, {}, rows, cols, 4);
    const Result b = run_kmeans(four, values, weights, {}, rows, cols, 4);
    EXPECT_EQ(a.lut, b.lut);
    EXPECT_EQ(a.codes, b.codes);
}

TEST(KMeans, RejectsBadArgumentsNamingThem) {
    sn_test::Context context(2);
    Tensor values = sn_test::make_f32(context, {2, 8}, std::vector<float>(16, 0.5f));
    Tensor lut(context, SN_DTYPE_F32, {2, 8});
    Tensor codes(context, SN_DTYPE_U8, {2, 8});
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, nullptr, nullptr, 0, 0, lut, codes), SN_ERR_INVALID_ARGUMENT,
                    "bits");
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, nullptr, nullptr, 9, 0, lut, codes), SN_ERR_INVALID_ARGUMENT,
                    "bits");
    EXPECT_SN_ERROR(sn_kmeans_rows(context, nullptr, nullptr, nullptr, 3, 0, lut, codes), SN_ERR_NULL_ARGUMENT,
                    "values");
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, nullptr, nullptr, 4, 0, lut, codes), SN_ERR_SHAPE_MISMATCH,
                    "lut");
    Tensor wrong_codes(context, SN_DTYPE_U8, {2, 7});
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, nullptr, nullptr, 3, 0, lut, wrong_codes), SN_ERR_SHAPE_MISMATCH,
                    "codes");
    Tensor i32_codes(context, SN_DTYPE_I32, {2, 8});
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, nullptr, nullptr, 3, 0, lut, i32_codes), SN_ERR_DTYPE_MISMATCH,
                    "codes");
    Tensor f16_weights(context, SN_DTYPE_F16, {2, 8});
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, f16_weights, nullptr, 3, 0, lut, codes), SN_ERR_DTYPE_MISMATCH,
                    "weights");
    Tensor short_weights(context, SN_DTYPE_F32, {2, 4});
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, short_weights, nullptr, 3, 0, lut, codes), SN_ERR_SHAPE_MISMATCH,
                    "weights");
    Tensor f32_excluded(context, SN_DTYPE_F32, {2, 8});
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, nullptr, f32_excluded, 3, 0, lut, codes), SN_ERR_DTYPE_MISMATCH,
                    "excluded");
    Tensor flat(context, SN_DTYPE_F32, {16});
    EXPECT_SN_ERROR(sn_kmeans_rows(context, flat, nullptr, nullptr, 3, 0, lut, codes), SN_ERR_SHAPE_MISMATCH,
                    "values");
    // Outputs over inputs.
    EXPECT_SN_ERROR(sn_kmeans_rows(context, values, nullptr, nullptr, 3, 0, values, codes), SN_ERR_INVALID_ARGUMENT,
                    "lut");
}
