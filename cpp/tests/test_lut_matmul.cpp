// sn_lut_matmul: the packed layout (golden words, written out by hand from the layout drawing in
// squeeze_native.h / LutPacking.cs), then random codes, LUTs and CSR parts packed by a packer local
// to this test against a dense double-precision reference, on both kernel paths (streaming for
// M <= 4, panels above), and the argument and data checks.
#include "lut_test_support.h"
#include "test_support.h"
#include "lut_layout.h"
#include "lut_pair_layout.h"

#include <algorithm>

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_i32;
using sn_test::make_tensor;
using sn_test::pack_codes;
using sn_test::Tensor;

namespace {

// Two output columns of K = 32: column 0 has code(t) = t mod 2^bits, column 1 its complement.
std::vector<uint8_t> golden_codes(int bits) {
    const int levels = 1 << bits;
    std::vector<uint8_t> codes(64);
    for (int t = 0; t < 32; ++t) {
        codes[t] = static_cast<uint8_t>(t % levels);
        codes[32 + t] = static_cast<uint8_t>(levels - 1 - t % levels);
    }
    return codes;
}

// qweight [K·bits/32, N = 2], row-major: {word r of column 0, word r of column 1} per row.
//
// 4 bits: the nibbles of word r are inputs 8r+7 .. 8r (high to low):
//   column 0: codes 0..7 -> 0x76543210, 8..15 -> 0xFEDCBA98 (twice); column 1: their complements.
// 3 bits, column 0 (codes 0 1 2 3 4 5 6 7 0 1 | 2 | 3 4 5 6 7 0 1 2 3 4 | 5 | 6 7 0 1 2 3 4 5 6 7),
// written in octal, one digit per 3 bits:
//   word 0 = t10[1:0] t9..t0  = 0o2_1076543210 -> 0x88FAC688 (t10 = 2: bit 31 set, bit 30 clear)
//   word 1 = t21[0] t20..t11 t10[2], t21 = 5, t10 = 2 -> 0xC688FAC6
//   word 2 = t31..t22 t21[2:1] -> 0xFAC688FA
//   column 1 (7 − code) is the bitwise complement of column 0.
const std::vector<int32_t> kGolden4 = {
    0x76543210, static_cast<int32_t>(0x89ABCDEFu), static_cast<int32_t>(0xFEDCBA98u), 0x01234567,
    0x76543210, static_cast<int32_t>(0x89ABCDEFu), static_cast<int32_t>(0xFEDCBA98u), 0x01234567,
};
const std::vector<int32_t> kGolden3 = {
    static_cast<int32_t>(0x88FAC688u), 0x77053977, static_cast<int32_t>(0xC688FAC6u), 0x39770539,
    static_cast<int32_t>(0xFAC688FAu), 0x05397705,
};

struct LutCase {
    int bits;
    int64_t m, n, k;
    bool sparse, bias, accumulate;
    std::string name() const {
        return std::to_string(bits) + "-bit M=" + std::to_string(m) + " N=" + std::to_string(n) +
               " K=" + std::to_string(k) + (sparse ? " sparse" : "") + (bias ? " bias" : "") +
               (accumulate ? " accumulate" : "");
    }
};

struct Csr {
    std::vector<int32_t> rows, cols;
    std::vector<float> vals;
};

// About 6 % of the entries of each row, rows 0 and 3 left empty.
Csr random_csr(int64_t n, int64_t k, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> value(-2.0f, 2.0f);
    Csr csr;
    csr.rows.push_back(0);
    for (int64_t row = 0; row < n; ++row) {
        if (row != 0 && row != 3) {
            for (int64_t column = 0; column < k; ++column) {
                if (rng() % 16 == 0) {
                    csr.cols.push_back(static_cast<int32_t>(column));
                    csr.vals.push_back(value(rng));
                }
            }
        }
        csr.rows.push_back(static_cast<int32_t>(csr.cols.size()));
    }
    return csr;
}

void run_case(const LutCase& c, uint32_t seed) {
    SCOPED_TRACE(c.name());
    Context context(2);
    const int levels = 1 << c.bits;
    std::mt19937 rng(seed);
    std::vector<uint8_t> codes(static_cast<size_t>(c.n * c.k));
    for (uint8_t& code : codes) code = static_cast<uint8_t>(rng() % levels);
    const std::vector<float> lut = sn_test::random_floats(c.n * levels, seed + 1);
    const std::vector<float> x = sn_test::random_floats(c.m * c.k, seed + 2);
    const std::vector<float> bias = sn_test::random_floats(c.n, seed + 3);
    const std::vector<float> initial = sn_test::random_floats(c.m * c.n, seed + 4);
    const Csr csr = c.sparse ? random_csr(c.n, c.k, seed + 5) : Csr{};

    // Dense reference in double from the values the kernel sees (F16 LUT and sparse values).
    const std::vector<float> lut_seen = sn_test::rounded_to(SN_DTYPE_F16, lut);
    std::vector<double> weight(static_cast<size_t>(c.n * c.k));
    for (int64_t row = 0; row < c.n; ++row) {
        for (int64_t column = 0; column < c.k; ++column) {
            weight[row * c.k + column] = lut_seen[row * levels + codes[row * c.k + column]];
        }
    }
    if (c.sparse) {
        const std::vector<float> vals_seen = sn_test::rounded_to(SN_DTYPE_F16, csr.vals);
        for (int64_t row = 0; row < c.n; ++row) {
            for (int32_t j = csr.rows[row]; j < csr.rows[row + 1]; ++j) weight[row * c.k + csr.cols[j]] += vals_seen[j];
        }
    }
    std::vector<double> expected(static_cast<size_t>(c.m * c.n));
    for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t row = 0; row < c.n; ++row) {
            double sum = c.accumulate ? initial[i * c.n + row] : 0.0;
            for (int64_t column = 0; column < c.k; ++column) sum += x[i * c.k + column] * weight[row * c.k + column];
            expected[i * c.n + row] = sum + (c.bias ? bias[row] : 0.0);
        }
    }

    Tensor tx = make_f32(context, {c.m, c.k}, x);
    Tensor tq = make_i32(context, {c.k / 32 * c.bits, c.n}, pack_codes(codes, c.n, c.k, c.bits));
    Tensor tlut = make_tensor(context, SN_DTYPE_F16, {c.n, levels}, lut);
    Tensor tbias = c.bias ? make_f32(context, {c.n}, bias) : Tensor();
    Tensor trows, tcols, tvals;
    if (c.sparse) {
        trows = make_i32(context, {c.n + 1}, csr.rows);
        tcols = make_i32(context, {static_cast<int64_t>(csr.cols.size())}, csr.cols);
        tvals = make_tensor(context, SN_DTYPE_F16, {static_cast<int64_t>(csr.vals.size())}, csr.vals);
    }
    Tensor out = make_f32(context, {c.m, c.n}, initial);
    ASSERT_SN_OK(sn_lut_matmul(context, tx, tq, tlut, c.bits, trows, tcols, tvals, tbias, c.accumulate ? 1 : 0, out));
    // F32 accumulation over K terms of magnitude <= 1 (wrong codes would be off by ~0.5).
    const double tolerance = 1e-6 * static_cast<double>(c.k) + 1e-5;
    sn_test::expect_close(download_f32(out), expected, tolerance, 1e-5, c.name());
}

