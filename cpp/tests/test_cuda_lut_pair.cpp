// sn_tests_lut_pair: the staged pair-table LUT-GEMV (kernels/lut_pair_gemv.h) and its repack
// against a float64 reference on the host, from the same codes (packed into the checkpoint layout
// by lut_test_support.h, repacked on the GPU), LUT, x, bias and initial out. Shapes cover what the
// layout pads (N not a multiple of 16, K not a multiple of 256), every n-tile count (M = 1..32),
// row slices above 32, the SwiGLU epilogue, bias, accumulate and the tuning overrides.
//
// Tolerance (as test_cuda_lut.cpp's): the GPU multiplies F16 x by F16 table values exactly and
// sums in F32 in another order, then rounds once to F16: 1e-3·|out| for the rounding (2x its 2^-11
// bound) plus 2e-5·Σ|w| for the summation order (|x| <= 1), 1e-3 of the bias and of out's initial
// value when they are added.
#include "kernels/lut_pair_gemv.h"
#include "lut_pair_layout.h"
#include "lut_kernel_test_support.h"
#include "lut_test_support.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace {

#define CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

struct Case {
    int bits;
    int64_t m, n, k;
    bool bias = false, accumulate = false, swiglu = false;
    int warps = 0, depth = 0;
    bool settled = true;
    std::string name() const {
        return std::to_string(bits) + "-bit M=" + std::to_string(m) + " N=" + std::to_string(n) +
               " K=" + std::to_string(k) + (bias ? " bias" : "") + (accumulate ? " accumulate" : "") +
               (swiglu ? " swiglu" : "") + (warps ? " warps=" + std::to_string(warps) : "") +
               (depth ? " depth=" + std::to_string(depth) : "") + (settled ? "" : " unsettled");
    }
};

void run_case(const Case& c, uint32_t seed) {
    SCOPED_TRACE(c.name());
    const int levels = 1 << c.bits;
    const int64_t columns = c.swiglu ? c.n / 2 : c.n;
    const sn_test::LutInputs in = sn_test::random_lut_inputs(c.bits, c.m, c.n, c.k, columns, seed);
    const std::vector<uint8_t>& codes = in.codes;
    const std::vector<float>&lut = in.lut, &x = in.x, &bias = in.bias, &initial = in.initial;

    int32_t* qweight = sn_test::upload(sn_test::pack_codes(codes, c.n, c.k, c.bits));
    ASSERT_NE(qweight, nullptr);
    int32_t* packed = nullptr;
    const size_t packed_words =
        static_cast<size_t>(sn::lut_pair::tiles(c.n) * sn::lut_pair::units(c.k) * sn::lut_pair::unit_words(c.bits));
    CUDA_OK(cudaMalloc(&packed, packed_words * 4));
    CUDA_OK(cudaMemset(packed, 0xA5, packed_words * 4));  // every word must be written by the repack
    CUDA_OK(sn::cuda::launch_lut_pair_repack(qweight, packed, c.n, c.k, c.bits, nullptr));
    __half* glut = sn_test::upload(sn_test::halves(lut));
    __half* gx = sn_test::upload(sn_test::halves(x));
    __half* gbias = sn_test::upload(sn_test::halves(bias));
    __half* gout = sn_test::upload(sn_test::halves(initial));
    ASSERT_TRUE(glut && gx && gbias && gout);

    sn::cuda::LutGemvProblem p{};
    p.x = gx;
    p.packed = packed;
    p.lut = glut;
    p.bias = c.bias ? gbias : nullptr;
    p.bias_dtype = c.bias ? sn::cuda::GemvBias::f16 : sn::cuda::GemvBias::none;
    p.out = gout;
    p.accumulate = c.accumulate;
    p.m = c.m;
    p.n = c.n;
    p.k = c.k;
    p.bits = c.bits;
    p.warps = c.warps;
    p.stages = c.depth;
    p.weights_settled = c.settled;
    p.swiglu = c.swiglu;
    CUDA_OK(sn::cuda::launch_lut_pair_gemv(p, nullptr, true));
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<__half> got(static_cast<size_t>(c.m * columns));
    CUDA_OK(cudaMemcpy(got.data(), gout, got.size() * sizeof(__half), cudaMemcpyDeviceToHost));

    // Σ_k lut[row][code]·x[m][k] and Σ_k |lut[row][code]| in double.
    auto product = [&](int64_t m, int64_t row, double* magnitude) {
        double sum = 0.0, mag = 0.0;
        for (int64_t k = 0; k < c.k; ++k) {
            const double w = lut[static_cast<size_t>(row * levels + codes[static_cast<size_t>(row * c.k + k)])];
            sum += w * x[static_cast<size_t>(m * c.k + k)];
            mag += std::fabs(w);
        }
        *magnitude = mag;
        return sum + (c.bias ? bias[static_cast<size_t>(row)] : 0.0);
    };
    int failures = 0;
    for (int64_t m = 0; m < c.m; ++m) {
        for (int64_t n = 0; n < columns; ++n) {
            const double actual = __half2float(got[static_cast<size_t>(m * columns + n)]);
            double expected, bound;
            if (c.swiglu) {
                double mag_g, mag_u;
                const double gate = product(m, n, &mag_g), up = product(m, columns + n, &mag_u);
                expected = sn_test::swiglu_reference(gate, up, mag_g, mag_u, &bound);
            } else {
                double mag;
                expected = product(m, n, &mag);
                bound = 2e-5 * mag + 1e-5 + (c.bias ? 1e-3 * std::fabs(bias[static_cast<size_t>(n)]) : 0.0);
                if (c.accumulate) {
                    const double before = initial[static_cast<size_t>(m * columns + n)];
                    expected += before;
                    bound += 1e-3 * std::fabs(before);
                }
                bound += 1e-3 * std::fabs(expected);
            }
            if (!(std::fabs(actual - expected) <= bound) && failures++ < 5) {
                ADD_FAILURE() << "out[" << m << "][" << n << "] = " << actual << ", expected " << expected << " (bound "
                              << bound << ")";
            }
        }
    }
    EXPECT_EQ(failures, 0);
    for (void* d : {static_cast<void*>(qweight), static_cast<void*>(packed), static_cast<void*>(glut),
                    static_cast<void*>(gx), static_cast<void*>(gbias), static_cast<void*>(gout)}) {
        cudaFree(d);
    }
}

