using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// SqueezeLLM's dense-and-sparse decomposition of a weight matrix W [rows, cols] (step 2).
/// <list type="number">
/// <item>Sensitive values: the ⌊n · p_s / 100⌋ entries with the largest Fisher value (ties broken
/// by the lower flat index; the reference's strict <c>g &gt; k-th largest</c> drops one).</item>
/// <item>Outliers: entries with |w| ≥ T(r), T(r) = max(|q1 − r·IQR|, |q3 + r·IQR|), q1, q3 the
/// quartiles of all of W (numpy's default "linear" quantile, computed in double). One r holds for
/// the whole model (the reference's <c>generate_outlier_config.py --range</c>); it is found by
/// bisection so that sensitive + outliers over all matrices reach ⌊N · p / 100⌋.</item>
/// </list>
/// Removed entries go to a CSR matrix S over output rows; in the dense matrix they are zeroed and
/// carry weight 0 in the k-means (<see cref="WeightedKMeans1D"/>, <c>excluded</c>). After the
/// k-means their dense code decodes to Q(0), the LUT entry nearest zero, so S stores w − Q(0)
/// (<see cref="ExtractSparse"/>).
/// <para>
/// Model-level use (two passes, one matrix in memory at a time besides the profiles):
/// <code>
/// // pass 1, per matrix
/// var sensitive = DenseSparseSplit.SelectSensitive(fisher, options.SensitiveCount(n), name);
/// profiles.Add(OutlierProfile.Create(w, sensitive, trackedFraction, name));
/// // once
/// var range = DenseSparseSplit.FindGlobalRange(profiles, DenseSparseSplit.TargetOutliers(options, totalElements, totalSensitive));
/// // pass 2, per matrix (the sensitive selection is deterministic, so it can be recomputed)
/// var removed = DenseSparseSplit.SelectSensitive(fisher, options.SensitiveCount(n), name);
/// DenseSparseSplit.MarkOutliers(w, removed, profile.Threshold(range.Range));
/// var data = SqueezeLlmMatrixQuantizer.Quantize(w, fisher, removed, rows, cols, bits, method, seed, name);
/// </code>
/// </para>
/// <para>
/// Ties: every entry with |w| ≥ T is removed, so when magnitudes repeat (an fp16 checkpoint has
/// few distinct values among its largest weights) the count can pass the target by the number of
/// entries tied at the threshold magnitude.
/// </para>
/// <para>
/// Cost: every step is a few streaming passes (<see cref="FloatSelection"/>) over contiguous
/// chunks on all cores (or <c>threads</c>); the results never depend on the thread count. A
/// 4096 × 4096 split on the 2-core dev VM: 0.92–1.17 s before (single-threaded; four radix
/// selects for the quartiles with a mispredicted branch per element, a comparison sort), 95 ms
/// on one thread and 60 ms on two now, of which 30–45 ms are the page faults of the fresh
/// 16 MiB mask (which the old code paid too).
/// </para>
/// </summary>
public static class DenseSparseSplit
{
    /// <summary>
    /// The smallest useful range factor. T(r) is non-decreasing on [−½, ∞) whatever the quartiles
    /// (at r = −½ both |q1 + IQR/2| and |q3 − IQR/2| equal |(q1 + q3)/2|), so the outlier count is
    /// non-increasing there; below −½ it is not.
    /// </summary>
    public const double MinimumRange = -0.5;

    /// <summary>
    /// T(r) = max(|q1 − r·IQR|, |q3 + r·IQR|); +∞ for r = +∞, and +∞ when IQR = 0 (more than half
    /// the matrix is one value: the rule is undefined and such a matrix gets no range outliers).
    /// </summary>
    public static float OutlierThreshold(double q1, double q3, double range)
    {
        var iqr = q3 - q1;
        if (!(iqr > 0) || double.IsPositiveInfinity(range))
            return float.PositiveInfinity;
        return (float)Math.Max(Math.Abs(q1 - range * iqr), Math.Abs(q3 + range * iqr));
    }

    /// <summary>The quartiles (q = ¼, ¾) of all entries of <paramref name="weights"/>.</summary>
    public static (double Q1, double Q3) Quartiles(ReadOnlySpan<float> weights)
    {
        if (weights.IsEmpty)
            throw new ArgumentException("no value", nameof(weights));
        var ranks = new QuartileRanks(weights.Length);
        Span<uint> keys = stackalloc uint[QuartileRanks.Count];
        FloatSelection.KeysAtRanks(weights, ranks.Ranks, keys, Partition.For(weights.Length, 0));
        return ranks.Quartiles(keys);
    }