// Packs, uploads and runs codes [n][k] with lut[n][c] = c, returns out[m][n] for x = rows of `x`.
std::vector<float> decode_with_identity_lut(sn_context* context, const std::vector<int32_t>& qweight, int64_t n,
                                            int64_t k, int bits, const std::vector<float>& x, int64_t m) {
    std::vector<float> lut(static_cast<size_t>(n << bits));
    for (size_t i = 0; i < lut.size(); ++i) lut[i] = static_cast<float>(i % (size_t{1} << bits));
    Tensor tq = make_i32(context, {k / 32 * bits, n}, qweight);
    Tensor tlut = make_tensor(context, SN_DTYPE_F16, {n, int64_t{1} << bits}, lut);
    Tensor tx = make_f32(context, {m, k}, x);
    Tensor out(context, SN_DTYPE_F32, {m, n});
    const sn_status status = sn_lut_matmul(context, tx, tq, tlut, bits, nullptr, nullptr, nullptr, nullptr, 0, out);
    EXPECT_EQ(status, SN_OK) << sn_last_error();
    return download_f32(out);
}

}  // namespace

TEST(LutPacking, GoldenWordsFromTheLayoutDrawing) {
    EXPECT_EQ(pack_codes(golden_codes(4), 2, 32, 4), kGolden4);
    EXPECT_EQ(pack_codes(golden_codes(3), 2, 32, 3), kGolden3);
}

