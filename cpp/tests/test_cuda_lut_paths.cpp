// sn_tests_lut_paths: every single-row launch of the LUT-GEMV (kernels/lut_gemv.cu) that the
// benchmark overrides can pick gives the library's own result: x in the ring (the library's
// choice), in registers, or in shared memory with the sparse part fused (x_path = 3), at every
// ring depth (2, 4, 8). The kernels are launched directly (the op always takes the library's path,
// which test_cuda_lut.cpp checks against the CPU op), from the same codes (checkpoint layout,
// repacked on the GPU), LUT, x, sparse part, bias and initial out:
//   - dense products must equal the library's bit for bit (the same fragments meet the same mma
//     in the same order whichever way x arrives and however deep the ring is);
//   - with a sparse part, the fused sums run in another order than lut_sparse_kernel's, so both
//     are held to a float64 reference on the host with test_cuda_lut.cpp's bound.
#include "cuda/state.h"  // DataError
#include "kernels/lut_gemv.h"
#include "lut_layout.h"
#include "lut_kernel_test_support.h"
#include "lut_test_support.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

#define CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

struct Launch {
    int x_path, stages;
    std::string name() const { return "x_path=" + std::to_string(x_path) + " stages=" + std::to_string(stages); }
};
// The library's choice first (the others are compared with it), then every override.
const Launch kLaunches[] = {{0, 0}, {0, 2}, {0, 4}, {0, 8}, {2, 0}, {2, 2}, {3, 0}, {3, 2}, {3, 4}, {3, 8}};

struct Case {
    int bits;
    int64_t n, k;
    const sn_test::Csr* csr = nullptr;  // sparse part, or none
    bool bias = false, accumulate = false, swiglu = false;
    std::string name() const {
        return std::to_string(bits) + "-bit N=" + std::to_string(n) + " K=" + std::to_string(k) +
               (csr ? " sparse" : "") + (bias ? " bias" : "") + (accumulate ? " accumulate" : "") +
               (swiglu ? " swiglu" : "");
    }
};