    /// <summary>
    /// numpy's default quantile (method "linear"): with h = (n − 1)·q, the order statistics
    /// a = x_(⌊h⌋), b = x_(⌊h⌋+1) and t = h − ⌊h⌋, a + (b − a)·t for t &lt; ½ and
    /// b − (b − a)·(1 − t) otherwise (numpy's <c>_lerp</c>), in double.
    /// </summary>
    public static double Quantile(ReadOnlySpan<float> values, double q)
    {
        if (values.IsEmpty)
            throw new ArgumentException("no value", nameof(values));
        if (!(q >= 0 && q <= 1))
            throw new ArgumentOutOfRangeException(nameof(q), q, "must be in [0, 1]");
        var (lower, t) = QuantileRank(values.Length, q);
        Span<uint> keys = stackalloc uint[2];
        // x_(⌊h⌋+1) does not exist when ⌊h⌋ is the last rank; then b = a.
        FloatSelection.KeysAtRanks(values, [lower, Math.Min(lower + 1, values.Length - 1)], keys, Partition.For(values.Length, 0));
        return Interpolate(FloatSelection.FromKey(keys[0]), FloatSelection.FromKey(keys[1]), t);
    }

    /// <summary>⌊h⌋ and t = h − ⌊h⌋ for h = (n − 1)·q.</summary>
    internal static (long Lower, double T) QuantileRank(int n, double q)
    {
        var h = (n - 1) * q;
        var lower = (long)Math.Floor(h);
        return (lower, h - lower);
    }

    internal static double Interpolate(double a, double b, double t)
    {
        var diff = b - a;
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    /// <summary>
    /// Marks the <paramref name="count"/> entries with the largest Fisher value (ties: lower flat
    /// index first). Two streaming passes find the count-th largest key (radix select), a third
    /// marks every larger key and counts the ties per chunk; the ties wanted then go to the
    /// chunks in index order, and only those chunks are read again. On
    /// <paramref name="threads"/> threads (0 = one per core); the mask is the same for any number.
    /// </summary>
    public static bool[] SelectSensitive(ReadOnlySpan<float> fisher, long count, string? tensorName = null, int threads = 0)
        => SelectSensitive(fisher, count, tensorName, Partition.For(fisher.Length, threads));

    internal static bool[] SelectSensitive(ReadOnlySpan<float> fisher, long count, string? tensorName, Partition partition)
    {
        if (count < 0 || count > fisher.Length)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"must be in [0, {fisher.Length}]");
        partition.CheckLength(fisher.Length);
        if (count == 0)
            return partition.ZeroedMask();
        Span<uint> cut = stackalloc uint[1];
        using (var histogram = FloatSelection.HighHistogram(fisher, partition))
        {
            if (histogram.MayHaveNegativeOrNonFinite)
                QuantizationArguments.CheckSensitivity(fisher, tensorName);   // throws naming the first bad entry (−0 passes)
            // The count-th largest is the element of ascending rank n − count.
            FloatSelection.KeysAtRanks(fisher, histogram, [fisher.Length - count], cut, partition);
        }
        // Keys as signed ints (the key with its top bit flipped), which vectors compare directly.
        var signedCut = (int)(cut[0] ^ 0x8000_0000u);
        var mask = GC.AllocateUninitializedArray<bool>(fisher.Length);
        var (greater, ties) = MarkAboveCut(fisher, signedCut, mask, partition);

        // Ties go to the lower flat index: each chunk takes what the chunks before it left.
        var tiesWanted = count - greater;
        var quota = new int[partition.Chunks];
        for (var chunk = 0; chunk < quota.Length; chunk++)
        {
            quota[chunk] = (int)Math.Min(ties[chunk], tiesWanted);
            tiesWanted -= quota[chunk];
        }
        MarkFirstTies(fisher, signedCut, quota, mask, partition);
        return mask;
    }