// The kernel decodes the golden words back to the codes, on both paths: x = identity (M = 32,
// panels) and x = one unit row at a time (M = 1, streaming).
TEST(LutMatmul, DecodesTheGoldenWords) {
    Context context(2);
    for (int bits : {3, 4}) {
        SCOPED_TRACE(std::to_string(bits) + "-bit");
        const std::vector<int32_t>& golden = bits == 4 ? kGolden4 : kGolden3;
        const std::vector<uint8_t> codes = golden_codes(bits);
        std::vector<float> identity(32 * 32, 0.0f);
        for (int i = 0; i < 32; ++i) identity[i * 32 + i] = 1.0f;
        const std::vector<float> all = decode_with_identity_lut(context, golden, 2, 32, bits, identity, 32);
        for (int t = 0; t < 32; ++t) {
            EXPECT_EQ(all[t * 2 + 0], codes[t]) << "panel path, column 0, input " << t;
            EXPECT_EQ(all[t * 2 + 1], codes[32 + t]) << "panel path, column 1, input " << t;
            const std::vector<float> unit(identity.begin() + t * 32, identity.begin() + (t + 1) * 32);
            const std::vector<float> one = decode_with_identity_lut(context, golden, 2, 32, bits, unit, 1);
            EXPECT_EQ(one[0], codes[t]) << "streaming path, column 0, input " << t;
            EXPECT_EQ(one[1], codes[32 + t]) << "streaming path, column 1, input " << t;
        }
    }
}