void run_case(const Case& c, uint32_t seed) {
    SCOPED_TRACE(c.name());
    const int levels = 1 << c.bits;
    const int64_t columns = c.swiglu ? c.n / 2 : c.n;
    const sn_test::LutInputs in = sn_test::random_lut_inputs(c.bits, 1, c.n, c.k, columns, seed);
    const std::vector<uint8_t>& codes = in.codes;
    const std::vector<float>&lut = in.lut, &x = in.x, &bias = in.bias, &initial = in.initial;

    int32_t* qweight = sn_test::upload(sn_test::pack_codes(codes, c.n, c.k, c.bits));
    ASSERT_NE(qweight, nullptr);
    int32_t* packed = nullptr;
    const size_t packed_words =
        static_cast<size_t>(sn::lut::tiles(c.n) * sn::lut::units(c.k) * sn::lut::unit_words(c.bits));
    CUDA_OK(cudaMalloc(&packed, packed_words * 4));
    CUDA_OK(sn::cuda::launch_lut_repack(qweight, packed, c.n, c.k, c.bits, nullptr));
    __half* glut = sn_test::upload(sn_test::halves(lut));
    __half* gx = sn_test::upload(sn_test::halves(x));
    __half* gbias = sn_test::upload(sn_test::halves(bias));
    __half* gout = nullptr;
    CUDA_OK(cudaMalloc(&gout, static_cast<size_t>(columns) * sizeof(__half)));
    ASSERT_TRUE(glut && gx && gbias);
    int32_t *grows = nullptr, *gcols = nullptr;
    __half* gvals = nullptr;
    if (c.csr != nullptr) {
        grows = sn_test::upload(c.csr->rows);
        gcols = sn_test::upload(c.csr->cols);
        gvals = sn_test::upload(sn_test::halves(c.csr->vals));
        ASSERT_TRUE(grows && gcols && gvals);
    }
    const int64_t nnz = c.csr != nullptr ? static_cast<int64_t>(c.csr->cols.size()) : 0;
    const size_t sums_floats = sn::cuda::lut_sparse_sums_floats(1, c.n, nnz);
    float* sums = nullptr;
    CUDA_OK(cudaMalloc(&sums, sums_floats * sizeof(float)));
    sn::cuda::DataError* data_error = nullptr;
    CUDA_OK(cudaMalloc(&data_error, sizeof(sn::cuda::DataError)));
    CUDA_OK(cudaMemset(data_error, 0, sizeof(sn::cuda::DataError)));

    // Σ_k w[row][k]·x[k] (+ the row's sparse entries) and Σ|w| in double.
    auto product = [&](int64_t row, double* magnitude) {
        double sum = 0.0, mag = 0.0;
        for (int64_t k = 0; k < c.k; ++k) {
            const double w = lut[static_cast<size_t>(row * levels + codes[static_cast<size_t>(row * c.k + k)])];
            sum += w * x[static_cast<size_t>(k)];
            mag += std::fabs(w);
        }
        if (c.csr != nullptr) {
            for (int32_t e = c.csr->rows[static_cast<size_t>(row)]; e < c.csr->rows[static_cast<size_t>(row) + 1];
                 ++e) {
                const double v = __half2float(__float2half(c.csr->vals[static_cast<size_t>(e)]));
                sum += v * x[static_cast<size_t>(c.csr->cols[static_cast<size_t>(e)])];
                mag += std::fabs(v);
            }
        }
        *magnitude = mag;
        return sum + (c.bias ? bias[static_cast<size_t>(row)] : 0.0);
    };
    std::vector<double> expected(static_cast<size_t>(columns)), bound(expected.size());
    for (int64_t n = 0; n < columns; ++n) {
        double mag = 0.0;
        if (c.swiglu) {
            double mag_u = 0.0;
            const double gate = product(n, &mag), up = product(columns + n, &mag_u);
            expected[n] = sn_test::swiglu_reference(gate, up, mag, mag_u, &bound[n]);
        } else {
            expected[n] = product(n, &mag);
            bound[n] = 2e-5 * mag + 1e-5 + (c.bias ? 1e-3 * std::fabs(bias[static_cast<size_t>(n)]) : 0.0);
            if (c.accumulate) {
                expected[n] += initial[static_cast<size_t>(n)];
                bound[n] += 1e-3 * std::fabs(initial[static_cast<size_t>(n)]);
            }
            bound[n] += 1e-3 * std::fabs(expected[n]);
        }
    }

    std::vector<__half> library;
    const std::vector<__half> initial16 = sn_test::halves(initial);
    for (const Launch& launch : kLaunches) {
        SCOPED_TRACE(launch.name());
        CUDA_OK(cudaMemcpy(gout, initial16.data(), initial16.size() * sizeof(__half), cudaMemcpyHostToDevice));
        sn::cuda::LutGemvProblem p{};
        p.x = gx;
        p.packed = packed;
        p.lut = glut;
        p.rows = grows;
        p.cols = gcols;
        p.vals = gvals;
        p.nnz = nnz;
        p.sparse_sums = sums;
        p.sparse_sums_floats = sums_floats;
        p.bias = c.bias ? gbias : nullptr;
        p.bias_dtype = c.bias ? sn::cuda::GemvBias::f16 : sn::cuda::GemvBias::none;
        p.out = gout;
        p.accumulate = c.accumulate;
        p.m = 1;
        p.n = c.n;
        p.k = c.k;
        p.bits = c.bits;
        p.data_error = data_error;
        p.x_path = launch.x_path;
        p.stages = launch.stages;
        p.weights_settled = true;
        p.swiglu = c.swiglu;
        CUDA_OK(sn::cuda::launch_lut_gemv(p, nullptr, true));
        CUDA_OK(cudaDeviceSynchronize());
        std::vector<__half> got(static_cast<size_t>(columns));
        CUDA_OK(cudaMemcpy(got.data(), gout, got.size() * sizeof(__half), cudaMemcpyDeviceToHost));
        int failures = 0;
        for (int64_t n = 0; n < columns; ++n) {
            const double actual = __half2float(got[static_cast<size_t>(n)]);
            if (!(std::fabs(actual - expected[n]) <= bound[n]) && failures++ < 5) {
                ADD_FAILURE() << "out[" << n << "] = " << actual << ", expected " << expected[n] << " (bound "
                              << bound[n] << ")";
            }
        }
        EXPECT_EQ(failures, 0);
        if (library.empty()) {
            library = got;
        } else if (c.csr == nullptr) {
            EXPECT_EQ(std::memcmp(got.data(), library.data(), got.size() * sizeof(__half)), 0)
                << "a dense product differs from the library's launch";
        }
    }
    sn::cuda::DataError reported{};
    CUDA_OK(cudaMemcpy(&reported, data_error, sizeof(reported), cudaMemcpyDeviceToHost));
    EXPECT_EQ(reported.op, 0) << "a valid sparse part was reported bad (index " << reported.index << ")";
    for (void* d :
         {static_cast<void*>(qweight), static_cast<void*>(packed), static_cast<void*>(glut), static_cast<void*>(gx),
          static_cast<void*>(gbias), static_cast<void*>(gout), static_cast<void*>(grows), static_cast<void*>(gcols),
          static_cast<void*>(gvals), static_cast<void*>(sums), static_cast<void*>(data_error)}) {
        cudaFree(d);
    }
}

