using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// Solves the weighted 1-D k-means of one row at a time, reusing its scratch between rows (one
/// solver per worker thread, nothing allocated per row).
/// <para>
/// Both methods first sort the row's positive-weight values and merge equal values (summing their
/// weights): m unique points x_0 &lt; … &lt; x_{m−1} with weights a_j &gt; 0. When m ≤ k every point is
/// its own centroid (cost 0) and the LUT is padded by repeating the largest; otherwise
/// <see cref="SolveExact"/> or <see cref="SolveLloyd"/> finds k centroids, returned sorted.
/// Arithmetic is double throughout (the reference's scikit-learn runs in float32).
/// </para>
/// </summary>
internal sealed class KMeansRowSolver
{
    private readonly int _clusters;

    // Gathered (value, weight) pairs, then the merged unique points.
    private readonly float[] _sortValues;
    private readonly float[] _sortWeights;
    private readonly double[] _x;
    private readonly double[] _a;
    private int _m;

    // Exact: prefix sums of the normalised weight, weight·(x − mean), weight·(x − mean)²,
    // interleaved (index i at [3i, 3i + 3)) so that one segment cost touches two cache lines;
    // two DP layers; the argmin split of every (layer, end) for backtracking.
    private readonly double[] _prefix;
    private double[] _previous;
    private double[] _current;
    private readonly int[] _split;

    // Lloyd: squared distance to the closest chosen seed, its running weighted sum, cluster
    // boundaries in the sorted points (cluster j = [bounds[j], bounds[j+1])).
    private readonly double[] _closest;
    private readonly double[] _cumulative;
    private readonly int[] _bounds;
    private readonly int[] _previousBounds;
    private readonly int[] _clusterCount;
    private readonly double[] _clusterWeight;
    private readonly double[] _clusterMoment;
    private readonly int[] _relocated;

    private readonly double[] _centers;
    private readonly double[] _newCenters;
    private readonly double[] _midpoints;

    public KMeansRowSolver(int cols, int clusters)
    {
        _clusters = clusters;
        _sortValues = new float[cols];
        _sortWeights = new float[cols];
        _x = new double[cols];
        _a = new double[cols];
        _prefix = new double[3 * (cols + 1)];
        _previous = new double[cols + 1];
        _current = new double[cols + 1];
        _split = new int[clusters * (cols + 1)];
        _closest = new double[cols];
        _cumulative = new double[cols];
        _bounds = new int[clusters + 1];
        _previousBounds = new int[clusters + 1];
        _clusterCount = new int[clusters];
        _clusterWeight = new double[clusters];
        _clusterMoment = new double[clusters];
        _relocated = new int[clusters];
        _centers = new double[clusters];
        _newCenters = new double[clusters];
        _midpoints = new double[clusters];
    }

    public void Solve(ReadOnlySpan<float> values, ReadOnlySpan<float> fisher, ReadOnlySpan<bool> excluded, KMeansMethod method,
        int seed, bool halfPrecision, Span<float> lut, Span<byte> codes)
    {
        Gather(values, fisher, excluded);
        var k = _clusters;
        var centers = _centers.AsSpan(0, k);
        if (_m == 0)
        {
            // Every position is excluded: the dense row is all zeros.
            centers.Clear();
        }
        else if (_m <= k)
        {
            _x.AsSpan(0, _m).CopyTo(centers);
            centers[_m..].Fill(_x[_m - 1]);
        }
        else if (method == KMeansMethod.Exact)
        {
            SolveExact();
        }
        else
        {
            SolveLloyd(seed, LloydTolerance(values, excluded));
        }

        // Rounding is monotone, so the LUT stays sorted (possibly with repeated entries).
        for (var j = 0; j < k; j++)
            lut[j] = halfPrecision ? LutMath.RoundToHalf((float)centers[j]) : (float)centers[j];
        LutMath.AssignCodes(values, excluded, lut, codes, _midpoints);
    }

    /// <summary>Collects the row's positive-weight points, sorts them and merges equal values.</summary>
    private void Gather(ReadOnlySpan<float> values, ReadOnlySpan<float> fisher, ReadOnlySpan<bool> excluded)
    {
        var n = 0;
        for (var i = 0; i < values.Length; i++)
        {
            if (!excluded.IsEmpty && excluded[i])
                continue;
            var weight = fisher.IsEmpty ? 1f : fisher[i];
            if (weight > 0f)
            {
                _sortValues[n] = values[i];
                _sortWeights[n] = weight;
                n++;
            }
        }
        if (n == 0 && !fisher.IsEmpty)
        {
            // All sensitivities are zero (e.g. a row no calibration token reached): uniform weights.
            for (var i = 0; i < values.Length; i++)
            {
                if (excluded.IsEmpty || !excluded[i])
                {
                    _sortValues[n] = values[i];
                    _sortWeights[n] = 1f;
                    n++;
                }
            }
        }

        _sortValues.AsSpan(0, n).Sort(_sortWeights.AsSpan(0, n));
        var m = 0;
        for (var i = 0; i < n; i++)
        {
            if (m > 0 && _x[m - 1] == _sortValues[i])
            {
                _a[m - 1] += _sortWeights[i];
            }
            else
            {
                _x[m] = _sortValues[i];
                _a[m] = _sortWeights[i];
                m++;
            }
        }
        _m = m;
    }