TEST(LutMatmul, MatchesDenseReference) {
    uint32_t seed = 100;
    for (int bits : {3, 4}) {
        for (int64_t k : {32, 96, 4096}) {
            for (int64_t m : {1, 5}) {
                for (int flags : {0, 1, 2, 4, 7}) {
                    run_case({bits, m, 37, k, (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0}, seed++);
                }
            }
        }
    }
}

// Every streaming M (its column blocks: 16, 8, 5, 4), several 16-column blocks per thread, and a panel product with
// several row and column tiles and two depth slices (K = 288 > 256).
TEST(LutMatmul, BlockAndTileEdges) {
    run_case({4, 4, 100, 64, true, true, false}, 7);
    run_case({3, 2, 100, 64, true, false, true}, 8);
    run_case({4, 3, 37, 4096, true, true, true}, 11);
    run_case({3, 130, 150, 288, true, true, true}, 9);
    run_case({4, 130, 150, 288, false, false, false}, 10);
}

TEST(LutMatmul, SingleThreadAndBf16Bias) {
    Context context(1);
    const std::vector<int32_t> qweight = pack_codes(golden_codes(4), 2, 32, 4);
    Tensor tq = make_i32(context, {4, 2}, qweight);
    Tensor tlut = make_tensor(context, SN_DTYPE_F16, {2, 16}, std::vector<float>(32, 0.5f));
    Tensor tbias = make_tensor(context, SN_DTYPE_BF16, {2}, {1.0f, -2.0f});
    Tensor tx = make_f32(context, {1, 32}, std::vector<float>(32, 1.0f));
    Tensor out(context, SN_DTYPE_F32, {1, 2});
    ASSERT_SN_OK(sn_lut_matmul(context, tx, tq, tlut, 4, nullptr, nullptr, nullptr, tbias, 0, out));
    EXPECT_EQ(download_f32(out), (std::vector<float>{17.0f, 14.0f}));
}

TEST(LutMatmul, RejectsBadArguments) {
    Context context(1);
    const int64_t n = 3, k = 64;
    Tensor x(context, SN_DTYPE_F32, {2, k});
    Tensor q(context, SN_DTYPE_I32, {k / 32 * 4, n});
    Tensor lut(context, SN_DTYPE_F16, {n, 16});
    Tensor out(context, SN_DTYPE_F32, {2, n});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 5, nullptr, nullptr, nullptr, nullptr, 0, out),
                    SN_ERR_INVALID_ARGUMENT, "bits");
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 3, nullptr, nullptr, nullptr, nullptr, 0, out),
                    SN_ERR_SHAPE_MISMATCH, "lut");
    Tensor x_odd(context, SN_DTYPE_F32, {2, 48});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x_odd, q, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, out),
                    SN_ERR_SHAPE_MISMATCH, "multiple of 32");
    Tensor q_short(context, SN_DTYPE_I32, {k / 32 * 3, n});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q_short, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, out),
                    SN_ERR_SHAPE_MISMATCH, "qweight: expected [K*bits/32, N] = [8, 3]");
    Tensor lut_f32(context, SN_DTYPE_F32, {n, 16});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut_f32, 4, nullptr, nullptr, nullptr, nullptr, 0, out),
                    SN_ERR_DTYPE_MISMATCH, "lut");
    Tensor q_f32(context, SN_DTYPE_F32, {k / 32 * 4, n});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q_f32, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, out),
                    SN_ERR_DTYPE_MISMATCH, "qweight");
    Tensor out_wrong(context, SN_DTYPE_F32, {2, n + 1});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, out_wrong),
                    SN_ERR_SHAPE_MISMATCH, "out");
    Tensor bias(context, SN_DTYPE_F32, {n + 1});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, nullptr, nullptr, nullptr, bias, 0, out),
                    SN_ERR_SHAPE_MISMATCH, "bias");
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, x),
                    SN_ERR_SHAPE_MISMATCH, "out");

    Tensor rows = make_i32(context, {n + 1}, {0, 1, 1, 2});
    Tensor cols = make_i32(context, {2}, {5, 63});
    Tensor vals(context, SN_DTYPE_F16, {2});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows, nullptr, vals, nullptr, 0, out), SN_ERR_NULL_ARGUMENT,
                    "sparse_cols NULL");
    ASSERT_SN_OK(sn_lut_matmul(context, x, q, lut, 4, rows, cols, vals, nullptr, 0, out));
    Tensor rows_short = make_i32(context, {n}, {0, 1, 2});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows_short, cols, vals, nullptr, 0, out),
                    SN_ERR_SHAPE_MISMATCH, "sparse_rows: expected 1-D [N + 1] = [4]");
    Tensor vals_long(context, SN_DTYPE_F16, {3});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows, cols, vals_long, nullptr, 0, out), SN_ERR_SHAPE_MISMATCH,
                    "sparse_vals");
    Tensor vals_f32(context, SN_DTYPE_F32, {2});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows, cols, vals_f32, nullptr, 0, out), SN_ERR_DTYPE_MISMATCH,
                    "sparse_vals");

    // Data checks name the offending index.
    Tensor rows_decreasing = make_i32(context, {n + 1}, {0, 2, 1, 2});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows_decreasing, cols, vals, nullptr, 0, out),
                    SN_ERR_INVALID_ARGUMENT, "sparse_rows[2] = 1 is less than sparse_rows[1] = 2");
    Tensor rows_wrong_end = make_i32(context, {n + 1}, {0, 1, 1, 1});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows_wrong_end, cols, vals, nullptr, 0, out),
                    SN_ERR_INVALID_ARGUMENT, "sparse_rows[N] = sparse_rows[3] = 1 must equal nnz = 2");
    Tensor rows_offset = make_i32(context, {n + 1}, {1, 1, 2, 2});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows_offset, cols, vals, nullptr, 0, out),
                    SN_ERR_INVALID_ARGUMENT, "sparse_rows[0] = 1");
    Tensor cols_out = make_i32(context, {2}, {5, 64});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows, cols_out, vals, nullptr, 0, out),
                    SN_ERR_INVALID_ARGUMENT, "sparse_cols[1] = 64 is outside [0, K) with K = 64");
    Tensor cols_negative = make_i32(context, {2}, {-1, 3});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, q, lut, 4, rows, cols_negative, vals, nullptr, 0, out),
                    SN_ERR_INVALID_ARGUMENT, "sparse_cols[0] = -1");

    // Aliasing: out over x.
    Tensor big(context, SN_DTYPE_F32, {2 * k});
    sn_tensor* x_view = nullptr;
    sn_tensor* out_view = nullptr;
    const int64_t x_dims[] = {2, k};
    const int64_t out_dims[] = {2, n};
    ASSERT_SN_OK(sn_tensor_view(big, 0, x_dims, 2, &x_view));
    ASSERT_SN_OK(sn_tensor_view(big, 1, out_dims, 2, &out_view));
    Tensor owned_x(x_view), owned_out(out_view);
    EXPECT_SN_ERROR(sn_lut_matmul(context, owned_x, q, lut, 4, nullptr, nullptr, nullptr, nullptr, 0, owned_out),
                    SN_ERR_INVALID_ARGUMENT, "out must not alias x");
}