    /// <summary>
    /// Pass 3 of <see cref="SelectSensitive(ReadOnlySpan{float}, long, string?, int)"/>: zeroes
    /// each chunk of the uninitialised <paramref name="mask"/> (in parallel: see
    /// <see cref="Partition.ZeroedMask"/>), marks the keys above the cut, and counts the keys equal
    /// to it per chunk.
    /// </summary>
    private static unsafe (long Greater, int[] Ties) MarkAboveCut(ReadOnlySpan<float> fisher, int cut, bool[] mask, Partition partition)
    {
        var greater = new long[partition.Chunks];
        var ties = new int[partition.Chunks];
        fixed (float* fisherPointer = fisher)
        {
            // Spans cannot enter a lambda; the pinned address can (as an integer).
            nint f = (nint)fisherPointer;
            partition.Run(chunk =>
            {
                var (start, length) = partition.Chunk(chunk);
                var bits = new ReadOnlySpan<int>((int*)f + start, length);
                var flags = mask.AsSpan(start, length);
                flags.Clear();
                long above = 0;
                var equal = 0;
                var i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    ref var first = ref MemoryMarshal.GetReference(bits);
                    var cutVector = Vector256.Create(cut);
                    for (; i + Vector256<int>.Count <= length; i += Vector256<int>.Count)
                    {
                        var hit = Vector256.GreaterThanOrEqual(SignedKeys(Vector256.LoadUnsafe(ref first, (nuint)i)), cutVector);
                        for (var lanes = hit.ExtractMostSignificantBits(); lanes != 0; lanes &= lanes - 1)
                        {
                            var j = i + BitOperations.TrailingZeroCount(lanes);
                            if (SignedKey(bits[j]) > cut)
                            {
                                flags[j] = true;
                                above++;
                            }
                            else
                            {
                                equal++;
                            }
                        }
                    }
                }
                for (; i < length; i++)
                {
                    var key = SignedKey(bits[i]);
                    if (key > cut)
                    {
                        flags[i] = true;
                        above++;
                    }
                    else if (key == cut)
                    {
                        equal++;
                    }
                }
                greater[chunk] = above;
                ties[chunk] = equal;
            });
        }
        return (greater.Sum(), ties);
    }

    /// <summary>Marks the first <paramref name="quota"/>[c] keys equal to the cut in each chunk c; reads only the chunks with a quota, up to their last tie taken.</summary>
    private static unsafe void MarkFirstTies(ReadOnlySpan<float> fisher, int cut, int[] quota, bool[] mask, Partition partition)
    {
        fixed (float* fisherPointer = fisher)
        {
            nint f = (nint)fisherPointer;
            partition.Run(chunk =>
            {
                if (quota[chunk] == 0)
                    return;
                var (start, length) = partition.Chunk(chunk);
                var bits = new ReadOnlySpan<int>((int*)f + start, length);
                var flags = mask.AsSpan(start, length);
                var left = quota[chunk];
                var i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    ref var first = ref MemoryMarshal.GetReference(bits);
                    var cutVector = Vector256.Create(cut);
                    for (; i + Vector256<int>.Count <= length && left > 0; i += Vector256<int>.Count)
                    {
                        var hit = Vector256.Equals(SignedKeys(Vector256.LoadUnsafe(ref first, (nuint)i)), cutVector);
                        for (var lanes = hit.ExtractMostSignificantBits(); lanes != 0 && left > 0; lanes &= lanes - 1, left--)
                            flags[i + BitOperations.TrailingZeroCount(lanes)] = true;
                    }
                }
                for (; i < length && left > 0; i++)
                {
                    if (SignedKey(bits[i]) == cut)
                    {
                        flags[i] = true;
                        left--;
                    }
                }
            });
        }
    }

    /// <summary><see cref="FloatSelection.Key"/> with its top bit flipped, as an int: negative floats flip their other bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SignedKey(int bits) => bits ^ ((bits >> 31) & 0x7FFF_FFFF);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SignedKeys(Vector256<int> bits)
        => bits ^ (Vector256.ShiftRightArithmetic(bits, 31) & Vector256.Create(0x7FFF_FFFF));

    /// <summary>
    /// The per-matrix outlier rule: marks in <paramref name="removed"/> every entry not yet marked
    /// with |w| ≥ <paramref name="threshold"/> and returns how many it marked. One streaming pass,
    /// 8 entries a step, on <paramref name="threads"/> threads (0 = one per core).
    /// </summary>
    public static long MarkOutliers(ReadOnlySpan<float> weights, Span<bool> removed, float threshold, int threads = 0)
        => MarkOutliers(weights, removed, threshold, Partition.For(weights.Length, threads));

    internal static unsafe long MarkOutliers(ReadOnlySpan<float> weights, Span<bool> removed, float threshold, Partition partition)
    {
        if (removed.Length != weights.Length)
            throw new ArgumentException("one flag per weight expected", nameof(removed));
        partition.CheckLength(weights.Length);
        var marked = new long[partition.Chunks];
        fixed (float* weightsPointer = weights)
        fixed (bool* removedPointer = removed)
        {
            nint w = (nint)weightsPointer, r = (nint)removedPointer;
            partition.Run(chunk =>
            {
                var (start, length) = partition.Chunk(chunk);
                var values = new ReadOnlySpan<float>((float*)w + start, length);
                var flags = new Span<bool>((bool*)r + start, length);
                var count = 0L;
                var i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    ref var first = ref MemoryMarshal.GetReference(values);
                    var thresholdVector = Vector256.Create(threshold);
                    for (; i + Vector256<float>.Count <= length; i += Vector256<float>.Count)
                    {
                        // Ordered compare, as the scalar one: false for NaN.
                        var hit = Vector256.GreaterThanOrEqual(Vector256.Abs(Vector256.LoadUnsafe(ref first, (nuint)i)), thresholdVector);
                        for (var lanes = hit.ExtractMostSignificantBits(); lanes != 0; lanes &= lanes - 1)
                        {
                            var j = i + BitOperations.TrailingZeroCount(lanes);
                            if (!flags[j])
                            {
                                flags[j] = true;
                                count++;
                            }
                        }
                    }
                }
                for (; i < length; i++)
                {
                    if (!flags[i] && Math.Abs(values[i]) >= threshold)
                    {
                        flags[i] = true;
                        count++;
                    }
                }
                marked[chunk] = count;
            });
        }
        return marked.Sum();
    }

    /// <summary>Outliers wanted over a model: ⌊N · sparsity / 100⌋ minus the sensitive values already removed (at least 0).</summary>
    public static long TargetOutliers(DenseSparseOptions options, long totalElements, long totalSensitive)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.IsDenseOnly ? 0 : Math.Max(0, options.RemovedCount(totalElements) - totalSensitive);
    }

    /// <summary>
    /// Finds one range factor r for all <paramref name="matrices"/> so that their outliers
    /// together come closest to <paramref name="targetOutliers"/> (ties: reach it). Bisection on
    /// [<see cref="MinimumRange"/>, max no-outlier r] down to adjacent doubles, where the count is
    /// a step function of r. Throws when an <see cref="OutlierProfile"/> could not count exactly
    /// at the result (it tracked too few magnitudes).
    /// </summary>
    public static OutlierRangeResult FindGlobalRange(IReadOnlyList<IOutlierCounter> matrices, long targetOutliers)
    {
        ArgumentNullException.ThrowIfNull(matrices);
        ArgumentOutOfRangeException.ThrowIfNegative(targetOutliers);
        if (targetOutliers == 0 || matrices.Count == 0)
            return new OutlierRangeResult(double.PositiveInfinity, 0, targetOutliers, targetOutliers == 0);

        long Total(double range)
        {
            var total = 0L;
            foreach (var matrix in matrices)
                total += matrix.CountOutliers(range);
            return total;
        }

        double lo = MinimumRange;
        var countLo = Total(lo);
        if (countLo < targetOutliers)
            return Verified(new OutlierRangeResult(lo, countLo, targetOutliers, Reached: false), matrices);

        var hi = lo + 1;
        foreach (var matrix in matrices)
            hi = Math.Max(hi, matrix.NoOutlierRange);
        var countHi = Total(hi);
        if (countHi >= targetOutliers)
            return Verified(new OutlierRangeResult(hi, countHi, targetOutliers, Reached: true), matrices);

        // Invariant: Total(lo) ≥ target > Total(hi).
        for (var iteration = 0; iteration < 2200; iteration++)
        {
            var mid = lo + 0.5 * (hi - lo);
            if (mid <= lo || mid >= hi)
                break;
            var count = Total(mid);
            if (count >= targetOutliers)
            {
                lo = mid;
                countLo = count;
                if (count == targetOutliers)
                    break;
            }
            else
            {
                hi = mid;
                countHi = count;
            }
        }
        // Both ends of the final bracket must be exact counts: an over-estimating profile at lo
        // would hide where the true count crosses the target.
        Verify(lo, matrices);
        var result = countLo - targetOutliers <= targetOutliers - countHi
            ? new OutlierRangeResult(lo, countLo, targetOutliers, Reached: true)
            : new OutlierRangeResult(hi, countHi, targetOutliers, Reached: true);
        return Verified(result, matrices);
    }

    private static OutlierRangeResult Verified(OutlierRangeResult result, IReadOnlyList<IOutlierCounter> matrices)
    {
        Verify(result.Range, matrices);
        return result;
    }

    private static void Verify(double range, IReadOnlyList<IOutlierCounter> matrices)
    {
        foreach (var matrix in matrices)
        {
            if (matrix is OutlierProfile profile && !profile.IsExactAt(range))
                throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                    $"the outlier threshold at r = {range:G6} lies below the {profile.TrackedCount} largest magnitudes its profile kept; build the profiles with a larger trackedFraction"),
                    profile.TensorName);
        }
    }

    /// <summary>
    /// The whole split for a single matrix on its own (the "model" is this matrix): sensitive
    /// values by <paramref name="fisher"/>, then outliers up to the options' total. On
    /// <paramref name="threads"/> threads (0 = one per core); the result is the same for any number.
    /// </summary>
    public static DenseSparseMask SplitMatrix(ReadOnlySpan<float> weights, ReadOnlySpan<float> fisher, int rows, int cols,
        DenseSparseOptions options, string? tensorName = null, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(options);
        QuantizationArguments.CheckShape(rows, cols);
        QuantizationArguments.CheckLength(weights.Length, rows, cols, nameof(weights));
        if (!fisher.IsEmpty)
            QuantizationArguments.CheckLength(fisher.Length, rows, cols, nameof(fisher));
        long elements = weights.Length;
        var partition = Partition.For(weights.Length, threads);
        if (options.IsDenseOnly)
            return new DenseSparseMask(partition.ZeroedMask(), 0, 0, double.PositiveInfinity, float.PositiveInfinity);

        var sensitiveCount = options.SensitiveCount(elements);
        if (sensitiveCount > 0 && fisher.IsEmpty)
            throw new InvalidOptionException("--sensitive",
                "choosing sensitive values needs the Fisher (sensitivity) matrix; give one or set --sensitive 0");
        var removed = sensitiveCount > 0 ? SelectSensitive(fisher, sensitiveCount, tensorName, partition) : partition.ZeroedMask();
        var target = TargetOutliers(options, elements, sensitiveCount);
        for (var fraction = InitialTrackedFraction(options); ; fraction = Math.Min(1.0, fraction * 4))
        {
            var profile = OutlierProfile.Create(weights, removed, fraction, tensorName, partition);
            OutlierRangeResult range;
            try
            {
                range = FindGlobalRange([profile], target);
            }
            catch (QuantizationException) when (fraction < 1)
            {
                continue;   // the range fell below the magnitudes the profile kept: keep more
            }
            var threshold = profile.Threshold(range.Range);
            var outliers = MarkOutliers(weights, removed, threshold, partition);
            return new DenseSparseMask(removed, sensitiveCount, outliers, range.Range, threshold);
        }
    }

    /// <summary>
    /// The share of each matrix's magnitudes an <see cref="OutlierProfile"/> first keeps: four
    /// times the sparse share, plus 0.1 %. The range search proves its counts exact (or asks for a
    /// profile with 4× more), so the result is that of a complete profile, without gathering and
    /// sorting every magnitude (a 4096 × 4096 matrix's complete profile: 64 MiB, and 2.8 s with a
    /// comparison sort; 0.4–0.8 s with the radix sort on the 2-core dev VM, mostly page faults).
    /// </summary>
    public static double InitialTrackedFraction(DenseSparseOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Math.Min(1.0, 4 * options.SparsityPercent / 100 + 1e-3);
    }

    /// <summary>
    /// The sparse part: for every removed entry, S = w − LUT_r[code], the original minus what its
    /// dense code decodes to (Q(0) for codes from <see cref="WeightedKMeans1D"/> with the entry
    /// excluded). The difference is formed in double (exact for the magnitudes of weights: two
    /// floats whose exponents differ by less than 29) and rounded once to
    /// <paramref name="precision"/>; so Q(0) + S differs from w by exactly the rounding of S — with
    /// fp16 values (the checkpoint's) at most half an fp16 ulp of S, and nothing else.
    /// Summing Q(0) + S in float32 can add one more rounding (see the tests for an example), which is
    /// why <see cref="QuantizedLinearData.Dequantize()"/> adds in double.
    /// </summary>
    public static SparseCsr ExtractSparse(ReadOnlySpan<float> original, ReadOnlySpan<bool> removed, LutQuantized dense,
        SparseValuePrecision precision, string? tensorName = null)
    {
        ArgumentNullException.ThrowIfNull(dense);
        int rows = dense.Rows, cols = dense.Cols;
        QuantizationArguments.CheckLength(original.Length, rows, cols, nameof(original));
        QuantizationArguments.CheckLength(removed.Length, rows, cols, nameof(removed));

        var rowOffsets = new int[rows + 1];
        for (var r = 0; r < rows; r++)
        {
            var count = 0;
            foreach (var flag in removed.Slice(r * cols, cols))
                if (flag)
                    count++;
            rowOffsets[r + 1] = rowOffsets[r] + count;
        }
        var columns = new int[rowOffsets[rows]];
        var values = new float[rowOffsets[rows]];
        var n = 0;
        for (var r = 0; r < rows; r++)
        {
            var lut = dense.RowLut(r);
            for (var c = 0; c < cols; c++)
            {
                var index = r * cols + c;
                if (!removed[index])
                    continue;
                var difference = (double)original[index] - lut[dense.Codes[index]];
                var value = precision == SparseValuePrecision.Half ? (float)(Half)difference : (float)difference;
                if (!float.IsFinite(value))
                    throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                        $"sparse value {difference:G9} at row {r}, column {c} does not fit in {precision} precision"), tensorName);
                columns[n] = c;
                values[n] = value;
                n++;
            }
        }
        return new SparseCsr(rows, cols, rowOffsets, columns, values);
    }
}