    // ---------------------------------------------------------------- exact

    /// <summary>
    /// Optimal 1-D weighted k-means. With D_c(j) the least cost of the first j points in c clusters,
    /// D_c(j) = min_{c−1 ≤ i &lt; j} D_{c−1}(i) + cost(i, j), cost(i, j) the weighted SSE of points
    /// [i, j) about their weighted mean, O(1) from prefix sums. The cost satisfies the quadrangle
    /// inequality, so the optimal split opt_c(j) is non-decreasing in j and each layer is filled by
    /// divide and conquer in O(m log m): O(k · m log m) per row.
    /// </summary>
    private void SolveExact()
    {
        int m = _m, k = _clusters, stride = m + 1;
        var total = 0.0;
        var moment = 0.0;
        for (var i = 0; i < m; i++)
        {
            total += _a[i];
            moment += _a[i] * _x[i];
        }
        // Centring and normalising keep C − B²/A away from catastrophic cancellation; neither
        // changes the argmin.
        var mean = moment / total;
        _prefix[0] = _prefix[1] = _prefix[2] = 0;
        for (var i = 0; i < m; i++)
        {
            var weight = _a[i] / total;
            var d = _x[i] - mean;
            _prefix[3 * i + 3] = _prefix[3 * i] + weight;
            _prefix[3 * i + 4] = _prefix[3 * i + 1] + weight * d;
            _prefix[3 * i + 5] = _prefix[3 * i + 2] + weight * d * d;
        }

        // Layer 1 over the ends j that still leave one point for each of the other k − 1 clusters.
        for (var j = 1; j <= m - (k - 1); j++)
            _previous[j] = Cost(0, j);
        for (var c = 2; c < k; c++)
        {
            var lastEnd = m - (k - c);
            FillLayer(c, stride, c, lastEnd, c - 1, lastEnd - 1);
            (_previous, _current) = (_current, _previous);
        }
        // The last layer needs only the end m.
        var best = double.PositiveInfinity;
        var bestSplit = k - 1;
        for (var i = k - 1; i < m; i++)
        {
            var v = _previous[i] + Cost(i, m);
            if (v < best)
            {
                best = v;
                bestSplit = i;
            }
        }

        // Backtrack: cluster c − 1 covers [start, end); centroids are direct weighted means.
        var end = m;
        var start = bestSplit;
        for (var c = k; c >= 1; c--)
        {
            _centers[c - 1] = WeightedMean(start, end);
            end = start;
            if (c > 2)
                start = _split[(c - 1) * stride + end];
            else
                start = 0;
        }
    }

    /// <summary>Fills D_c(j) for j in [jLo, jHi] knowing opt_c(j) ∈ [iLo, iHi] (divide and conquer on j).</summary>
    private void FillLayer(int c, int stride, int jLo, int jHi, int iLo, int iHi)
    {
        while (jLo <= jHi)
        {
            var j = (jLo + jHi) >>> 1;
            var first = Math.Max(iLo, c - 1);
            var last = Math.Min(iHi, j - 1);
            var best = double.PositiveInfinity;
            var bestSplit = first;
            // The hot loop of the exact solver: indices are within [0, m] by construction, so the
            // bounds checks are dropped.
            ref var previous = ref MemoryMarshal.GetArrayDataReference(_previous);
            ref var prefix = ref MemoryMarshal.GetArrayDataReference(_prefix);
            double endWeight = Unsafe.Add(ref prefix, 3 * j), endMoment = Unsafe.Add(ref prefix, 3 * j + 1), endSquares = Unsafe.Add(ref prefix, 3 * j + 2);
            for (var i = first; i <= last; i++)
            {
                ref var start = ref Unsafe.Add(ref prefix, 3 * i);
                var v = Unsafe.Add(ref previous, i) + SegmentCost(endWeight - start, endMoment - Unsafe.Add(ref start, 1), endSquares - Unsafe.Add(ref start, 2));
                if (v < best)
                {
                    best = v;
                    bestSplit = i;
                }
            }
            _current[j] = best;
            _split[c * stride + j] = bestSplit;
            FillLayer(c, stride, jLo, j - 1, iLo, bestSplit);
            jLo = j + 1;
            iLo = bestSplit;
        }
    }