TEST(CudaLutPair, MatchesTheReferenceOnOddShapes) {
    uint32_t seed = 11;
    for (int bits : {3, 4}) {
        for (const auto& [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 16, 256},
                                                                                        {1, 37, 96},
                                                                                        {1, 1, 32},
                                                                                        {2, 100, 4128},
                                                                                        {3, 33, 800},
                                                                                        {8, 48, 512},
                                                                                        {9, 64, 288},
                                                                                        {16, 50, 1056},
                                                                                        {17, 31, 256},
                                                                                        {32, 20, 544},
                                                                                        {40, 45, 320},
                                                                                        {70, 18, 64}}) {
            run_case(Case{bits, m, n, k}, seed++);
        }
    }
}

TEST(CudaLutPair, BiasAccumulateAndOverrides) {
    uint32_t seed = 101;
    for (int bits : {3, 4}) {
        run_case(Case{bits, 1, 40, 512, true, false}, seed++);
        run_case(Case{bits, 5, 40, 512, true, true}, seed++);
        run_case(Case{bits, 12, 70, 800, false, true}, seed++);
        for (int warps : {4, 8}) {
            for (int depth : {2, 3}) {
                Case c{bits, 1, 96, 2304};
                c.warps = warps;
                c.depth = depth;
                run_case(c, seed++);
                c.m = 8;
                c.settled = false;
                run_case(c, seed++);
            }
        }
    }
}

TEST(CudaLutPair, SwigluEpilogue) {
    uint32_t seed = 201;
    for (int bits : {3, 4}) {
        for (int64_t m : {1, 3, 8}) {
            Case c{bits, m, 96, 800};
            c.swiglu = true;
            run_case(c, seed++);
        }
    }
}

TEST(CudaLutPair, LargeProduct) {
    for (int bits : {3, 4}) run_case(Case{bits, 1, 4096, 4096}, 301 + bits);
}

TEST(CudaLutPair, RejectsWhatItDoesNotTake) {
    sn::cuda::LutGemvProblem p{};
    alignas(16) static int32_t dummy[4];
    p.x = dummy;
    p.lut = dummy;
    p.packed = dummy;
    p.out = dummy;
    p.m = 1;
    p.n = 16;
    p.k = 32;
    p.bits = 5;
    EXPECT_EQ(sn::cuda::launch_lut_pair_gemv(p, nullptr, false), cudaErrorInvalidValue);  // bits
    p.bits = 3;
    p.k = 48;
    EXPECT_EQ(sn::cuda::launch_lut_pair_gemv(p, nullptr, false), cudaErrorInvalidValue);  // k % 32
    p.k = 32;
    p.rows = dummy;
    EXPECT_EQ(sn::cuda::launch_lut_pair_gemv(p, nullptr, false), cudaErrorInvalidValue);  // sparse part
    p.rows = nullptr;
    p.swiglu = true;
    p.n = 40;
    EXPECT_EQ(sn::cuda::launch_lut_pair_gemv(p, nullptr, false), cudaErrorInvalidValue);  // I % 16
}

}  // namespace