// sn_lut_matmul_swiglu equals sn_lut_matmul into [M, 2I] followed by sn_swiglu of its halves, bit
// for bit (the CPU runs exactly that), with a sparse part and a bias; and checks its shapes.
TEST(LutMatmul, SwigluEqualsTheProductThenSwiglu) {
    Context context(2);
    for (int bits : {3, 4}) {
        for (int64_t m : {1, 5}) {
            const int64_t columns = 7, n = 2 * columns, k = 96;
            const int levels = 1 << bits;
            const uint32_t seed = static_cast<uint32_t>(40 + 2 * bits + m);
            std::mt19937 rng(seed);
            std::vector<uint8_t> codes(static_cast<size_t>(n * k));
            for (uint8_t& code : codes) code = static_cast<uint8_t>(rng() % levels);
            const Csr csr = random_csr(n, k, seed + 1);
            Tensor x = make_f32(context, {m, k}, sn_test::random_floats(m * k, seed + 2));
            Tensor q = make_i32(context, {k / 32 * bits, n}, pack_codes(codes, n, k, bits));
            Tensor lut = make_tensor(context, SN_DTYPE_F16, {n, levels}, sn_test::random_floats(n * levels, seed + 3));
            Tensor bias = make_f32(context, {n}, sn_test::random_floats(n, seed + 4));
            Tensor rows = make_i32(context, {n + 1}, csr.rows);
            Tensor cols = make_i32(context, {static_cast<int64_t>(csr.cols.size())}, csr.cols);
            Tensor vals = make_tensor(context, SN_DTYPE_F16, {static_cast<int64_t>(csr.vals.size())}, csr.vals);
            Tensor product(context, SN_DTYPE_F32, {m, n});
            ASSERT_SN_OK(sn_lut_matmul(context, x, q, lut, bits, rows, cols, vals, bias, 0, product));
            const std::vector<float> both = download_f32(product);
            std::vector<float> gate, up;
            for (int64_t i = 0; i < m; ++i) {
                gate.insert(gate.end(), both.begin() + i * n, both.begin() + i * n + columns);
                up.insert(up.end(), both.begin() + i * n + columns, both.begin() + (i + 1) * n);
            }
            Tensor tgate = make_f32(context, {m, columns}, gate), tup = make_f32(context, {m, columns}, up);
            Tensor expected(context, SN_DTYPE_F32, {m, columns}), actual(context, SN_DTYPE_F32, {m, columns});
            ASSERT_SN_OK(sn_swiglu(context, tgate, tup, expected));
            ASSERT_SN_OK(sn_lut_matmul_swiglu(context, x, q, lut, bits, rows, cols, vals, bias, actual));
            EXPECT_EQ(download_f32(actual), download_f32(expected)) << bits << "-bit M=" << m;
        }
    }
    Tensor x(context, SN_DTYPE_F32, {2, 64});
    Tensor q_odd(context, SN_DTYPE_I32, {8, 3});
    Tensor lut_odd(context, SN_DTYPE_F16, {3, 16});
    Tensor out_one(context, SN_DTYPE_F32, {2, 1});
    EXPECT_SN_ERROR(sn_lut_matmul_swiglu(context, x, q_odd, lut_odd, 4, nullptr, nullptr, nullptr, nullptr, out_one),
                    SN_ERR_SHAPE_MISMATCH, "even number of rows");
    Tensor q(context, SN_DTYPE_I32, {8, 4});
    Tensor lut(context, SN_DTYPE_F16, {4, 16});
    Tensor out_full(context, SN_DTYPE_F32, {2, 4});
    EXPECT_SN_ERROR(sn_lut_matmul_swiglu(context, x, q, lut, 4, nullptr, nullptr, nullptr, nullptr, out_full),
                    SN_ERR_SHAPE_MISMATCH, "out: expected 2 rows of I = N/2 = 2");
}

