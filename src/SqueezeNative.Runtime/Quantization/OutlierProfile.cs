using System.Globalization;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// One matrix's outlier count as a function of the range factor r, for the model-wide search
/// (<see cref="DenseSparseSplit.FindGlobalRange"/>). Implementations must be monotone: never more
/// outliers at a larger r.
/// </summary>
public interface IOutlierCounter
{
    /// <summary>Entries of the matrix.</summary>
    long Elements { get; }

    /// <summary>
    /// Outliers (entries not already removed as sensitive with |w| ≥ T(r)) at range factor r.
    /// May over-estimate where the counter cannot count exactly, never under-estimate.
    /// </summary>
    long CountOutliers(double range);

    /// <summary>A range factor at which the matrix has no outlier.</summary>
    double NoOutlierRange { get; }
}

/// <summary>
/// What the outlier rule needs of one matrix W: its quartiles q1, q3 (numpy's default "linear"
/// quantile, as the reference's <c>np.quantile</c>) and the magnitudes |w| of its non-sensitive
/// entries, sorted, so that a count at any r is a binary search.
/// <para>
/// Memory: 4 bytes per tracked magnitude. With <c>trackedFraction</c> &lt; 1 only the largest
/// ⌈fraction · candidates⌉ magnitudes (plus ties) are kept; a count whose threshold falls below
/// them cannot be exact and returns every candidate (an over-estimate, which keeps the count
/// monotone and steers the search away). <see cref="IsExactAt"/> says whether a count is exact.
/// Building it also holds, for a moment, the magnitudes of the cut's 1/128-octave bin that fall
/// below the cut and a pooled sort buffer as large as what is gathered.
/// </para>
/// </summary>
public sealed class OutlierProfile : IOutlierCounter
{
    private readonly float[] _trackedAscending;
    private readonly bool _complete;

    private OutlierProfile(string? tensorName, long elements, long candidates, double q1, double q3, float[] trackedAscending, bool complete)
    {
        TensorName = tensorName;
        Elements = elements;
        Candidates = candidates;
        Q1 = q1;
        Q3 = q3;
        _trackedAscending = trackedAscending;
        _complete = complete;
    }

    public string? TensorName { get; }

    /// <inheritdoc />
    public long Elements { get; }

    /// <summary>Entries that can become outliers (all but the sensitive ones).</summary>
    public long Candidates { get; }

    /// <summary>First quartile of all entries of W (sensitive ones included, as in the reference).</summary>
    public double Q1 { get; }

    /// <summary>Third quartile of all entries of W.</summary>
    public double Q3 { get; }

    public double InterquartileRange => Q3 - Q1;

    /// <summary>Magnitudes kept for counting.</summary>
    public int TrackedCount => _trackedAscending.Length;

    /// <summary>The kept magnitudes, ascending (for the tests' comparison with a reference).</summary>
    internal ReadOnlySpan<float> TrackedAscending => _trackedAscending;

    /// <summary>
    /// Builds the profile of W. <paramref name="sensitive"/> (same length, empty = none) marks the
    /// entries already removed by Fisher; they are not outlier candidates. Two streaming passes
    /// on <paramref name="threads"/> threads (0 = one per core; the profile is the same for any
    /// number): a histogram of every entry's key and, read in the same loop, of the sensitive
    /// ones' (together they give the candidates' magnitudes by bin); then the quartiles' low bits,
    /// while the same pass gathers the candidates of the cut's magnitude bin and above, which are
    /// then radix-sorted.
    /// </summary>
    public static OutlierProfile Create(ReadOnlySpan<float> weights, ReadOnlySpan<bool> sensitive, double trackedFraction = 1.0,
        string? tensorName = null, int threads = 0)
        => Create(weights, sensitive, trackedFraction, tensorName, Partition.For(weights.Length, threads));

