// sn_kmeans_rows on the CPU: the exact weighted 1-D k-means of every row, a line-by-line port of
// the C# solver's method Exact (src/SqueezeNative.Runtime/Quantization/KMeansRowSolver.cs), so that
// both give the same LUT and codes bit for bit (a managed test checks it). Rows run in parallel
// (OpenMP, dynamic schedule: a row's cost depends on its number of distinct points); each worker
// owns its scratch, allocated before the parallel region.
//
// Per row:
//   1. gather the points: values at non-excluded positions with weight > 0 (all weights 0: weight 1
//      at every non-excluded position); sort by (value, weight) (kmeans_rules.h) and merge equal
//      values, summing their weights in double: m points x_0 < … < x_{m−1}, weights a_j > 0;
//   2. m <= k = 2^bits: each point is a centroid, the LUT padded with the largest (0s when m = 0);
//      else the DP: D_c(j) = min_{c−1 <= i < j} D_{c−1}(i) + cost(i, j) over prefix sums of the
//      centred, normalised weights, each layer filled by divide and conquer (opt_c(j) is
//      non-decreasing in j), ties to the lowest split; backtrack; centroids = weighted means;
//   3. optionally round the centroids to F16; code each value by its nearest entry.
//
// Arithmetic is double, in the C# solver's order. This file is compiled with -ffp-contract=off
// (CMakeLists.txt): a fused multiply-add would round differently from .NET, which never fuses.
#include "cpu/ops_quant_backward.h"
#include "error.h"
#include "half.h"
#include "kmeans_rules.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include <omp.h>

namespace sn::cpu {
namespace {

// One worker's scratch, sized for rows of `cols` values and k clusters.
class RowSolver {
public:
    RowSolver(int64_t cols, int k)
        : k_(k),
          keys_(static_cast<size_t>(cols)),
          x_(static_cast<size_t>(cols)),
          a_(static_cast<size_t>(cols)),
          prefix_(static_cast<size_t>(3 * (cols + 1))),
          previous_(static_cast<size_t>(cols + 1)),
          current_(static_cast<size_t>(cols + 1)),
          split_(static_cast<size_t>(k) * static_cast<size_t>(cols + 1)),
          centers_(static_cast<size_t>(k)),
          midpoints_(static_cast<size_t>(k)) {}

    // One row: values/weights/excluded point at the row's C elements (weights, excluded may be null;
    // excluded is U8 or I32 by excluded_size).
    void solve(const float* values, const float* weights, const void* excluded, size_t excluded_size, int64_t cols,
               bool half_precision, float* lut, uint8_t* codes) {
        const auto is_excluded = [&](int64_t i) {
            if (excluded == nullptr) return false;
            return excluded_size == 1 ? static_cast<const uint8_t*>(excluded)[i] != 0
                                      : static_cast<const int32_t*>(excluded)[i] != 0;
        };
        gather(values, weights, is_excluded, cols);
        double* centers = centers_.data();
        if (m_ == 0) {
            // Every position is excluded: the dense row is all zeros.
            std::fill(centers, centers + k_, 0.0);
        } else if (m_ <= k_) {
            std::copy(x_.begin(), x_.begin() + m_, centers);
            std::fill(centers + m_, centers + k_, x_[static_cast<size_t>(m_ - 1)]);
        } else {
            solve_exact();
        }

        // Rounding is monotone, so the LUT stays sorted (possibly with repeated entries).
        for (int j = 0; j < k_; ++j) {
            const float center = static_cast<float>(centers[j]);
            lut[j] = half_precision ? f16_to_f32(f32_to_f16(center)) : center;
        }
        for (int j = 0; j + 1 < k_; ++j) midpoints_[j] = 0.5 * (static_cast<double>(lut[j]) + lut[j + 1]);
        const uint8_t zero_code = static_cast<uint8_t>(kmeans::count_below(midpoints_.data(), k_ - 1, 0.0));
        for (int64_t i = 0; i < cols; ++i) {
            codes[i] = is_excluded(i) ? zero_code
                                      : static_cast<uint8_t>(kmeans::count_below(midpoints_.data(), k_ - 1, values[i]));
        }
    }

private:
    template <class Excluded>
    void gather(const float* values, const float* weights, const Excluded& is_excluded, int64_t cols) {
        int64_t n = 0;
        for (int64_t i = 0; i < cols; ++i) {
            if (is_excluded(i)) continue;
            const float weight = weights == nullptr ? 1.0f : weights[i];
            if (weight > 0.0f) keys_[static_cast<size_t>(n++)] = kmeans::sort_key(values[i], weight);
        }
        if (n == 0 && weights != nullptr) {
            // All sensitivities are zero (e.g. a row no calibration token reached): uniform weights.
            for (int64_t i = 0; i < cols; ++i) {
                if (!is_excluded(i)) keys_[static_cast<size_t>(n++)] = kmeans::sort_key(values[i], 1.0f);
            }
        }
        std::sort(keys_.begin(), keys_.begin() + n);
        int64_t m = 0;
        for (int64_t i = 0; i < n; ++i) {
            const float value = kmeans::key_value(keys_[static_cast<size_t>(i)]);
            const float weight = kmeans::key_weight(keys_[static_cast<size_t>(i)]);
            if (m > 0 && x_[static_cast<size_t>(m - 1)] == value) {
                a_[static_cast<size_t>(m - 1)] += weight;
            } else {
                x_[static_cast<size_t>(m)] = value;
                a_[static_cast<size_t>(m)] = weight;
                ++m;
            }
        }
        m_ = static_cast<int>(m);
    }