// A captured LUT linear (CPU graphs record the call) replays on the values uploaded since, with
// its sparse part and bias: the recorded arguments cover every tensor of the op.
TEST(LutMatmul, ReplaysFromAGraph) {
    Context context(2);
    const int64_t n = 5, k = 64;
    std::mt19937 rng(3);
    std::vector<uint8_t> codes(n * k);
    for (uint8_t& code : codes) code = static_cast<uint8_t>(rng() % 8);
    Tensor tq = make_i32(context, {k / 32 * 3, n}, pack_codes(codes, n, k, 3));
    Tensor tlut = make_tensor(context, SN_DTYPE_F16, {n, 8}, sn_test::random_floats(n * 8, 4));
    Tensor rows = make_i32(context, {n + 1}, {0, 1, 1, 3, 3, 4});
    Tensor cols = make_i32(context, {4}, {7, 0, 63, 31});
    Tensor vals = make_tensor(context, SN_DTYPE_F16, {4}, {0.5f, -1.0f, 2.0f, 0.25f});
    Tensor bias = make_f32(context, {n}, {1.0f, 2.0f, 3.0f, 4.0f, 5.0f});
    Tensor x(context, SN_DTYPE_F32, {1, k});
    Tensor direct(context, SN_DTYPE_F32, {1, n});
    Tensor replayed(context, SN_DTYPE_F32, {1, n});

    ASSERT_SN_OK(sn_graph_begin_capture(context));
    const sn_status captured = sn_lut_matmul(context, x, tq, tlut, 3, rows, cols, vals, bias, 0, replayed);
    sn_graph* graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(context, &graph));
    ASSERT_SN_OK(captured);
    const std::vector<float> values = sn_test::random_floats(k, 5);
    ASSERT_SN_OK(sn_tensor_upload(x, values.data(), values.size() * sizeof(float)));
    ASSERT_SN_OK(sn_graph_launch(graph));
    ASSERT_SN_OK(sn_graph_destroy(graph));
    ASSERT_SN_OK(sn_lut_matmul(context, x, tq, tlut, 3, rows, cols, vals, bias, 0, direct));
    const std::vector<float> expected = download_f32(direct);
    EXPECT_EQ(download_f32(replayed), expected);
    EXPECT_NE(expected, std::vector<float>(n, 0.0f));
}