/// <summary>Precision of the stored sparse values.</summary>
public enum SparseValuePrecision
{
    /// <summary>float32: what the reference keeps in memory.</summary>
    Single,

    /// <summary>fp16: what the checkpoint stores (values are fp16-representable floats).</summary>
    Half,
}

/// <summary>The entries a split removes from one matrix.</summary>
/// <param name="Removed">Row-major flags, same shape as W.</param>
/// <param name="SensitiveCount">Removed by Fisher.</param>
/// <param name="OutlierCount">Removed by magnitude.</param>
/// <param name="Range">The range factor r used (+∞: no outlier).</param>
/// <param name="Threshold">T(r) of this matrix (+∞: no outlier).</param>
public sealed record DenseSparseMask(bool[] Removed, long SensitiveCount, long OutlierCount, double Range, float Threshold)
{
    public long RemovedCount => SensitiveCount + OutlierCount;
}

/// <summary>
/// The order statistics numpy's "linear" quantile reads for q = ¼ and ¾ of n values, so that
/// both quartiles come out of one selection (<see cref="FloatSelection"/>): x_(⌊h⌋) and
/// x_(⌊h⌋+1) for each q (the second is x_(⌊h⌋) again when ⌊h⌋ is the last rank, where b = a).
/// </summary>
internal readonly struct QuartileRanks
{
    public const int Count = 4;
    private readonly double _t1, _t3;

    public QuartileRanks(int n)
    {
        var (lower1, t1) = DenseSparseSplit.QuantileRank(n, 0.25);
        var (lower3, t3) = DenseSparseSplit.QuantileRank(n, 0.75);
        var last = n - 1;
        Ranks = [lower1, Math.Min(lower1 + 1, last), lower3, Math.Min(lower3 + 1, last)];
        (_t1, _t3) = (t1, t3);
    }

    public long[] Ranks { get; }

    /// <summary>q1 and q3 from the keys of <see cref="Ranks"/>, in that order.</summary>
    public (double Q1, double Q3) Quartiles(ReadOnlySpan<uint> keys)
        => (DenseSparseSplit.Interpolate(FloatSelection.FromKey(keys[0]), FloatSelection.FromKey(keys[1]), _t1),
            DenseSparseSplit.Interpolate(FloatSelection.FromKey(keys[2]), FloatSelection.FromKey(keys[3]), _t3));
}
