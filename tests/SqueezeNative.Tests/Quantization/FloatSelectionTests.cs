using SqueezeNative.Runtime.Quantization;

namespace SqueezeNative.Tests.Quantization;

/// <summary>
/// The radix select and its helpers against full sorts, on data with ties, both zeros,
/// subnormals and fp16 values, and on partitions of one chunk, of several (results are merged
/// across chunks) and of more chunks than elements (empty chunks).
/// </summary>
public class FloatSelectionTests
{
    /// <summary>Value sets that stress the key order: every kind of tie, sign and scale.</summary>
    public static TheoryData<string> Kinds() => new() { "gaussian", "fp16", "coarse", "zeros", "constant", "extremes" };

    internal static float[] Values(string kind, int n, int seed)
    {
        var rng = new Random(seed);
        var values = new float[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = kind switch
            {
                "gaussian" => (float)rng.NextGaussian(),
                // An fp16 checkpoint: few distinct magnitudes among the large values.
                "fp16" => (float)(Half)(0.02 * rng.NextGaussian()),
                "coarse" => rng.Next(-3, 4) * 0.25f,
                "zeros" => rng.Next(3) switch { 0 => 0f, 1 => -0f, _ => (float)(Half)rng.NextGaussian() },
                "constant" => 0.125f,
                "extremes" => rng.Next(6) switch
                {
                    0 => float.MaxValue,
                    1 => -float.MaxValue,
                    2 => float.Epsilon * rng.Next(1, 4),              // subnormal
                    3 => -float.Epsilon * rng.Next(1, 4),
                    4 => rng.Next(2) == 0 ? 0f : -0f,
                    _ => (float)rng.NextGaussian() * 1e30f,
                },
                _ => throw new ArgumentException(kind),
            };
        }
        return values;
    }

    /// <summary>One chunk, a few uneven chunks, and more chunks than some inputs have elements.</summary>
    internal static IEnumerable<Partition> Partitions(int n) => [new Partition(n, 1, 1), new Partition(n, 3, 2), new Partition(n, 7, 3)];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Keys_at_ranks_are_the_order_statistics_of_a_full_sort(string kind)
    {
        foreach (var n in new[] { 1, 2, 3, 5, 8, 31, 33, 1000, 20_011 })
        {
            var values = Values(kind, n, n);
            // The key order: the float order with −0 just below +0.
            var sorted = values.Select(FloatSelection.Key).Order().ToArray();
            var ranks = n <= 40 ? Enumerable.Range(0, n).Select(r => (long)r).ToArray()
                : [0, 1, n / 4, n / 4 + 1, n / 2, 3 * (n - 1) / 4, n - 2, n - 1, 12_345 % n];
            foreach (var partition in Partitions(n))
            {
                var keys = new uint[ranks.Length];
                FloatSelection.KeysAtRanks(values, ranks, keys, partition);
                for (var r = 0; r < ranks.Length; r++)
                    Assert.True(sorted[ranks[r]] == keys[r], $"{kind}, n = {n}, rank {ranks[r]}, {partition}");
            }
            Assert.Equal(BitConverter.SingleToUInt32Bits(FloatSelection.FromKey(sorted[n / 2])),
                BitConverter.SingleToUInt32Bits(FloatSelection.ValueAtRank(values, n / 2)));
        }
    }

    [Fact]
    public void Keys_order_as_floats_and_round_trip()
    {
        float[] ordered = [float.NegativeInfinity, -float.MaxValue, -1f, -float.Epsilon, -0f, 0f, float.Epsilon, 1f, float.MaxValue, float.PositiveInfinity];
        for (var i = 0; i + 1 < ordered.Length; i++)
            Assert.True(FloatSelection.Key(ordered[i]) < FloatSelection.Key(ordered[i + 1]), $"{ordered[i]} < {ordered[i + 1]}");
        foreach (var value in ordered)
            Assert.Equal(BitConverter.SingleToUInt32Bits(value), BitConverter.SingleToUInt32Bits(FloatSelection.FromKey(FloatSelection.Key(value))));
        Assert.Throws<ArgumentOutOfRangeException>(() => FloatSelection.ValueAtRank([1f, 2f], 2));
    }

