using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Quantization;

namespace SqueezeNative.Tests.Quantization;

public class DenseSparseSplitTests
{
    [Fact]
    public void Quantiles_follow_numpy_linear_interpolation()
    {
        // np.quantile([1, 2, 3, 4], [0.25, 0.75]) = [1.75, 3.25]
        Assert.Equal(1.75, DenseSparseSplit.Quantile([4f, 1f, 3f, 2f], 0.25));
        Assert.Equal(3.25, DenseSparseSplit.Quantile([4f, 1f, 3f, 2f], 0.75));
        // np.quantile([10, 0, 3, 7, 1], [0.25, 0.75]) = [1, 7]: h lands on an order statistic
        Assert.Equal((1.0, 7.0), DenseSparseSplit.Quartiles([10f, 0f, 3f, 7f, 1f]));
        Assert.Equal(-2.0, DenseSparseSplit.Quantile([-2f], 0.75));

        // Against a sort on random data with duplicates, negatives and both zeros.
        var rng = new Random(100);
        foreach (var n in new[] { 2, 3, 10, 1001, 4096 })
        {
            var values = Enumerable.Range(0, n).Select(_ => rng.Next(4) == 0 ? (rng.Next(2) == 0 ? 0f : -0f) : (float)Math.Round(rng.NextGaussian(), 2)).ToArray();
            var sorted = values.Select(v => (double)v).Order().ToArray();
            foreach (var q in new[] { 0.0, 0.25, 0.5, 0.75, 1.0 })
            {
                var h = (n - 1) * q;
                var lo = (int)Math.Floor(h);
                var t = h - lo;
                var a = sorted[lo];
                var b = sorted[Math.Min(lo + 1, n - 1)];
                var expected = t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
                Assert.Equal(expected, DenseSparseSplit.Quantile(values, q));
            }
        }
    }

    [Fact]
    public void Outlier_threshold_is_the_larger_fence_magnitude()
    {
        // q1 = −1, q3 = 2, IQR = 3, r = 1.5: fences −5.5 and 6.5.
        Assert.Equal(6.5f, DenseSparseSplit.OutlierThreshold(-1, 2, 1.5));
        // Skewed low: the lower fence is larger in magnitude.
        Assert.Equal(8.5f, DenseSparseSplit.OutlierThreshold(-4, 1, 0.9));
        // At r = −½ both fences meet at the quartiles' midpoint.
        Assert.Equal(0.5f, DenseSparseSplit.OutlierThreshold(-1, 2, -0.5));
        Assert.Equal(float.PositiveInfinity, DenseSparseSplit.OutlierThreshold(-1, 2, double.PositiveInfinity));
        Assert.Equal(float.PositiveInfinity, DenseSparseSplit.OutlierThreshold(0.25, 0.25, 1.0));
    }

