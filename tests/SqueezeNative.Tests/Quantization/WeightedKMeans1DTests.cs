using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Quantization;

namespace SqueezeNative.Tests.Quantization;

public class WeightedKMeans1DTests
{
    /// <summary>Runs the row solver directly, which takes any cluster count (the public API takes 2^bits).</summary>
    private static (float[] Lut, byte[] Codes) SolveRow(float[] values, float[] weights, int clusters, KMeansMethod method, int seed = 0)
    {
        var lut = new float[clusters];
        var codes = new byte[values.Length];
        new KMeansRowSolver(values.Length, clusters).Solve(values, weights, ReadOnlySpan<bool>.Empty, method, seed, false, lut, codes);
        return (lut, codes);
    }

    /// <summary>
    /// The optimum by enumeration: every partition of the sorted values into at most k contiguous
    /// groups, each group at its weighted mean. A row whose weights are all zero counts as uniform.
    /// </summary>
    private static double BruteForceOptimum(float[] values, float[] weights, int clusters)
    {
        var n = values.Length;
        var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
        var x = order.Select(i => (double)values[i]).ToArray();
        var a = order.Select(i => weights.Length == 0 ? 1.0 : weights[i]).ToArray();
        if (a.Sum() == 0)
            Array.Fill(a, 1.0);

        double GroupCost(int start, int end)
        {
            double w = 0, m = 0;
            for (var i = start; i < end; i++)
            {
                w += a[i];
                m += a[i] * x[i];
            }
            if (w == 0)
                return 0;
            var mean = m / w;
            double cost = 0;
            for (var i = start; i < end; i++)
                cost += a[i] * (x[i] - mean) * (x[i] - mean);
            return cost;
        }

        var best = double.PositiveInfinity;
        // Bit b of the mask set = a cut between sorted positions b and b + 1.
        for (var mask = 0; mask < 1 << (n - 1); mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)mask) > clusters - 1)
                continue;
            double cost = 0;
            var start = 0;
            for (var b = 0; b < n - 1; b++)
            {
                if ((mask >> b & 1) != 0)
                {
                    cost += GroupCost(start, b + 1);
                    start = b + 1;
                }
            }
            cost += GroupCost(start, n);
            best = Math.Min(best, cost);
        }
        return best;
    }

    private static double Objective(float[] values, float[] weights, float[] lut, byte[] codes)
    {
        var effective = weights;
        if (weights.Length != 0 && weights.All(w => w == 0))
            effective = [];
        return WeightedKMeans1D.WeightedSquaredError(values, effective, lut, codes);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Exact_equals_brute_force_on_tiny_rows(int clusters)
    {
        var rng = new Random(1000 + clusters);
        for (var trial = 0; trial < 400; trial++)
        {
            var n = rng.Next(1, 11);
            // Coarse values make duplicates common; some rows are uniform, some weighted, some
            // weighted with zeros, a few all-zero (the uniform fallback).
            var values = Enumerable.Range(0, n).Select(_ => (float)Math.Round(rng.NextGaussian() * 3, trial % 2 == 0 ? 0 : 2)).ToArray();
            float[] weights = (trial % 4) switch
            {
                0 => [],
                1 => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() * 5).ToArray(),
                2 => Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.3 ? 0f : (float)Math.Exp(3 * rng.NextGaussian())).ToArray(),
                _ => trial % 20 == 3 ? new float[n] : Enumerable.Range(0, n).Select(_ => (float)rng.Next(0, 3)).ToArray(),
            };

            var (lut, codes) = SolveRow(values, weights, clusters, KMeansMethod.Exact);
            var optimum = BruteForceOptimum(values, weights, clusters);
            var objective = Objective(values, weights, lut, codes);
            var scale = values.Select(v => (double)v * v).Sum() * (weights.Length == 0 ? 1 : Math.Max(1, weights.Max()));
            Assert.True(Math.Abs(objective - optimum) <= 1e-6 * optimum + 1e-12 * scale,
                $"trial {trial}: values [{string.Join(", ", values)}], weights [{string.Join(", ", weights)}]: exact {objective:R}, brute force {optimum:R}");
            Assert.True(lut.Zip(lut.Skip(1)).All(p => p.First <= p.Second), "LUT must be sorted ascending");
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Exact_is_never_worse_than_Lloyd(int bits)
    {
        var rng = new Random(2000 + bits);
        double exactTotal = 0, lloydTotal = 0;
        for (var row = 0; row < 60; row++)
        {
            var values = QuantizationTestData.WeightsWithOutliers(rng, 300);
            var fisher = row % 3 == 0 ? [] : QuantizationTestData.Fisher(rng, 300);
            var (exactLut, exactCodes) = SolveRow(values, fisher, 1 << bits, KMeansMethod.Exact);
            var (lloydLut, lloydCodes) = SolveRow(values, fisher, 1 << bits, KMeansMethod.Lloyd);
            var exact = Objective(values, fisher, exactLut, exactCodes);
            var lloyd = Objective(values, fisher, lloydLut, lloydCodes);
            Assert.True(exact <= lloyd * (1 + 1e-6), $"row {row}: exact {exact:R} > Lloyd {lloyd:R}");
            exactTotal += exact;
            lloydTotal += lloyd;
        }
        // Lloyd is a local optimum: over 60 rows it must lose somewhere, or the comparison says nothing.
        Assert.True(exactTotal < lloydTotal, $"exact {exactTotal:R} vs Lloyd {lloydTotal:R}");
    }

    [Theory]
    [InlineData(KMeansMethod.Exact)]
    [InlineData(KMeansMethod.Lloyd)]
    public void Fisher_weighting_lowers_the_Fisher_weighted_error(KMeansMethod method)
    {
        var rng = new Random(3000 + (int)method);
        const int rows = 32, cols = 512, bits = 3;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var fisher = QuantizationTestData.Fisher(rng, rows * cols);

        var weighted = WeightedKMeans1D.Quantize(w, fisher, rows, cols, bits, method, seed: 0);
        var unweighted = WeightedKMeans1D.Quantize(w, ReadOnlySpan<float>.Empty, rows, cols, bits, method, seed: 0);
        double weightedError = 0, unweightedError = 0;
        for (var r = 0; r < rows; r++)
        {
            var values = w.AsSpan(r * cols, cols);
            var f = fisher.AsSpan(r * cols, cols);
            var e1 = WeightedKMeans1D.WeightedSquaredError(values, f, weighted.RowLut(r), weighted.Codes.AsSpan(r * cols, cols));
            var e2 = WeightedKMeans1D.WeightedSquaredError(values, f, unweighted.RowLut(r), unweighted.Codes.AsSpan(r * cols, cols));
            if (method == KMeansMethod.Exact)
                Assert.True(e1 <= e2 * (1 + 1e-6), $"row {r}: weighted {e1:R} > unweighted {e2:R}");
            weightedError += e1;
            unweightedError += e2;
        }
        // Heavy-tailed sensitivities: weighting must win by a wide margin, not by noise.
        Assert.True(weightedError < 0.8 * unweightedError, $"weighted {weightedError:R} vs unweighted {unweightedError:R}");
    }

    [Theory]
    [InlineData(KMeansMethod.Exact, 3)]
    [InlineData(KMeansMethod.Lloyd, 4)]
    public void Matrix_api_equals_row_by_row_and_is_deterministic(KMeansMethod method, int bits)
    {
        var rng = new Random(4000 + bits);
        const int rows = 37, cols = 200;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var fisher = QuantizationTestData.Fisher(rng, rows * cols);

        var first = WeightedKMeans1D.Quantize(w, fisher, rows, cols, bits, method, seed: 7);
        var second = WeightedKMeans1D.Quantize(w, fisher, rows, cols, bits, method, seed: 7);
        Assert.Equal(first.Lut, second.Lut);
        Assert.Equal(first.Codes, second.Codes);

        var lut = new float[1 << bits];
        var codes = new byte[cols];
        for (var r = 0; r < rows; r++)
        {
            WeightedKMeans1D.QuantizeRow(w.AsSpan(r * cols, cols), fisher.AsSpan(r * cols, cols), bits, method, 7, lut, codes);
            Assert.Equal(lut, first.RowLut(r).ToArray());
            Assert.Equal(codes, first.Codes.AsSpan(r * cols, cols).ToArray());
        }
    }

    [Theory]
    [InlineData(KMeansMethod.Exact)]
    [InlineData(KMeansMethod.Lloyd)]
    public void Every_code_is_the_nearest_LUT_entry(KMeansMethod method)
    {
        var rng = new Random(5000);
        const int rows = 16, cols = 256, bits = 4;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var q = WeightedKMeans1D.Quantize(w, QuantizationTestData.Fisher(rng, rows * cols), rows, cols, bits, method, seed: 0);
        for (var r = 0; r < rows; r++)
        {
            var lut = q.RowLut(r).ToArray();
            Assert.True(lut.Zip(lut.Skip(1)).All(p => p.First <= p.Second));
            for (var c = 0; c < cols; c++)
            {
                var x = w[r * cols + c];
                var best = lut.Select(v => Math.Abs((double)x - v)).Min();
                Assert.Equal(best, Math.Abs((double)x - lut[q.Codes[r * cols + c]]));
            }
        }
    }

    [Fact]
    public void Excluded_positions_are_ignored_and_decode_to_the_entry_nearest_zero()
    {
        var rng = new Random(6000);
        const int cols = 300, bits = 3;
        var row = QuantizationTestData.Gaussian(rng, cols, 0.02);
        var fisher = QuantizationTestData.Fisher(rng, cols);
        var excluded = new bool[cols];
        excluded[5] = excluded[77] = excluded[200] = true;

        // Whatever sits at an excluded place must not matter: compare against the same row with
        // absurd values there, and against zero weights there.
        var wild = (float[])row.Clone();
        wild[5] = 1000f;
        wild[77] = -55f;
        wild[200] = 3f;
        var zeroWeights = (float[])fisher.Clone();
        zeroWeights[5] = zeroWeights[77] = zeroWeights[200] = 0;

        foreach (var method in new[] { KMeansMethod.Exact, KMeansMethod.Lloyd })
        {
            var withExclusion = WeightedKMeans1D.Quantize(wild, fisher, excluded, 1, cols, bits, method, seed: 0);
            var withZeroWeights = WeightedKMeans1D.Quantize(row, zeroWeights, 1, cols, bits, method, seed: 0);
            Assert.Equal(withZeroWeights.Lut, withExclusion.Lut);
            var zeroIndex = LutMath.NearestIndex(withExclusion.Lut, 0f);
            foreach (var i in new[] { 5, 77, 200 })
                Assert.Equal(zeroIndex, withExclusion.Codes[i]);
        }
    }

    [Fact]
    public void A_row_with_all_zero_sensitivity_falls_back_to_uniform_weights()
    {
        var rng = new Random(7000);
        const int rows = 3, cols = 128;
        var w = QuantizationTestData.Gaussian(rng, rows * cols);
        var fisher = QuantizationTestData.Fisher(rng, rows * cols);
        Array.Clear(fisher, cols, cols); // row 1 was never reached by a gradient
        var weighted = WeightedKMeans1D.Quantize(w, fisher, rows, cols, 3, KMeansMethod.Exact, 0);
        var uniform = WeightedKMeans1D.Quantize(w, ReadOnlySpan<float>.Empty, rows, cols, 3, KMeansMethod.Exact, 0);
        Assert.Equal(uniform.RowLut(1).ToArray(), weighted.RowLut(1).ToArray());
        Assert.NotEqual(uniform.RowLut(0).ToArray(), weighted.RowLut(0).ToArray());
    }

    [Theory]
    [InlineData(KMeansMethod.Exact)]
    [InlineData(KMeansMethod.Lloyd)]
    public void Rows_with_fewer_distinct_values_than_centroids_are_exact(KMeansMethod method)
    {
        float[] w = [0.5f, -1f, 0.5f, 2f, -1f, 0.5f, 2f, 2f];
        var q = WeightedKMeans1D.Quantize(w, ReadOnlySpan<float>.Empty, 1, w.Length, 2, method, 0);
        Assert.Equal([-1f, 0.5f, 2f, 2f], q.Lut);
        Assert.Equal(w, q.Dequantize());
    }

    [Fact]
    public void Lloyd_separates_isolated_values_for_any_seed()
    {
        // Two points far apart and a dense cluster: any seed must separate the far points.
        var rng = new Random(8000);
        var row = QuantizationTestData.Gaussian(rng, 400, 0.01);
        row[0] = 5f;
        row[1] = -5f;
        foreach (var seed in new[] { 0, 1, 12345 })
        {
            var q = WeightedKMeans1D.Quantize(row, ReadOnlySpan<float>.Empty, 1, row.Length, 2, KMeansMethod.Lloyd, seed);
            Assert.Equal(-5f, q.Lut[0]);
            Assert.Equal(5f, q.Lut[3]);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    public void Bad_bit_widths_name_the_option(int bits)
    {
        var error = Assert.Throws<InvalidOptionException>(() =>
            WeightedKMeans1D.Quantize(new float[4], ReadOnlySpan<float>.Empty, 1, 4, bits, KMeansMethod.Exact, 0));
        Assert.Equal("--bits", error.OptionName);
    }

    [Fact]
    public void Invalid_sensitivities_and_weights_name_the_tensor()
    {
        var negative = Assert.Throws<QuantizationException>(() =>
            WeightedKMeans1D.Quantize(new float[4], [1f, -1f, 0f, 2f], 1, 4, 2, KMeansMethod.Exact, 0, "layers.0.q_proj"));
        Assert.Contains("layers.0.q_proj", negative.Message);
        Assert.Contains("index 1", negative.Message);

        var nan = Assert.Throws<QuantizationException>(() =>
            WeightedKMeans1D.Quantize([0f, float.NaN, 1f, 2f], ReadOnlySpan<float>.Empty, 1, 4, 2, KMeansMethod.Lloyd, 0, "layers.3.up_proj"));
        Assert.Contains("layers.3.up_proj", nan.Message);
    }
}