// The CUDA backend's tiled layout (src/lut_layout.h): within a unit, every bit of every word holds
// exactly one code bit, and lane_code visits each (row, input) of the unit exactly once.
TEST(LutLayout, EveryBitOfAUnitHoldsExactlyOneCodeBit) {
    for (int bits : {3, 4}) {
        SCOPED_TRACE(std::to_string(bits) + "-bit");
        std::vector<int> owners(static_cast<size_t>(sn::lut::unit_words(bits) * 32), 0);
        std::vector<int> visits(static_cast<size_t>(sn::lut::kTileRows * sn::lut::kUnitK), 0);
        for (int lane = 0; lane < 32; ++lane) {
            for (int c = 0; c < 128; ++c) {
                int r = -1, kk = -1;
                sn::lut::lane_code(lane, c, &r, &kk);
                ASSERT_TRUE(r >= 0 && r < 16 && kk >= 0 && kk < 256);
                ++visits[static_cast<size_t>(r * 256 + kk)];
                const sn::lut::CodePlace place = sn::lut::code_place(bits, r, kk);
                EXPECT_EQ(place.lane, lane);
                const int low_bits = bits == 4 ? 4 : 2;
                for (int b = 0; b < low_bits; ++b) {
                    ++owners[static_cast<size_t>(sn::lut::lane_word(place.lane, place.word) * 32 + place.shift + b)];
                }
                if (bits == 3)
                    ++owners[static_cast<size_t>(sn::lut::lane_word(place.lane, place.high_word) * 32 +
                                                 place.high_bit)];
            }
        }
        EXPECT_TRUE(std::all_of(owners.begin(), owners.end(), [](int o) { return o == 1; }));
        EXPECT_TRUE(std::all_of(visits.begin(), visits.end(), [](int v) { return v == 1; }));
    }
}

// The staged pair-tiled layout (src/lut_pair_layout.h): every bit of a lane's words belongs to
// exactly one pair, pair_input and pair_of are inverse, every (row, input) of a unit is covered
// once, and put_pair / get_pair round-trip every field, split pairs included.
TEST(LutPairLayout, EveryBitOfALaneHoldsExactlyOnePairBit) {
    namespace lp = sn::lut_pair;
    for (int bits : {3, 4}) {
        SCOPED_TRACE(std::to_string(bits) + "-bit");
        std::vector<int> visits(static_cast<size_t>(lp::kTileRows * lp::kUnitK), 0);
        std::mt19937 rng(static_cast<uint32_t>(bits));
        for (int lane = 0; lane < 32; ++lane) {
            std::vector<int> owners(static_cast<size_t>(4 * bits * 32), 0);
            uint32_t words[16] = {};
            uint32_t values[2][lp::kLanePairs];
            for (int h = 0; h < 2; ++h) {
                for (int j = 0; j < lp::kLanePairs; ++j) {
                    int r = -1, kk = -1;
                    lp::pair_input(lane, h, j, &r, &kk);
                    ASSERT_TRUE(r >= 0 && r < 16 && kk >= 0 && kk + 1 < 256 && kk % 2 == 0);
                    ++visits[static_cast<size_t>(r * 256 + kk)];
                    ++visits[static_cast<size_t>(r * 256 + kk + 1)];
                    for (int second : {0, 1}) {
                        const lp::PairOf of = lp::pair_of(r, kk + second);
                        EXPECT_EQ(of.lane, lane);
                        EXPECT_EQ(of.h, h);
                        EXPECT_EQ(of.j, j);
                        EXPECT_EQ(of.second, second);
                    }
                    const int w = lp::pair_word(bits, h, j);
                    if (lp::pair_split(bits, j)) {
                        for (int i = 0; i < 3; ++i)
                            for (int b = 30; b < 32; ++b) ++owners[static_cast<size_t>((w + i) * 32 + b)];
                    } else {
                        for (int b = 0; b < 2 * bits; ++b)
                            ++owners[static_cast<size_t>(w * 32 + lp::pair_pos(bits, j) + b)];
                    }
                    values[h][j] = rng() % (1u << (2 * bits));
                    lp::put_pair(words, bits, h, j, values[h][j]);
                }
            }
            EXPECT_TRUE(std::all_of(owners.begin(), owners.end(), [](int o) { return o == 1; }));
            for (int h = 0; h < 2; ++h)
                for (int j = 0; j < lp::kLanePairs; ++j) EXPECT_EQ(lp::get_pair(words, bits, h, j), values[h][j]);
        }
        EXPECT_TRUE(std::all_of(visits.begin(), visits.end(), [](int v) { return v == 1; }));
    }
}