    double cost(int i, int j) const {
        const double* p = prefix_.data();
        return kmeans::segment_cost(p[3 * j] - p[3 * i], p[3 * j + 1] - p[3 * i + 1], p[3 * j + 2] - p[3 * i + 2]);
    }

    // D_c(j) for j in [j_lo, j_hi] knowing opt_c(j) in [i_lo, i_hi] (divide and conquer on j).
    void fill_layer(int c, int stride, int j_lo, int j_hi, int i_lo, int i_hi) {
        const double* p = prefix_.data();
        const double* previous = previous_.data();
        while (j_lo <= j_hi) {
            const int j = (j_lo + j_hi) >> 1;
            const int first = std::max(i_lo, c - 1);
            const int last = std::min(i_hi, j - 1);
            double best = std::numeric_limits<double>::infinity();
            int best_split = first;
            const double end_weight = p[3 * j], end_moment = p[3 * j + 1], end_squares = p[3 * j + 2];
            for (int i = first; i <= last; ++i) {
                const double v = previous[i] + kmeans::segment_cost(end_weight - p[3 * i], end_moment - p[3 * i + 1],
                                                                    end_squares - p[3 * i + 2]);
                if (v < best) {
                    best = v;
                    best_split = i;
                }
            }
            current_[static_cast<size_t>(j)] = best;
            split_[static_cast<size_t>(c) * stride + j] = best_split;
            fill_layer(c, stride, j_lo, j - 1, i_lo, best_split);
            j_lo = j + 1;
            i_lo = best_split;
        }
    }