    /// <summary>Weighted SSE of points [i, j) about their mean.</summary>
    private double Cost(int i, int j)
        => SegmentCost(_prefix[3 * j] - _prefix[3 * i], _prefix[3 * j + 1] - _prefix[3 * i + 1], _prefix[3 * j + 2] - _prefix[3 * i + 2]);

    /// <summary>C − B²/A from a segment's weight A, moment B and second moment C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double SegmentCost(double weight, double moment, double squares)
    {
        // A segment whose weight vanishes in the prefix sums costs (almost) nothing.
        var v = weight > 0 ? squares - moment * moment / weight : squares;
        return v > 0 ? v : 0;
    }

    private double WeightedMean(int start, int end)
    {
        double weight = 0, moment = 0;
        for (var i = start; i < end; i++)
        {
            weight += _a[i];
            moment += _a[i] * _x[i];
        }
        return moment / weight;
    }

    // ---------------------------------------------------------------- Lloyd

    /// <summary>scikit-learn's tolerance: LloydRelativeTolerance × the (unweighted) variance of the row as fitted.</summary>
    private static double LloydTolerance(ReadOnlySpan<float> values, ReadOnlySpan<bool> excluded)
    {
        double sum = 0, sumSquares = 0;
        for (var i = 0; i < values.Length; i++)
        {
            double v = !excluded.IsEmpty && excluded[i] ? 0 : values[i];
            sum += v;
            sumSquares += v * v;
        }
        var mean = sum / values.Length;
        var variance = Math.Max(0, sumSquares / values.Length - mean * mean);
        return WeightedKMeans1D.LloydRelativeTolerance * variance;
    }

    /// <summary>
    /// scikit-learn's Lloyd: weighted k-means++ seeding, then at most 50 rounds of (assign to the
    /// nearest center, move each center to its cluster's weighted mean), stopping when the
    /// assignment repeats or the squared center shift is at most <paramref name="tolerance"/>.
    /// In 1-D with sorted centers the clusters are contiguous runs of the sorted points split at
    /// the midpoints between centers, so an assignment is k binary searches.
    /// </summary>
    private void SolveLloyd(int seed, double tolerance)
    {
        int k = _clusters;
        var centers = _centers.AsSpan(0, k);
        var newCenters = _newCenters.AsSpan(0, k);
        SeedKMeansPlusPlus(seed);
        centers.Sort();
        _previousBounds.AsSpan().Fill(-1);

        for (var iteration = 0; iteration < WeightedKMeans1D.LloydMaxIterations; iteration++)
        {
            Assign(centers);
            var repeated = _bounds.AsSpan().SequenceEqual(_previousBounds);

            var empty = 0;
            for (var j = 0; j < k; j++)
            {
                double weight = 0, moment = 0;
                for (var i = _bounds[j]; i < _bounds[j + 1]; i++)
                {
                    weight += _a[i];
                    moment += _a[i] * _x[i];
                }
                _clusterCount[j] = _bounds[j + 1] - _bounds[j];
                _clusterWeight[j] = weight;
                _clusterMoment[j] = moment;
                if (_clusterCount[j] > 0)
                    newCenters[j] = moment / weight;
                else
                    empty++;
            }
            if (empty > 0)
                RelocateEmptyClusters(centers, newCenters);
            newCenters.Sort();

            var shift = 0.0;
            for (var j = 0; j < k; j++)
            {
                var d = newCenters[j] - centers[j];
                shift += d * d;
            }
            newCenters.CopyTo(centers);
            if (repeated || shift <= tolerance)
                break;
            _bounds.AsSpan().CopyTo(_previousBounds);
        }
        // The caller codes every value by its nearest (final) center: scikit-learn's final E-step.
    }

    /// <summary>Cluster boundaries for sorted centers: a point at a midpoint goes to the lower center.</summary>
    private void Assign(ReadOnlySpan<double> centers)
    {
        var k = centers.Length;
        _bounds[0] = 0;
        _bounds[k] = _m;
        for (var j = 0; j + 1 < k; j++)
            _bounds[j + 1] = UpperBound(0.5 * (centers[j] + centers[j + 1]));
    }

