// Shared by the LUT tests (test_lut_matmul.cpp on the CPU, test_cuda_lut.cpp CUDA against CPU):
// the checkpoint-layout packer and a skewed sparse pattern like real SqueezeLLM outliers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace sn_test {

// Packs codes [n][k] into qweight [k·bits/32][n] word by word as the layout drawing says
// (deliberately not the bit-stream view the kernel uses, so the two are independent).
inline std::vector<int32_t> pack_codes(const std::vector<uint8_t>& codes, int64_t n, int64_t k, int bits) {
    std::vector<int32_t> qweight(static_cast<size_t>(k / 32 * bits * n));
    auto put = [&](int64_t row, int64_t column, uint32_t word) {
        qweight[static_cast<size_t>(row * n + column)] = static_cast<int32_t>(word);
    };
    for (int64_t column = 0; column < n; ++column) {
        for (int64_t g = 0; g < k / 32; ++g) {
            const uint8_t* t = codes.data() + column * k + 32 * g;
            if (bits == 4) {
                // word r = 4g + u holds inputs 8r .. 8r+7, input 8r+j at bits 4j .. 4j+3
                for (int u = 0; u < 4; ++u) {
                    uint32_t word = 0;
                    for (int j = 0; j < 8; ++j) word |= uint32_t{t[8 * u + j]} << (4 * j);
                    put(4 * g + u, column, word);
                }
            } else {
                // 3g+0: t0..t9 at 3t, low 2 bits of t10 at 30..31
                // 3g+1: bit 2 of t10 at 0, t11..t20 at 3(t−11)+1, bit 0 of t21 at 31
                // 3g+2: bits 1..2 of t21 at 0..1, t22..t31 at 3(t−22)+2
                uint32_t w0 = 0, w1 = 0, w2 = 0;
                for (int j = 0; j < 10; ++j) {
                    w0 |= uint32_t{t[j]} << (3 * j);
                    w1 |= uint32_t{t[11 + j]} << (3 * j + 1);
                    w2 |= uint32_t{t[22 + j]} << (3 * j + 2);
                }
                w0 |= uint32_t{t[10] & 3u} << 30;
                w1 |= (t[10] >> 2) & 1u;
                w1 |= uint32_t{t[21] & 1u} << 31;
                w2 |= (t[21] >> 1) & 3u;
                put(3 * g, column, w0);
                put(3 * g + 1, column, w1);
                put(3 * g + 2, column, w2);
            }
        }
    }
    return qweight;
}

struct Csr {
    std::vector<int32_t> rows, cols;
    std::vector<float> vals;
};

// A CSR part with `mean` entries per row on average, skewed like the outliers of a real weight:
// every 37th row holds 10-50x the mean, a few rows are empty; columns sorted and distinct, values
// in [-2, 2).
inline Csr skewed_csr(int64_t n, int64_t k, double mean, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> value(-2.0f, 2.0f);
    Csr csr;
    csr.rows.push_back(0);
    std::vector<int32_t> chosen;
    for (int64_t row = 0; row < n; ++row) {
        double count = row % 37 == 5 ? mean * static_cast<double>(10 + rng() % 41) : mean * (rng() % 200) / 100.0;
        if (row % 11 == 3) count = 0;
        const int64_t entries = std::min<int64_t>(k, static_cast<int64_t>(count + 0.5));
        chosen.clear();
        for (int64_t column = 0; column < k && static_cast<int64_t>(chosen.size()) < entries; ++column) {
            // Selection sampling: each remaining column taken with probability needed / remaining.
            if (static_cast<int64_t>(rng() % static_cast<uint32_t>(k - column)) <
                entries - static_cast<int64_t>(chosen.size())) {
                chosen.push_back(static_cast<int32_t>(column));
            }
        }
        for (int32_t column : chosen) {
            csr.cols.push_back(column);
            csr.vals.push_back(value(rng));
        }
        csr.rows.push_back(static_cast<int32_t>(csr.cols.size()));
    }
    return csr;
}

}  // namespace sn_test