    [Fact]
    public void Sensitive_values_are_the_top_Fisher_entries_with_ties_to_the_lower_index()
    {
        Assert.Equal([false, true, true, false, false], DenseSparseSplit.SelectSensitive([1f, 3f, 3f, 2f, 3f], 2));
        Assert.Equal([false, true, true, false, true], DenseSparseSplit.SelectSensitive([1f, 3f, 3f, 2f, 3f], 3));
        Assert.Equal([true, true, true, true, true], DenseSparseSplit.SelectSensitive([1f, 3f, 3f, 2f, 3f], 5));
        Assert.Equal(new bool[5], DenseSparseSplit.SelectSensitive([1f, 3f, 3f, 2f, 3f], 0));

        var rng = new Random(200);
        var fisher = QuantizationTestData.Fisher(rng, 100_000);
        var mask = DenseSparseSplit.SelectSensitive(fisher, 50);
        Assert.Equal(50, mask.Count(m => m));
        var smallestChosen = fisher.Where((_, i) => mask[i]).Min();
        var largestLeft = fisher.Where((_, i) => !mask[i]).Max();
        Assert.True(smallestChosen > largestLeft);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.05)]
    [InlineData(0.45)]
    [InlineData(1.0)]
    [InlineData(5.0)]
    [InlineData(50.0)]
    [InlineData(90.0)]
    public void A_single_matrix_split_removes_the_requested_share(double sparsity)
    {
        const int rows = 96, cols = 512;
        var rng = new Random(300);
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var fisher = QuantizationTestData.Fisher(rng, rows * cols);
        var options = DenseSparseOptions.Create(sparsity);
        var split = DenseSparseSplit.SplitMatrix(w, fisher, rows, cols, options, "m");

        var n = rows * cols;
        var expectedSensitive = sparsity == 0 ? 0 : (long)Math.Floor(n * 0.05 / 100); // 24
        var expectedTotal = (long)Math.Floor(n * sparsity / 100);
        Assert.Equal(expectedSensitive, split.SensitiveCount);
        Assert.InRange(split.RemovedCount, expectedTotal - 1, expectedTotal + 1);
        Assert.Equal(split.RemovedCount, split.Removed.LongCount(r => r));

        // Every outlier is at least the threshold; every kept entry is below it.
        var sensitive = DenseSparseSplit.SelectSensitive(fisher, expectedSensitive);
        for (var i = 0; i < n; i++)
        {
            if (sensitive[i])
                Assert.True(split.Removed[i]);
            else
                Assert.Equal(Math.Abs(w[i]) >= split.Threshold, split.Removed[i]);
        }
    }

    [Fact]
    public void One_range_factor_serves_the_whole_model()
    {
        var rng = new Random(400);
        var options = DenseSparseOptions.Create(0.45);
        // Three matrices of different scale and tail weight.
        float[][] matrices =
        [
            QuantizationTestData.Gaussian(rng, 128 * 256, 0.02),
            QuantizationTestData.WeightsWithOutliers(rng, 64 * 512, 0.05, 0.02),
            QuantizationTestData.WeightsWithOutliers(rng, 256 * 128, 0.01, 0.001),
        ];
        var fishers = matrices.Select(m => QuantizationTestData.Fisher(rng, m.Length)).ToArray();
        var sensitive = new bool[3][];
        var profiles = new List<IOutlierCounter>();
        long totalElements = 0, totalSensitive = 0;
        for (var m = 0; m < 3; m++)
        {
            var count = options.SensitiveCount(matrices[m].Length);
            sensitive[m] = DenseSparseSplit.SelectSensitive(fishers[m], count);
            profiles.Add(OutlierProfile.Create(matrices[m], sensitive[m], 1.0, $"m{m}"));
            totalElements += matrices[m].Length;
            totalSensitive += count;
        }
        var target = DenseSparseSplit.TargetOutliers(options, totalElements, totalSensitive);
        var result = DenseSparseSplit.FindGlobalRange(profiles, target);
        Assert.True(result.Reached);

        long removedOutliers = 0;
        var fractions = new double[3];
        for (var m = 0; m < 3; m++)
        {
            var removed = (bool[])sensitive[m].Clone();
            var profile = (OutlierProfile)profiles[m];
            var marked = DenseSparseSplit.MarkOutliers(matrices[m], removed, profile.Threshold(result.Range));
            Assert.Equal(profile.CountOutliers(result.Range), marked);
            removedOutliers += marked;
            fractions[m] = (double)marked / matrices[m].Length;
        }
        Assert.Equal(result.Outliers, removedOutliers);
        Assert.InRange(removedOutliers, target - 1, target + 1);
        Assert.Equal((long)Math.Floor(totalElements * 0.45 / 100), totalSensitive + target);
        // One r, not one share per matrix: the heavy-tailed matrix gives more.
        Assert.True(fractions[1] > 2 * fractions[0], $"outlier shares {string.Join(", ", fractions)}");
    }

    [Fact]
    public void A_partial_profile_counts_exactly_where_it_can_and_refuses_where_it_cannot()
    {
        var rng = new Random(500);
        var w = QuantizationTestData.WeightsWithOutliers(rng, 200 * 100);
        var full = OutlierProfile.Create(w, ReadOnlySpan<bool>.Empty, 1.0, "full");
        var partial = OutlierProfile.Create(w, ReadOnlySpan<bool>.Empty, 0.02, "partial");
        Assert.InRange(partial.TrackedCount, 400, 401);

        var small = DenseSparseSplit.FindGlobalRange([partial], 100);
        Assert.Equal(DenseSparseSplit.FindGlobalRange([full], 100), small);
        Assert.Equal(100, small.Outliers);

        var error = Assert.Throws<QuantizationException>(() => DenseSparseSplit.FindGlobalRange([partial], 5000));
        Assert.Contains("partial", error.Message);
        Assert.Contains("trackedFraction", error.Message);
    }

    [Fact]
    public void No_outlier_is_asked_for_at_zero_and_sensitive_only_settings()
    {
        var rng = new Random(600);
        var w = QuantizationTestData.Gaussian(rng, 4000);
        var profile = OutlierProfile.Create(w, ReadOnlySpan<bool>.Empty);
        var none = DenseSparseSplit.FindGlobalRange([profile], 0);
        Assert.Equal(double.PositiveInfinity, none.Range);
        Assert.Equal(0, profile.CountOutliers(none.Range));
        Assert.Equal(0, DenseSparseSplit.TargetOutliers(DenseSparseOptions.Create(0.05), 4000 * 1000, 2000));
    }

    /// <summary>
    /// The exactness claim, stated precisely: at a removed entry the dense code decodes to Q(0)
    /// (the LUT entry nearest zero) and S is w − Q(0) rounded once to fp16, so the reconstruction
    /// Q(0) + S (summed exactly, in double) misses w by exactly that fp16 rounding — nothing else.
    /// </summary>
    [Theory]
    [InlineData(KMeansMethod.Exact, 3)]
    [InlineData(KMeansMethod.Lloyd, 4)]
    public void Dense_plus_sparse_reproduces_removed_values_up_to_the_fp16_rounding_of_the_stored_value(KMeansMethod method, int bits)
    {
        const int rows = 48, cols = 256;
        var rng = new Random(700 + bits);
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var fisher = QuantizationTestData.Fisher(rng, rows * cols);
        var split = DenseSparseSplit.SplitMatrix(w, fisher, rows, cols, DenseSparseOptions.Create(2.0), "t");
        var data = SqueezeLlmMatrixQuantizer.Quantize(w, fisher, split.Removed, rows, cols, bits, method, 0, "t");
        Assert.Equal(split.RemovedCount, data.Sparse.NonZeros);

        var dequantized = data.Dequantize();
        var exactHits = 0;
        for (var r = 0; r < rows; r++)
        {
            var lut = data.Lut.AsSpan(r * data.LutSize, data.LutSize);
            foreach (var entry in lut)
                Assert.Equal(entry, (float)(Half)entry); // the LUT is what the fp16 checkpoint holds
            var q0 = LutMath.NearestToZero(lut);
            for (var c = 0; c < cols; c++)
            {
                var i = r * cols + c;
                var decoded = lut[data.Codes[i]];
                if (!split.Removed[i])
                {
                    Assert.Null(data.Sparse.Find(r, c));
                    Assert.Equal(decoded, dequantized[i]);
                    continue;
                }
                Assert.Equal(q0, decoded);
                var stored = data.Sparse.Find(r, c)!.Value;
                Assert.Equal(stored, (float)(Half)stored);
                var wanted = (double)w[i] - q0;                       // exact in double here
                var fp16Rounding = (double)(float)(Half)wanted - wanted; // the only error allowed
                Assert.Equal(fp16Rounding, (double)q0 + stored - w[i]);
                Assert.True(Math.Abs(fp16Rounding) <= HalfUlp(stored) / 2, $"({r}, {c})");
                if (fp16Rounding == 0)
                    exactHits++;
            }
        }
        Assert.True(exactHits < split.RemovedCount, "random weights are not fp16 values; most removed entries must show the fp16 rounding");
    }

    private static double HalfUlp(float value)
    {
        var h = (Half)Math.Abs(value);
        return (double)(float)BitConverter.UInt16BitsToHalf((ushort)(BitConverter.HalfToUInt16Bits(h) + 1)) - (double)(float)h;
    }

    [Fact]
    public void With_fp16_weights_and_a_nearby_Q0_the_reconstruction_is_exact()
    {
        // fp16 weights (as in a checkpoint) and four distinct dense values, so the 2-bit LUT is
        // those values and Q(0) = 0.0625: 3 − 0.0625 = 2.9375 and −2.5 − 0.0625 = −2.5625 are fp16
        // values, so nothing is rounded and the reconstruction is exact, even summed in float32.
        float[] w = [0.25f, 0.5f, -0.375f, 3.0f, 0.0625f, -2.5f, 0.25f, 0.0625f];
        var removed = new bool[w.Length];
        removed[3] = removed[5] = true;
        var data = SqueezeLlmMatrixQuantizer.Quantize(w, ReadOnlySpan<float>.Empty, removed, 1, w.Length, 2, KMeansMethod.Exact, 0);
        Assert.Equal([-0.375f, 0.0625f, 0.25f, 0.5f], data.Lut);
        Assert.Equal([2.9375f, -2.5625f], data.Sparse.Values);
        Assert.Equal(w, data.Dequantize());
        Assert.Equal(3.0f, data.Lut[data.Codes[3]] + data.Sparse.Values[0]);
    }

    [Fact]
    public void Float32_sparse_values_carry_one_float32_rounding_and_a_float32_sum_may_add_another()
    {
        // w = 2 − 2⁻²³ (largest float below 2) and Q(0) = −3·2⁻²⁴: w − Q(0) = 2 + 2⁻²⁴ rounds to
        // S = 2 in float32 (spacing 2⁻²² above 2), so Q(0) + S = w − 2⁻²⁴ — a tie that float32
        // rounds to 2 − 2⁻²², not w. The error is exactly the rounding of S; "exact in float32"
        // would be false.
        var w = BitConverter.UInt32BitsToSingle(0x3FFF_FFFF);
        var q0 = -3f * MathF.Pow(2, -24);
        var dense = new LutQuantized(1, 1, 1, [q0, 1f], [0]);
        var sparse = DenseSparseSplit.ExtractSparse([w], [true], dense, SparseValuePrecision.Single);
        var stored = sparse.Values[0];
        Assert.Equal(2f, stored);
        Assert.Equal(-Math.Pow(2, -24), (double)q0 + stored - w);
        Assert.Equal((double)stored - ((double)w - q0), (double)q0 + stored - w);
        Assert.NotEqual(w, q0 + stored);
    }

    [Theory]
    [InlineData(-0.01, 0.05, "--sparsity")]
    [InlineData(100.0, 0.05, "--sparsity")]
    [InlineData(double.NaN, 0.05, "--sparsity")]
    [InlineData(0.45, -1.0, "--sensitive")]
    [InlineData(0.45, 100.0, "--sensitive")]
    [InlineData(0.45, 0.5, "--sensitive")]
    public void Out_of_range_percentages_name_the_option(double sparsity, double sensitive, string option)
    {
        var error = Assert.Throws<InvalidOptionException>(() => DenseSparseOptions.Create(sparsity, sensitive));
        Assert.Equal(option, error.OptionName);
    }

    [Fact]
    public void Accepted_percentages()
    {
        Assert.True(DenseSparseOptions.Create(0).IsDenseOnly);
        Assert.Equal(0, DenseSparseOptions.Create(0, 0.05).SensitivePercent);
        Assert.Equal(0.05, DenseSparseOptions.Create(0.05).SensitivePercent);
        Assert.Equal(0.45, DenseSparseOptions.Create(0.45).SparsityPercent);
        Assert.Equal(99.99, DenseSparseOptions.Create(99.99, 0).SparsityPercent);
        // ⌊20000 · 0.05 / 100⌋ = 10, not 9 from 0.05's binary error.
        Assert.Equal(10, DenseSparseOptions.Create(0.05).SensitiveCount(20_000));
    }

    [Fact]
    public void Sensitive_values_need_a_Fisher_matrix()
    {
        var error = Assert.Throws<InvalidOptionException>(() =>
            DenseSparseSplit.SplitMatrix(new float[4000], ReadOnlySpan<float>.Empty, 40, 100, DenseSparseOptions.Create(0.45), "x"));
        Assert.Equal("--sensitive", error.OptionName);
        // Without a sensitive share, magnitude outliers alone work.
        var rng = new Random(800);
        var w = QuantizationTestData.Gaussian(rng, 4000);
        var split = DenseSparseSplit.SplitMatrix(w, ReadOnlySpan<float>.Empty, 40, 100, DenseSparseOptions.Create(0.45, 0), "x");
        Assert.InRange(split.OutlierCount, 17, 19);
    }

    // ---- The fast paths against simple references (full sorts), on ties, fp16 values, tiny
    // matrices, count = 0 and count = n, and partitions of several chunks. ----

    /// <summary>Fisher values with few or many ties: spread, fp16-rounded (zeros and repeats), small integers, one value.</summary>
    private static float[] FisherOf(string kind, int n, int seed)
    {
        var rng = new Random(seed);
        return kind switch
        {
            "spread" => QuantizationTestData.Fisher(rng, n),
            "fp16" => QuantizationTestData.Fisher(rng, n).Select(f => (float)(Half)(f * 1e4)).ToArray(),
            "coarse" => Enumerable.Range(0, n).Select(_ => rng.Next(4) == 0 ? (rng.Next(2) == 0 ? 0f : -0f) : rng.Next(1, 6)).ToArray(),
            "constant" => Enumerable.Repeat(0.5f, n).ToArray(),
            _ => throw new ArgumentException(kind),
        };
    }

    private static readonly string[] FisherKinds = ["spread", "fp16", "coarse", "constant"];

    /// <summary>The rule by sorting: the largest keys (−0 below +0, as the selection orders them), ties to the lower index.</summary>
    private static bool[] ReferenceSensitive(float[] fisher, long count)
    {
        var mask = new bool[fisher.Length];
        foreach (var i in Enumerable.Range(0, fisher.Length).OrderByDescending(i => FloatSelection.Key(fisher[i])).ThenBy(i => i).Take((int)count))
            mask[i] = true;
        return mask;
    }

    [Fact]
    public void Sensitive_selection_matches_a_sort_on_ties_tiny_inputs_and_every_chunking()
    {
        foreach (var kind in FisherKinds)
        {
            foreach (var n in new[] { 1, 2, 3, 7, 8, 9, 64, 1001 })
            {
                var fisher = FisherOf(kind, n, n);
                foreach (var count in new long[] { 0, 1, n / 3, n / 2, n - 1, n }.Distinct())
                {
                    var expected = ReferenceSensitive(fisher, count);
                    foreach (var partition in FloatSelectionTests.Partitions(n))
                        Assert.True(expected.AsSpan().SequenceEqual(DenseSparseSplit.SelectSensitive(fisher, count, "t", partition)),
                            $"{kind}, n = {n}, count = {count}, {partition}");
                    Assert.Equal(expected, DenseSparseSplit.SelectSensitive(fisher, count));
                }
            }
        }
    }

    [Fact]
    public void Invalid_sensitivities_are_reported_at_their_first_index_and_minus_zero_is_valid()
    {
        var fisher = new float[100];
        fisher[7] = -0f;
        Assert.Equal(2, DenseSparseSplit.SelectSensitive(fisher, 2).Count(m => m));
        foreach (var bad in new[] { -1f, -float.Epsilon, float.NaN, float.PositiveInfinity })
        {
            var withBad = (float[])fisher.Clone();
            withBad[42] = bad;
            withBad[77] = bad;
            var error = Assert.Throws<QuantizationException>(() => DenseSparseSplit.SelectSensitive(withBad, 5, "t"));
            Assert.Contains("flat index 42", error.Message);
        }
        // count = 0 takes nothing and checks nothing, as before.
        Assert.Equal(new bool[3], DenseSparseSplit.SelectSensitive([float.NaN, -1f, 2f], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => DenseSparseSplit.SelectSensitive(fisher, 101));
    }

    /// <summary>numpy's linear quantile from a sort in key order.</summary>
    private static double ReferenceQuantile(float[] values, double q)
    {
        var sorted = values.OrderBy(FloatSelection.Key).ToArray();
        var h = (values.Length - 1) * q;
        var lower = (int)Math.Floor(h);
        var t = h - lower;
        double a = sorted[lower], b = sorted[Math.Min(lower + 1, values.Length - 1)];
        return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
    }

    /// <summary>
    /// The profile by sorting: quartiles of every entry, and the candidates' magnitudes at or
    /// above the ⌈fraction · candidates⌉-th largest (all of them when that is every candidate).
    /// </summary>
    private static (double Q1, double Q3, long Candidates, float[] Tracked, bool Complete) ReferenceProfile(float[] w, bool[] sensitive, double fraction)
    {
        var magnitudes = w.Where((_, i) => !sensitive[i]).Select(Math.Abs).ToArray();
        Array.Sort(magnitudes);
        long candidates = magnitudes.Length;
        var wanted = (long)Math.Ceiling(candidates * fraction);
        var tracked = candidates == 0 || wanted >= candidates ? magnitudes : magnitudes.Where(m => m >= magnitudes[candidates - wanted]).ToArray();
        return (ReferenceQuantile(w, 0.25), ReferenceQuantile(w, 0.75), candidates, tracked, tracked.Length == candidates);
    }

    private static void AssertSameBits(double expected, double actual, string what)
        => Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"{what}: expected {expected:R}, got {actual:R}");

    [Fact]
    public void Outlier_profiles_match_a_sort_on_ties_tiny_inputs_and_every_chunking()
    {
        foreach (var kind in new[] { "gaussian", "fp16", "coarse", "zeros", "constant", "extremes" })
        {
            foreach (var n in new[] { 1, 2, 3, 5, 33, 1000, 4099 })
            {
                var w = FloatSelectionTests.Values(kind, n, n + 1);
                var rng = new Random(n);
                bool[][] masks = [new bool[n], Enumerable.Range(0, n).Select(_ => rng.Next(5) == 0).ToArray(), Enumerable.Repeat(true, n).ToArray()];
                foreach (var sensitive in masks)
                {
                    foreach (var fraction in new[] { 1e-9, 0.02, 0.5, 1.0 })
                    {
                        var expected = ReferenceProfile(w, sensitive, fraction);
                        foreach (var partition in FloatSelectionTests.Partitions(n))
                        {
                            var what = $"{kind}, n = {n}, {sensitive.Count(s => s)} sensitive, fraction {fraction}, {partition}";
                            var profile = OutlierProfile.Create(w, sensitive, fraction, "t", partition);
                            AssertSameBits(expected.Q1, profile.Q1, what);
                            AssertSameBits(expected.Q3, profile.Q3, what);
                            Assert.Equal(expected.Candidates, profile.Candidates);
                            Assert.True(expected.Tracked.AsSpan().SequenceEqual(profile.TrackedAscending), what);
                            foreach (var r in new[] { -0.5, 0, 0.7, 1.5, 4, 100 })
                            {
                                var threshold = profile.Threshold(r);
                                var exact = w.Where((_, i) => !sensitive[i] && Math.Abs(w[i]) >= threshold).LongCount();
                                Assert.Equal(expected.Complete || expected.Tracked.Length == 0 || threshold >= expected.Tracked[0], profile.IsExactAt(r));
                                if (profile.IsExactAt(r))
                                    Assert.True(float.IsPositiveInfinity(threshold) ? profile.CountOutliers(r) == 0 : profile.CountOutliers(r) == exact, what);
                            }
                        }
                        // The public overload (a single chunk at these sizes) and an empty mask for "none".
                        Assert.True(expected.Tracked.AsSpan().SequenceEqual(OutlierProfile.Create(w, sensitive, fraction, "t").TrackedAscending));
                    }
                }
                var none = OutlierProfile.Create(w, ReadOnlySpan<bool>.Empty, 0.02);
                Assert.True(ReferenceProfile(w, new bool[n], 0.02).Tracked.AsSpan().SequenceEqual(none.TrackedAscending));
                AssertSameBits(ReferenceQuantile(w, 0.25), DenseSparseSplit.Quartiles(w).Q1, $"{kind}, n = {n}: Quartiles");
            }
        }
    }

    [Fact]
    public void Non_finite_weights_are_reported_at_their_first_index()
    {
        var w = QuantizationTestData.Gaussian(new Random(900), 1000);
        foreach (var bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var withBad = (float[])w.Clone();
            withBad[321] = bad;
            withBad[654] = bad;
            var error = Assert.Throws<QuantizationException>(() => OutlierProfile.Create(withBad, ReadOnlySpan<bool>.Empty, 0.1, "t"));
            Assert.Contains("flat index 321", error.Message);
        }
    }

    [Fact]
    public void Outlier_marking_matches_a_scalar_loop()
    {
        foreach (var kind in new[] { "gaussian", "fp16", "coarse", "zeros" })
        {
            foreach (var n in new[] { 1, 7, 8, 9, 100, 2053 })
            {
                var w = FloatSelectionTests.Values(kind, n, n + 2);
                var rng = new Random(n);
                var before = Enumerable.Range(0, n).Select(_ => rng.Next(4) == 0).ToArray();
                var magnitudes = w.Select(Math.Abs).Order().ToArray();
                foreach (var threshold in new[] { 0f, magnitudes[n / 2], magnitudes[^1], magnitudes[^1] * 2, float.PositiveInfinity })
                {
                    var expected = (bool[])before.Clone();
                    var expectedCount = 0L;
                    for (var i = 0; i < n; i++)
                    {
                        if (!expected[i] && Math.Abs(w[i]) >= threshold)
                        {
                            expected[i] = true;
                            expectedCount++;
                        }
                    }
                    foreach (var partition in FloatSelectionTests.Partitions(n))
                    {
                        var removed = (bool[])before.Clone();
                        Assert.Equal(expectedCount, DenseSparseSplit.MarkOutliers(w, removed, threshold, partition));
                        Assert.Equal(expected, removed);
                    }
                }
            }
        }
    }

    /// <summary>An outlier count by sorting every candidate magnitude: what a complete profile counts.</summary>
    private sealed class SortedCounter(float[] w, bool[] sensitive) : IOutlierCounter
    {
        private readonly (double Q1, double Q3, long Candidates, float[] Tracked, bool Complete) _profile = ReferenceProfile(w, sensitive, 1.0);

        public long Elements => w.Length;

        public float Threshold(double range) => DenseSparseSplit.OutlierThreshold(_profile.Q1, _profile.Q3, range);

        public long CountOutliers(double range)
        {
            var threshold = Threshold(range);
            return float.IsPositiveInfinity(threshold) ? 0 : _profile.Tracked.LongCount(m => m >= threshold);
        }

        public double NoOutlierRange
        {
            get
            {
                var iqr = _profile.Q3 - _profile.Q1;
                return !(iqr > 0) || _profile.Tracked.Length == 0
                    ? DenseSparseSplit.MinimumRange
                    : (_profile.Tracked[^1] + Math.Abs(_profile.Q1) + Math.Abs(_profile.Q3)) / iqr + 1;
            }
        }
    }

    [Theory]
    [InlineData(1, 1, 0.45, 0.05)]
    [InlineData(1, 3, 50.0, 0.05)]
    [InlineData(3, 7, 30.0, 10.0)]
    [InlineData(17, 33, 0.45, 0.05)]
    [InlineData(17, 33, 5.0, 1.0)]
    [InlineData(64, 200, 0.45, 0.05)]
    [InlineData(64, 200, 2.0, 0.0)]
    [InlineData(64, 200, 60.0, 0.05)]
    [InlineData(512, 1100, 0.45, 0.05)]   // 563 200 entries: two chunks on more than one thread
    public void A_single_matrix_split_matches_sorting_references(int rows, int cols, double sparsity, double sensitivePercent)
    {
        var n = rows * cols;
        var options = DenseSparseOptions.Create(sparsity, sensitivePercent);
        foreach (var kind in new[] { "gaussian", "fp16", "coarse", "zeros" })
        {
            var w = FloatSelectionTests.Values(kind, n, rows + cols);
            var fisher = FisherOf(kind == "gaussian" ? "spread" : kind == "zeros" ? "coarse" : "fp16", n, rows * cols);
            var sensitiveCount = options.SensitiveCount(n);
            var removed = ReferenceSensitive(fisher, sensitiveCount);
            var counter = new SortedCounter(w, removed);
            var range = DenseSparseSplit.FindGlobalRange([counter], DenseSparseSplit.TargetOutliers(options, n, sensitiveCount));
            var threshold = counter.Threshold(range.Range);
            var outliers = 0L;
            for (var i = 0; i < n; i++)
            {
                if (!removed[i] && Math.Abs(w[i]) >= threshold)
                {
                    removed[i] = true;
                    outliers++;
                }
            }

            foreach (var threads in new[] { 1, 3 })
            {
                var split = DenseSparseSplit.SplitMatrix(w, fisher, rows, cols, options, "t", threads);
                var what = $"{kind}, {rows} x {cols}, {sparsity} %, {threads} threads";
                Assert.True(removed.AsSpan().SequenceEqual(split.Removed), what);
                Assert.Equal(sensitiveCount, split.SensitiveCount);
                Assert.Equal(outliers, split.OutlierCount);
                AssertSameBits(range.Range, split.Range, what);
                Assert.Equal(threshold, split.Threshold);
            }
        }
    }
}
