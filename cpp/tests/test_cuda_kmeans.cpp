// sn_tests_cuda, k-means: the CUDA sn_kmeans_rows against the CPU op on the same rows. Lengths
// cover one-warp rows (7), short rows (100), LLaMA-7B's 4096 (the DP in shared memory), its 11008
// (the DP in global memory), 5000 (the DP in shared memory, its widest levels in several passes of
// the node table on an H100) and 20000 (the sort in global memory too); 3 and 4 bits; Fisher
// weights and exclusions (U8 and I32), rows whose weights are all 0, rows with few distinct
// values, a fully excluded row, and F16 LUTs. Matrices of more rows than an H100 runs blocks at
// once (132) check that the persistent blocks take several rows each.
//
// Tolerance (kernels/kmeans.cu, "Agreement with the CPU"): the GPU's prefix sums and means are
// parallel sums, so centroids may differ in the last bits: the LUT within 1e-6 of the row's
// largest |entry|, and a code may differ only where the value is within that of being equidistant
// from the two entries.
#include "cuda_test_support.h"
#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

using sn_test::Tensor;

namespace {

class CudaKMeans : public sn_test::CudaVsCpu {};

struct Rows {
    int64_t rows, cols;
    std::vector<float> values, weights;  // weights empty = NULL
    std::vector<int32_t> excluded;       // empty = NULL
};

struct Output {
    std::vector<float> lut;
    std::vector<uint8_t> codes;
};

Output run(sn_context* context, const Rows& in, int bits, bool half, sn_dtype excluded_dtype) {
    const int k = 1 << bits;
    Tensor values = sn_test::make_f32(context, {in.rows, in.cols}, in.values);
    Tensor weights = in.weights.empty() ? Tensor() : sn_test::make_f32(context, {in.rows, in.cols}, in.weights);
    Tensor excluded;
    if (!in.excluded.empty()) {
        if (excluded_dtype == SN_DTYPE_I32) {
            excluded = sn_test::make_i32(context, {in.rows, in.cols}, in.excluded);
        } else {
            const std::vector<uint8_t> flags(in.excluded.begin(), in.excluded.end());
            excluded = Tensor(context, SN_DTYPE_U8, {in.rows, in.cols});
            EXPECT_EQ(sn_tensor_upload(excluded, flags.data(), flags.size()), SN_OK) << sn_last_error();
        }
    }
    Tensor lut(context, SN_DTYPE_F32, {in.rows, k});
    Tensor codes(context, SN_DTYPE_U8, {in.rows, in.cols});
    EXPECT_EQ(sn_kmeans_rows(context, values, weights, excluded, bits, half ? 1 : 0, lut, codes), SN_OK)
        << sn_last_error();
    Output out;
    out.lut = sn_test::download_f32(lut);
    out.codes.resize(static_cast<size_t>(in.rows * in.cols));
    EXPECT_EQ(sn_tensor_download(codes, out.codes.data(), out.codes.size()), SN_OK) << sn_last_error();
    return out;
}

Rows make_rows(int64_t rows, int64_t cols, bool fisher, bool exclusions, uint32_t seed) {
    Rows in{rows, cols, {}, {}, {}};
    std::mt19937 rng(seed);
    std::student_t_distribution<float> heavy(4.0f);  // LLM weights have heavy tails
    in.values.resize(static_cast<size_t>(rows * cols));
    for (float& v : in.values) v = 0.02f * heavy(rng);
    if (fisher) {
        std::uniform_real_distribution<float> exponent(-9.0f, -3.0f);
        in.weights.resize(in.values.size());
        for (float& w : in.weights) w = std::pow(10.0f, exponent(rng));
    }
    if (exclusions) {
        in.excluded.resize(in.values.size());
        for (int32_t& e : in.excluded) e = rng() % 200 == 0 ? 1 : 0;  // 0.5 %, as SqueezeLLM's sparse part
    }
    // Special rows, where there are enough of them: all weights 0, few distinct values, all excluded.
    if (rows >= 4 && fisher) std::fill(in.weights.begin() + cols, in.weights.begin() + 2 * cols, 0.0f);
    if (rows >= 4) {
        for (int64_t i = 0; i < cols; ++i)
            in.values[static_cast<size_t>(2 * cols + i)] = 0.01f * static_cast<float>(i % 5);
    }
    if (rows >= 4 && exclusions) std::fill(in.excluded.begin() + 3 * cols, in.excluded.begin() + 4 * cols, 1);
    return in;
}

void compare(const Rows& in, int bits, const Output& cpu, const Output& gpu, const std::string& what) {
    const int k = 1 << bits;
    ASSERT_EQ(cpu.lut.size(), gpu.lut.size());
    int lut_failures = 0, code_failures = 0;
    int64_t near_ties = 0;
    for (int64_t r = 0; r < in.rows; ++r) {
        const float* lc = cpu.lut.data() + r * k;
        const float* lg = gpu.lut.data() + r * k;
        double scale = 1e-30;
        for (int j = 0; j < k; ++j) scale = std::max(scale, std::fabs(static_cast<double>(lc[j])));
        const double tolerance = 1e-6 * scale;
        for (int j = 0; j < k; ++j) {
            if (std::fabs(static_cast<double>(lg[j]) - lc[j]) > tolerance && lut_failures++ < 5) {
                ADD_FAILURE() << what << ": row " << r << " entry " << j << ": CUDA " << lg[j] << ", CPU " << lc[j];
            }
        }
        for (int64_t i = 0; i < in.cols; ++i) {
            const size_t at = static_cast<size_t>(r * in.cols + i);
            const int c = cpu.codes[at], g = gpu.codes[at];
            if (c == g) continue;
            const bool excluded = !in.excluded.empty() && in.excluded[at] != 0;
            const double x = excluded ? 0.0 : in.values[at];
            const double gap = std::fabs(std::fabs(x - lc[c]) - std::fabs(x - lc[g]));
            if (gap <= tolerance) {
                ++near_ties;
            } else if (code_failures++ < 5) {
                ADD_FAILURE() << what << ": row " << r << " position " << i << " (value " << x << "): CUDA code " << g
                              << ", CPU code " << c << " (entries " << lc[g] << ", " << lc[c] << ")";
            }
        }
    }
    EXPECT_EQ(lut_failures, 0) << what;
    EXPECT_EQ(code_failures, 0) << what;
    // Near-ties are rare: a handful at most per case.
    EXPECT_LE(near_ties, in.rows) << what;
}

struct Case {
    int64_t rows, cols;
    int bits;
    bool fisher, exclusions, half;
    sn_dtype excluded_dtype;
    std::string name() const {
        return std::to_string(rows) + "x" + std::to_string(cols) + " " + std::to_string(bits) + "-bit" +
               (fisher ? " fisher" : "") +
               (exclusions ? (excluded_dtype == SN_DTYPE_I32 ? " excluded(I32)" : " excluded(U8)") : "") +
               (half ? " f16-lut" : "");
    }
};

void check(sn_context* cpu, sn_context* gpu, const Case& c, uint32_t seed) {
    SCOPED_TRACE(c.name());
    const Rows in = make_rows(c.rows, c.cols, c.fisher, c.exclusions, seed);
    const Output expected = run(cpu, in, c.bits, c.half, c.excluded_dtype);
    const Output actual = run(gpu, in, c.bits, c.half, c.excluded_dtype);
    compare(in, c.bits, expected, actual, c.name());
    if (c.half) {
        for (float entry : actual.lut) ASSERT_EQ(entry, sn::f16_to_f32(sn::f32_to_f16(entry))) << "not an F16 value";
    }
}

}  // namespace