// A sparse part whose first tile holds `counts` entries per row (then row % 3), columns spread and
// ascending within a row.
sn_test::Csr counted_csr(int64_t n, int64_t k, const std::vector<int64_t>& counts, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> value(-2.0f, 2.0f);
    sn_test::Csr csr;
    csr.rows.push_back(0);
    for (int64_t row = 0; row < n; ++row) {
        const int64_t count = row < static_cast<int64_t>(counts.size()) ? counts[static_cast<size_t>(row)] : row % 3;
        for (int64_t j = 0; j < count; ++j) {
            csr.cols.push_back(static_cast<int32_t>(j * k / count + (row % (k / count))));
            csr.vals.push_back(value(rng));
        }
        csr.rows.push_back(static_cast<int32_t>(csr.cols.size()));
    }
    return csr;
}

TEST(CudaLutPaths, DenseProductsEqualTheLibrarysLaunch) {
    uint32_t seed = 40;
    for (int bits : {3, 4}) {
        for (const auto& [n, k] : std::vector<std::pair<int64_t, int64_t>>{
                 {16, 256}, {37, 96}, {1, 32}, {1031, 4128}, {257, 11008}, {4096, 4096}}) {
            run_case({bits, n, k}, seed++);
        }
        run_case({bits, 100, 800, nullptr, true, false}, seed++);
        run_case({bits, 100, 800, nullptr, false, true}, seed++);
        run_case({bits, 64, 4128, nullptr, false, false, true}, seed++);  // SwiGLU: I = 32
    }
}

// The fused sparse part's chunks (kernels/lut_gemv.cu, kFusedSparseRegs): the skewed pattern of
// real outliers; a tile of 2240 entries (chunks of 18, past the 8 held in registers) with rows
// inside a chunk and across many; a tile of exactly 256 entries in rows of 2 and 3 (chunks of 2
// that start and end at row boundaries and inside rows); a single row of 1000 entries; empty rows.
TEST(CudaLutPaths, SparsePartsMatchTheReference) {
    uint32_t seed = 80;
    const sn_test::Csr skewed = sn_test::skewed_csr(1031, 4128, 18.0, 5);
    const sn_test::Csr skewed_long = sn_test::skewed_csr(257, 11008, 50.0, 6);
    const sn_test::Csr boundaries =
        counted_csr(40, 1024, {256, 0, 0, 256, 100, 156, 0, 700, 1, 0, 0, 0, 255, 1, 512, 3}, 7);
    std::vector<int64_t> pair_counts;
    for (int64_t row = 0; row < 15; ++row) pair_counts.push_back(row % 2 == 0 ? 2 : 3);
    int64_t so_far = 0;
    for (int64_t count : pair_counts) so_far += count;
    pair_counts.push_back(256 - so_far);
    const sn_test::Csr pairs = counted_csr(16, 1024, pair_counts, 8);
    const sn_test::Csr one_row = counted_csr(1, 1024, {1000}, 9);
    const sn_test::Csr empty = counted_csr(48, 512, {0, 0, 0}, 10);  // rows % 3: 0, 1, 2 entries
    for (int bits : {3, 4}) {
        run_case({bits, 1031, 4128, &skewed}, seed++);
        run_case({bits, 1031, 4128, &skewed, true, true}, seed++);
        run_case({bits, 257, 11008, &skewed_long}, seed++);
        run_case({bits, 40, 1024, &boundaries}, seed++);
        run_case({bits, 16, 1024, &pairs, true, false}, seed++);
        run_case({bits, 1, 1024, &one_row}, seed++);
        run_case({bits, 48, 512, &empty, false, true}, seed++);
    }
}

}  // namespace