    /// <summary>First index whose point is greater than <paramref name="value"/>.</summary>
    private int UpperBound(double value)
    {
        int lo = 0, hi = _m;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_x[mid] <= value)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// scikit-learn's rule, made deterministic: each empty cluster (in index order) takes the point
    /// farthest (unweighted) from the center it was assigned to; ties go to the lower point. A point
    /// is taken only from a cluster that keeps at least one other point, and at most once; the donor
    /// center is recomputed without it. (scikit-learn moves one sample; we move the merged point.)
    /// </summary>
    private void RelocateEmptyClusters(ReadOnlySpan<double> oldCenters, Span<double> newCenters)
    {
        var k = _clusters;
        var taken = 0;
        for (var empty = 0; empty < k; empty++)
        {
            if (_clusterCount[empty] > 0 || _bounds[empty + 1] > _bounds[empty])
                continue;
            int farthest = -1, donor = -1;
            var farthestDistance = -1.0;
            for (var j = 0; j < k; j++)
            {
                if (_clusterCount[j] < 2)
                    continue;
                for (var i = _bounds[j]; i < _bounds[j + 1]; i++)
                {
                    var d = (_x[i] - oldCenters[j]) * (_x[i] - oldCenters[j]);
                    if (d > farthestDistance && !_relocated.AsSpan(0, taken).Contains(i))
                    {
                        farthestDistance = d;
                        farthest = i;
                        donor = j;
                    }
                }
            }
            if (farthest < 0)
                return; // cannot happen while m > k; leaves the center where it is
            _relocated[taken++] = farthest;
            newCenters[empty] = _x[farthest];
            _clusterCount[empty] = 1;
            _clusterCount[donor]--;
            _clusterWeight[donor] -= _a[farthest];
            _clusterMoment[donor] -= _a[farthest] * _x[farthest];
            if (_clusterWeight[donor] > 0)
                newCenters[donor] = _clusterMoment[donor] / _clusterWeight[donor];
        }
    }

    /// <summary>
    /// scikit-learn's greedy k-means++ with sample weights: the first seed is drawn with
    /// probability ∝ weight; each next seed is the best (lowest resulting potential) of
    /// 2 + ⌊ln k⌋ candidates drawn with probability ∝ weight · D², D the distance to the closest seed.
    /// </summary>
    private void SeedKMeansPlusPlus(int seed)
    {
        int m = _m, k = _clusters;
        var rng = new SplitMix64(seed);
        var trials = 2 + (int)Math.Log(k);

        var total = 0.0;
        for (var i = 0; i < m; i++)
        {
            total += _a[i];
            _cumulative[i] = total;
        }
        // numpy's choice(p): the first index whose cumulative probability exceeds u.
        var first = Math.Min(m - 1, FirstAbove(_cumulative.AsSpan(0, m), rng.NextDouble() * total));
        _centers[0] = _x[first];
        var potential = 0.0;
        for (var i = 0; i < m; i++)
        {
            var d = _x[i] - _x[first];
            _closest[i] = d * d;
            potential += _a[i] * _closest[i];
        }

        for (var c = 1; c < k; c++)
        {
            var running = 0.0;
            for (var i = 0; i < m; i++)
            {
                running += _a[i] * _closest[i];
                _cumulative[i] = running;
            }
            var bestPotential = double.PositiveInfinity;
            var best = 0;
            for (var t = 0; t < trials; t++)
            {
                // numpy's searchsorted(side="left"): the first index whose cumulative sum reaches r.
                var candidate = Math.Min(m - 1, FirstAtLeast(_cumulative.AsSpan(0, m), rng.NextDouble() * potential));
                var candidatePotential = 0.0;
                var x = _x[candidate];
                for (var i = 0; i < m; i++)
                {
                    var d = _x[i] - x;
                    candidatePotential += _a[i] * Math.Min(_closest[i], d * d);
                }
                if (candidatePotential < bestPotential)
                {
                    bestPotential = candidatePotential;
                    best = candidate;
                }
            }
            _centers[c] = _x[best];
            var chosen = _x[best];
            for (var i = 0; i < m; i++)
            {
                var d = _x[i] - chosen;
                _closest[i] = Math.Min(_closest[i], d * d);
            }
            potential = bestPotential;
        }
    }

    private static int FirstAbove(ReadOnlySpan<double> ascending, double value)
    {
        int lo = 0, hi = ascending.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (ascending[mid] <= value)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    private static int FirstAtLeast(ReadOnlySpan<double> ascending, double value)
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
}

/// <summary>
/// A small, fast, seedable generator (Steele, Lea &amp; Flood's SplitMix64) so that k-means++ is
/// reproducible across runs, machines and thread counts. It does not reproduce numpy's stream.
/// </summary>
internal struct SplitMix64(long seed)
{
    private ulong _state = unchecked((ulong)seed);

    public ulong Next()
    {
        unchecked
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
}