// On the CPU the repacked layout is the checkpoint layout: repack copies, and the shape says so.
TEST(LutRepack, CpuLayoutIsTheCheckpointLayout) {
    Context context(1);
    int32_t ndim = 0;
    int64_t dims[SN_MAX_DIMS] = {};
    ASSERT_SN_OK(sn_lut_repacked_shape(context, 3, 37, 96, &ndim, dims));
    EXPECT_EQ(ndim, 2);
    EXPECT_EQ(dims[0], 9);
    EXPECT_EQ(dims[1], 37);
    std::vector<int32_t> words(9 * 37);
    for (size_t i = 0; i < words.size(); ++i) words[i] = static_cast<int32_t>(i * 2654435761u);
    Tensor q = make_i32(context, {9, 37}, words);
    Tensor packed(context, SN_DTYPE_I32, {9, 37});
    ASSERT_SN_OK(sn_lut_repack(context, q, 3, packed));
    std::vector<int32_t> back(words.size());
    ASSERT_SN_OK(sn_tensor_download(packed, back.data(), back.size() * 4));
    EXPECT_EQ(back, words);

    EXPECT_SN_ERROR(sn_lut_repacked_shape(context, 5, 37, 96, &ndim, dims), SN_ERR_INVALID_ARGUMENT, "bits");
    EXPECT_SN_ERROR(sn_lut_repacked_shape(context, 4, 37, 100, &ndim, dims), SN_ERR_INVALID_ARGUMENT, "k:");
    EXPECT_SN_ERROR(sn_lut_repacked_shape(context, 4, 0, 96, &ndim, dims), SN_ERR_INVALID_ARGUMENT, "n:");
    EXPECT_SN_ERROR(sn_lut_repacked_shape(context, 4, 37, 96, nullptr, dims), SN_ERR_NULL_ARGUMENT, "out_ndim");
    Tensor wrong(context, SN_DTYPE_I32, {37, 9});
    EXPECT_SN_ERROR(sn_lut_repack(context, q, 3, wrong), SN_ERR_SHAPE_MISMATCH, "packed");
    EXPECT_SN_ERROR(sn_lut_repack(context, q, 4, packed), SN_ERR_SHAPE_MISMATCH, "qweight");
    // The CUDA layout's 3-D shape is not a CPU layout: lut_matmul names both it accepts.
    Tensor x(context, SN_DTYPE_F32, {1, 96});
    Tensor lut(context, SN_DTYPE_F16, {37, 8});
    Tensor tiled(context, SN_DTYPE_I32, {3, 1, 384});
    Tensor out(context, SN_DTYPE_F32, {1, 37});
    EXPECT_SN_ERROR(sn_lut_matmul(context, x, tiled, lut, 3, nullptr, nullptr, nullptr, nullptr, 0, out),
                    SN_ERR_SHAPE_MISMATCH, "sn_lut_repacked_shape");
}