    void solve_exact() {
        const int m = m_, k = k_, stride = m + 1;
        double total = 0.0, moment = 0.0;
        for (int i = 0; i < m; ++i) {
            total += a_[static_cast<size_t>(i)];
            moment += a_[static_cast<size_t>(i)] * x_[static_cast<size_t>(i)];
        }
        // Centring and normalising keep C − B²/A away from catastrophic cancellation; neither
        // changes the argmin.
        const double mean = moment / total;
        double* p = prefix_.data();
        p[0] = p[1] = p[2] = 0.0;
        for (int i = 0; i < m; ++i) {
            const double weight = a_[static_cast<size_t>(i)] / total;
            const double d = x_[static_cast<size_t>(i)] - mean;
            p[3 * i + 3] = p[3 * i] + weight;
            p[3 * i + 4] = p[3 * i + 1] + weight * d;
            p[3 * i + 5] = p[3 * i + 2] + weight * d * d;
        }

        // Layer 1 over the ends j that still leave one point for each of the other k − 1 clusters.
        for (int j = 1; j <= m - (k - 1); ++j) previous_[static_cast<size_t>(j)] = cost(0, j);
        for (int c = 2; c < k; ++c) {
            const int last_end = m - (k - c);
            fill_layer(c, stride, c, last_end, c - 1, last_end - 1);
            std::swap(previous_, current_);
        }
        // The last layer needs only the end m.
        double best = std::numeric_limits<double>::infinity();
        int best_split = k - 1;
        for (int i = k - 1; i < m; ++i) {
            const double v = previous_[static_cast<size_t>(i)] + cost(i, m);
            if (v < best) {
                best = v;
                best_split = i;
            }
        }

        // Backtrack: cluster c − 1 covers [start, end); centroids are direct weighted means.
        int end = m, start = best_split;
        for (int c = k; c >= 1; --c) {
            double weight = 0.0, sum = 0.0;
            for (int i = start; i < end; ++i) {
                weight += a_[static_cast<size_t>(i)];
                sum += a_[static_cast<size_t>(i)] * x_[static_cast<size_t>(i)];
            }
            centers_[static_cast<size_t>(c - 1)] = sum / weight;
            end = start;
            start = c > 2 ? split_[static_cast<size_t>(c - 1) * stride + end] : 0;
        }
    }

    int k_;
    int m_ = 0;
    std::vector<uint64_t> keys_;
    std::vector<double> x_, a_;
    // Prefix sums of the normalised weight, weight·(x − mean), weight·(x − mean)², interleaved
    // (index i at [3i, 3i + 3)) so that one group's cost touches two cache lines.
    std::vector<double> prefix_;
    std::vector<double> previous_, current_;
    std::vector<int32_t> split_;  // opt_c(j) at [c·(m + 1) + j], for backtracking
    std::vector<double> centers_, midpoints_;
};

}  // namespace

sn_status kmeans_rows(Context& context, const KmeansRowsArgs& args) {
    const int64_t rows = args.values->dims[0], cols = args.values->dims[1];
    if (rows == 0 || cols == 0) {
        // No values: every row's points are empty, so its LUT is all zeros.
        std::fill(args.lut->data_as<float>(), args.lut->data_as<float>() + args.lut->numel, 0.0f);
        return SN_OK;
    }
    SN_CHECK(cols < std::numeric_limits<int32_t>::max(), SN_ERR_UNSUPPORTED,
             "values: rows of %lld values; the CPU k-means takes fewer than 2^31 - 1 per row",
             static_cast<long long>(cols));
    const int k = 1 << args.bits;
    const int threads = static_cast<int>(std::min<int64_t>(context.num_threads, rows));
    // Scratch on the calling thread, before the parallel region (bad_alloc becomes
    // SN_ERR_OUT_OF_MEMORY here; inside the region it would terminate).
    std::vector<RowSolver> solvers;
    solvers.reserve(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) solvers.emplace_back(cols, k);

    const float* values = args.values->data_as<const float>();
    const float* weights = args.weights != nullptr ? args.weights->data_as<const float>() : nullptr;
    const auto* excluded = args.excluded != nullptr ? static_cast<const char*>(args.excluded->data()) : nullptr;
    const size_t excluded_size = args.excluded != nullptr ? args.excluded->element_size() : 0;
    float* lut = args.lut->data_as<float>();
    uint8_t* codes = args.codes->data_as<uint8_t>();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t offset = r * cols;
        solvers[static_cast<size_t>(omp_get_thread_num())].solve(
            values + offset, weights != nullptr ? weights + offset : nullptr,
            excluded != nullptr ? excluded + static_cast<size_t>(offset) * excluded_size : nullptr, excluded_size, cols,
            args.half_precision_lut, lut + r * k, codes + offset);
    }
    return SN_OK;
}

}  // namespace sn::cpu