    [Fact]
    public void The_histogram_tells_which_inputs_need_the_full_checks()
    {
        var partition = new Partition(3, 1, 1);
        bool NonFinite(params float[] v) { using var h = FloatSelection.HighHistogram(v, partition); return h.HasNonFinite; }
        bool MaybeInvalid(params float[] v) { using var h = FloatSelection.HighHistogram(v, partition); return h.MayHaveNegativeOrNonFinite; }

        Assert.False(NonFinite(float.MaxValue, -float.MaxValue, -0f));
        Assert.True(NonFinite(1f, float.PositiveInfinity, 2f));
        Assert.True(NonFinite(1f, float.NegativeInfinity, 2f));
        Assert.True(NonFinite(1f, float.NaN, 2f));
        Assert.True(NonFinite(1f, BitConverter.UInt32BitsToSingle(0xFFC0_0001), 2f));   // a negative NaN

        Assert.False(MaybeInvalid(0f, float.Epsilon, float.MaxValue));
        Assert.True(MaybeInvalid(0f, -1f, 2f));
        Assert.True(MaybeInvalid(0f, float.PositiveInfinity, 2f));
        Assert.True(MaybeInvalid(0f, float.NaN, 2f));
        Assert.True(MaybeInvalid(0f, -0f, 2f));   // only a "may": the full check accepts −0
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Unmarked_magnitude_bins_count_what_a_direct_count_does(string kind)
    {
        const int n = 5000;
        var values = Values(kind, n, 3);
        var rng = new Random(4);
        var marked = Enumerable.Range(0, n).Select(_ => rng.Next(10) == 0).ToArray();
        var expected = new Dictionary<int, int>();
        for (var i = 0; i < n; i++)
        {
            if (marked[i])
                continue;
            var bin = (int)(FloatSelection.Key(Math.Abs(values[i])) >> 16);
            expected[bin] = expected.GetValueOrDefault(bin) + 1;
        }
        foreach (var partition in Partitions(n))
        {
            using var histogram = FloatSelection.HighHistogram(values, marked, partition);
            Assert.Equal(marked.Count(m => m), histogram.MarkedCount);
            for (var bin = 0x8000; bin < FloatSelection.BinCount; bin++)
                Assert.Equal(expected.GetValueOrDefault(bin), histogram.UnmarkedMagnitudes(bin));
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void The_second_pass_gathers_the_unmarked_magnitudes_of_a_bin_and_above(string kind)
    {
        const int n = 3001;
        var values = Values(kind, n, 5);
        var rng = new Random(6);
        var skip = Enumerable.Range(0, n).Select(_ => rng.Next(7) == 0).ToArray();
        var magnitudes = values.Where((_, i) => !skip[i]).Select(Math.Abs).ToArray();
        var bins = magnitudes.Select(m => (int)(FloatSelection.Key(m) >> 16)).Distinct().Order().ToArray();
        foreach (var from in new[] { bins[0], bins[bins.Length / 2], bins[^1], 0xFFFF })
        {
            var expected = magnitudes.Where(m => FloatSelection.Key(m) >> 16 >= from).Order().ToArray();
            foreach (var partition in Partitions(n))
            {
                using var histogram = FloatSelection.HighHistogram(values, skip, partition);
                Assert.Equal(expected.Length, histogram.UnmarkedMagnitudesFrom(from));
                var keys = new uint[1];
                using var gathered = FloatSelection.KeysAtRanks(values, histogram, [n / 3], keys, skip, from, expected.Length, partition);
                FloatSelection.SortNonNegative(gathered.Span);
                Assert.Equal(expected, gathered.Span.ToArray());
                Assert.Equal(values.Select(FloatSelection.Key).Order().ElementAt(n / 3), keys[0]);
            }
        }
    }

    [Fact]
    public void The_radix_sort_orders_as_Array_Sort()
    {
        var rng = new Random(7);
        foreach (var n in new[] { 0, 1, 2, 255, 256, 257, 1000, 100_003 })
        {
            foreach (var kind in new[] { "spread", "fp16", "narrow", "same" })
            {
                var values = new float[n];
                for (var i = 0; i < n; i++)
                {
                    values[i] = kind switch
                    {
                        "spread" => rng.Next(8) switch
                        {
                            0 => 0f,
                            1 => float.Epsilon * rng.Next(1, 100),
                            2 => float.MaxValue / rng.Next(1, 100),
                            _ => (float)Math.Abs(rng.NextGaussian() * Math.Pow(10, rng.Next(-30, 30))),
                        },
                        "fp16" => (float)(Half)Math.Abs(0.02 * rng.NextGaussian()),
                        // Every key shares its top digits: the sort skips those passes.
                        "narrow" => BitConverter.UInt32BitsToSingle(0x3F80_0000u + (uint)rng.Next(1 << 11)),
                        _ => 0.5f,
                    };
                }
                var expected = (float[])values.Clone();
                Array.Sort(expected);
                FloatSelection.SortNonNegative(values);
                Assert.Equal(expected, values);
            }
        }
    }

    [Fact]
    public void Partitions_cover_the_input_in_order()
    {
        foreach (var (n, chunks) in new[] { (0, 1), (1, 1), (5, 7), (100, 3), (1 << 20, 16) })
        {
            var partition = new Partition(n, chunks, 2);
            var next = 0;
            for (var c = 0; c < chunks; c++)
            {
                var (start, length) = partition.Chunk(c);
                Assert.Equal(next, start);
                Assert.True(length >= 0);
                next = start + length;
            }
            Assert.Equal(n, next);
            var mask = partition.ZeroedMask();
            Assert.Equal(n, mask.Length);
            Assert.DoesNotContain(true, mask);
        }
        Assert.Equal(1, Partition.For(Partition.MinChunk * 4, 1).Chunks);
        Assert.Equal(3, Partition.For(Partition.MinChunk * 4, 3).Chunks);
        Assert.Equal(4, Partition.For(Partition.MinChunk * 4, 16).Chunks);
        Assert.Equal(1, Partition.For(10, 16).Chunks);
        Assert.Equal(Environment.ProcessorCount, Partition.For(10, 0).Threads);
    }
}