    internal static OutlierProfile Create(ReadOnlySpan<float> weights, ReadOnlySpan<bool> sensitive, double trackedFraction,
        string? tensorName, Partition partition)
    {
        if (weights.IsEmpty)
            throw new ArgumentException("the matrix has no entry", nameof(weights));
        if (!sensitive.IsEmpty && sensitive.Length != weights.Length)
            throw new ArgumentException("one flag per weight expected", nameof(sensitive));
        if (!(trackedFraction > 0 && trackedFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(trackedFraction), trackedFraction, "must be in (0, 1]");
        partition.CheckLength(weights.Length);

        using var histogram = FloatSelection.HighHistogram(weights, sensitive, partition);
        if (histogram.HasNonFinite)
            QuantizationArguments.CheckFinite(weights, "weight", tensorName);   // throws naming the first one
        var candidates = weights.Length - histogram.MarkedCount;
        var wanted = (long)Math.Ceiling(candidates * trackedFraction);

        // Keep every magnitude ≥ the wanted-th largest (all when wanted ≥ candidates); ties at the
        // cut are all kept, so the untracked magnitudes are all strictly below the smallest
        // tracked one. The quartiles' pass gathers every candidate of the cut's magnitude bin and
        // above, among which the cut has index `within` once sorted.
        var within = Math.Max(0, candidates - wanted);
        var bin = candidates == 0 ? FloatSelection.BinCount : histogram.FindUnmarkedMagnitudeBin(ref within);
        var gathered = candidates == 0 ? 0 : (int)histogram.UnmarkedMagnitudesFrom(bin);
        var quartileRanks = new QuartileRanks(weights.Length);
        Span<uint> quartileKeys = stackalloc uint[QuartileRanks.Count];
        using var magnitudes = FloatSelection.KeysAtRanks(weights, histogram, quartileRanks.Ranks, quartileKeys, sensitive, bin, gathered, partition);
        var (q1, q3) = quartileRanks.Quartiles(quartileKeys);

        float[] tracked;
        bool complete;
        if (candidates == 0)
        {
            tracked = [];
            complete = true;
        }
        else
        {
            var sorted = magnitudes.Span;
            FloatSelection.SortNonNegative(sorted);
            tracked = sorted[LowerBound(sorted, sorted[(int)within])..].ToArray();
            complete = tracked.Length == candidates;
        }
        return new OutlierProfile(tensorName, weights.Length, candidates, q1, q3, tracked, complete);
    }

    /// <summary>T(r) of this matrix (see <see cref="DenseSparseSplit.OutlierThreshold"/>).</summary>
    public float Threshold(double range) => DenseSparseSplit.OutlierThreshold(Q1, Q3, range);

    /// <inheritdoc />
    public long CountOutliers(double range)
    {
        var threshold = Threshold(range);
        if (float.IsPositiveInfinity(threshold) || _trackedAscending.Length == 0)
            return 0;
        if (!_complete && threshold < _trackedAscending[0])
            return Candidates;
        return _trackedAscending.Length - LowerBound(_trackedAscending, threshold);
    }

    /// <summary>Whether <see cref="CountOutliers"/> is exact at <paramref name="range"/>.</summary>
    public bool IsExactAt(double range)
        => _complete || _trackedAscending.Length == 0 || Threshold(range) >= _trackedAscending[0];

    /// <inheritdoc />
    public double NoOutlierRange
    {
        get
        {
            var iqr = InterquartileRange;
            if (!(iqr > 0) || _trackedAscending.Length == 0)
                return DenseSparseSplit.MinimumRange;
            // T(r) ≥ |q3 + r·IQR| ≥ r·IQR − |q3| > max |w| for this r.
            return (_trackedAscending[^1] + Math.Abs(Q1) + Math.Abs(Q3)) / iqr + 1;
        }
    }

    private static int LowerBound(ReadOnlySpan<float> ascending, float value)
    {
        int lo = 0, hi = ascending.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (ascending[mid] < value)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{TensorName ?? "matrix"}: q1={Q1:G6} q3={Q3:G6} candidates={Candidates} tracked={TrackedCount}");
}

/// <summary>The model-wide range factor and what it removes.</summary>
/// <param name="Range">r; +∞ when no outlier is wanted.</param>
/// <param name="Outliers">Outliers at <paramref name="Range"/> over all matrices, as counted.</param>
/// <param name="Target">Outliers that were asked for.</param>
/// <param name="Reached">False when even the smallest r removes fewer than <paramref name="Target"/>.</param>
public sealed record OutlierRangeResult(double Range, long Outliers, long Target, bool Reached);