TEST_F(CudaKMeans, MatchesCpuOnShortRows) {
    uint32_t seed = 100;
    for (int64_t cols : {int64_t{7}, int64_t{100}}) {
        for (int bits : {3, 4}) {
            check(cpu, gpu, {64, cols, bits, true, true, false, SN_DTYPE_U8}, seed++);
            check(cpu, gpu, {64, cols, bits, false, false, false, SN_DTYPE_U8}, seed++);
        }
    }
}

TEST_F(CudaKMeans, MatchesCpuOnLlamaRows) {
    uint32_t seed = 200;
    for (int bits : {3, 4}) {
        check(cpu, gpu, {24, 4096, bits, true, true, false, SN_DTYPE_U8}, seed++);
        check(cpu, gpu, {8, 11008, bits, true, true, false, SN_DTYPE_I32}, seed++);
    }
    check(cpu, gpu, {12, 4096, 4, false, false, false, SN_DTYPE_U8}, seed++);
}

// More rows than resident blocks (one per SM for these widths): each block takes several rows from
// the row counter, reusing its shared memory and scratch.
TEST_F(CudaKMeans, MatchesCpuOnManyRowsPerBlock) {
    uint32_t seed = 250;
    check(cpu, gpu, {400, 4096, 3, true, true, false, SN_DTYPE_U8}, seed++);
    check(cpu, gpu, {300, 4096, 4, true, false, false, SN_DTYPE_U8}, seed++);
    check(cpu, gpu, {160, 11008, 3, true, true, false, SN_DTYPE_I32}, seed++);
}

// Rows of 5000: the DP fits in shared memory but the node table beside it holds fewer nodes than
// the widest levels (4096), which then run in several passes.
TEST_F(CudaKMeans, MatchesCpuWhenDpLevelsRunInPasses) {
    check(cpu, gpu, {16, 5000, 3, true, true, false, SN_DTYPE_U8}, 270);
    check(cpu, gpu, {16, 5000, 4, false, false, false, SN_DTYPE_U8}, 271);
}

TEST_F(CudaKMeans, MatchesCpuWhenTheSortSpillsToGlobalMemory) {
    check(cpu, gpu, {4, 20000, 3, true, true, false, SN_DTYPE_U8}, 300);
}

TEST_F(CudaKMeans, HalfPrecisionLutAndOtherBitWidths) {
    check(cpu, gpu, {16, 4096, 4, true, true, true, SN_DTYPE_U8}, 400);
    check(cpu, gpu, {16, 300, 2, true, false, false, SN_DTYPE_U8}, 401);
    check(cpu, gpu, {8, 1000, 8, true, true, false, SN_DTYPE_I32}, 402);
}

TEST_F(CudaKMeans, RejectsWhatTheCpuRejects) {
    Tensor values = sn_test::make_f32(gpu, {2, 8}, std::vector<float>(16, 0.5f));
    Tensor lut(gpu, SN_DTYPE_F32, {2, 16});
    Tensor codes(gpu, SN_DTYPE_U8, {2, 8});
    EXPECT_SN_ERROR(sn_kmeans_rows(gpu, values, nullptr, nullptr, 3, 0, lut, codes), SN_ERR_SHAPE_MISMATCH, "lut");
    EXPECT_SN_ERROR(sn_kmeans_rows(gpu, values, nullptr, nullptr, 9, 0, lut, codes), SN_ERR_INVALID_ARGUMENT, "bits");
}
