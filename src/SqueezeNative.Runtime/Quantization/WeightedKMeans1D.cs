using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>How <see cref="WeightedKMeans1D"/> finds each row's centroids.</summary>
public enum KMeansMethod
{
    /// <summary>
    /// What the SqueezeLLM reference runs (scikit-learn <c>KMeans(n_clusters=2^bits, random_state=0,
    /// n_init="auto", max_iter=50).fit(w, sample_weight=F)</c>): weighted k-means++ seeding, then at
    /// most 50 Lloyd iterations. A local optimum.
    /// </summary>
    Lloyd,

    /// <summary>
    /// The global optimum of the same objective: 1-D k-means is a partition of the sorted values
    /// into contiguous groups, found by dynamic programming.
    /// </summary>
    Exact,
}

/// <summary>
/// Per-row sensitivity-weighted 1-D k-means (SqueezeLLM step 3). For every row (output channel)
/// of W [rows, cols] it finds 2^bits centroids c minimising Σ_i F_i (w_i − c(w_i))², F the Fisher
/// (sensitivity) matrix, and codes every weight by its nearest centroid.
/// <para>
/// Weights of one row: F_i (or 1 when no Fisher matrix is given); 0 at positions marked excluded
/// (values moved to the sparse matrix). A row whose weights are all 0 falls back to uniform
/// weights over its non-excluded positions, as the reference does. Positions with weight 0 do not
/// move the centroids; they are coded by their nearest centroid afterwards. Excluded positions are
/// coded as the value 0, so they decode to Q(0), the centroid nearest zero.
/// </para>
/// <para>
/// Rows run in parallel; each worker owns its scratch (<see cref="KMeansRowSolver"/>), and a row
/// allocates nothing. Results do not depend on the thread count: the Lloyd seeding RNG is seeded
/// per row with the same seed (the reference builds each row's KMeans with random_state=0).
/// </para>
/// </summary>
public static class WeightedKMeans1D
{
    /// <summary>The reference's max_iter.</summary>
    public const int LloydMaxIterations = 50;

    /// <summary>scikit-learn's default tol: Lloyd stops once Σ (center shift)² ≤ tol · var(row).</summary>
    public const double LloydRelativeTolerance = 1e-4;

    /// <summary>Quantizes every row of <paramref name="weights"/> [rows, cols]; <paramref name="fisher"/> empty = uniform weights.</summary>
    public static LutQuantized Quantize(ReadOnlySpan<float> weights, ReadOnlySpan<float> fisher, int rows, int cols, int bits,
        KMeansMethod method, int seed, string? tensorName = null)
        => Quantize(weights, fisher, ReadOnlySpan<bool>.Empty, rows, cols, bits, method, seed, halfPrecisionLut: false, tensorName);

    /// <summary>
    /// Quantizes every row of <paramref name="weights"/> [rows, cols].
    /// </summary>
    /// <param name="weights">W, row-major [rows, cols].</param>
    /// <param name="fisher">F, same shape, finite and ≥ 0; empty = uniform weights.</param>
    /// <param name="excluded">Positions removed to the sparse matrix (same shape; empty = none):
    /// their value is ignored, they get weight 0 and code Q(0).</param>
    /// <param name="halfPrecisionLut">Round each centroid to fp16 before coding, so that the codes are
    /// nearest-entry codes of the LUT the checkpoint stores (fp16).</param>
    public static unsafe LutQuantized Quantize(ReadOnlySpan<float> weights, ReadOnlySpan<float> fisher, ReadOnlySpan<bool> excluded,
        int rows, int cols, int bits, KMeansMethod method, int seed, bool halfPrecisionLut = false, string? tensorName = null)
    {
        if (!Enum.IsDefined(method))
            throw new ArgumentOutOfRangeException(nameof(method), method, "not a k-means method");
        CheckInputs(weights, fisher, excluded, rows, cols, bits, tensorName);

        var clusters = 1 << bits;
        var lut = new float[rows * clusters];
        var codes = new byte[rows * cols];
        fixed (float* weightsPointer = weights)
        fixed (float* fisherPointer = fisher)
        fixed (bool* excludedPointer = excluded)
        {
            // Spans cannot enter a lambda; the pinned addresses can (as integers).
            nint w = (nint)weightsPointer, f = (nint)fisherPointer, e = (nint)excludedPointer;
            var hasFisher = !fisher.IsEmpty;
            var hasExcluded = !excluded.IsEmpty;
            Parallel.For(0, rows,
                () => new KMeansRowSolver(cols, clusters),
                (row, _, solver) =>
                {
                    var offset = (long)row * cols;
                    var rowWeights = new ReadOnlySpan<float>((float*)w + offset, cols);
                    var rowFisher = hasFisher ? new ReadOnlySpan<float>((float*)f + offset, cols) : ReadOnlySpan<float>.Empty;
                    var rowExcluded = hasExcluded ? new ReadOnlySpan<bool>((bool*)e + offset, cols) : ReadOnlySpan<bool>.Empty;
                    solver.Solve(rowWeights, rowFisher, rowExcluded, method, seed, halfPrecisionLut,
                        lut.AsSpan(row * clusters, clusters), codes.AsSpan(row * cols, cols));
                    return solver;
                },
                _ => { });
        }
        return new LutQuantized(rows, cols, bits, lut, codes);
    }

    /// <summary>
    /// The method <see cref="KMeansMethod.Exact"/> of <see cref="Quantize(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{bool}, int, int, int, KMeansMethod, int, bool, string?)"/>
    /// run by the native library (sn_kmeans_rows) on <paramref name="context"/>'s backend: the same
    /// checks and rules. The CPU backend gives the managed solver's LUT and codes bit for bit; the
    /// CUDA backend the same up to the rounding of its parallel sums (LUT within 1e-6 relative).
    /// Lloyd has no native implementation.
    /// </summary>
    public static LutQuantized QuantizeExactNative(NativeContext context, ReadOnlySpan<float> weights, ReadOnlySpan<float> fisher,
        ReadOnlySpan<bool> excluded, int rows, int cols, int bits, bool halfPrecisionLut = false, string? tensorName = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        CheckInputs(weights, fisher, excluded, rows, cols, bits, tensorName);

        var clusters = 1 << bits;
        using var values = context.FromHost(NativeDType.F32, weights, rows, cols);
        using var sampleWeights = fisher.IsEmpty ? null : context.FromHost(NativeDType.F32, fisher, rows, cols);
        // A .NET bool is one byte, 0 or 1: the U8 flags sn_kmeans_rows takes.
        using var flags = excluded.IsEmpty ? null : context.FromHost(NativeDType.U8, MemoryMarshal.AsBytes(excluded), rows, cols);
        using var lutTensor = context.Tensor(NativeDType.F32, rows, clusters);
        using var codesTensor = context.Tensor(NativeDType.U8, rows, cols);
        context.KMeansRows(values, sampleWeights, flags, bits, halfPrecisionLut, lutTensor, codesTensor);
        var lut = new float[rows * clusters];
        var codes = new byte[rows * cols];
        lutTensor.Download<float>(lut);
        codesTensor.Download<byte>(codes);
        return new LutQuantized(rows, cols, bits, lut, codes);
    }

    /// <summary>Shapes, lengths, bits, finite weights and valid sensitivities of a Quantize call.</summary>
    private static void CheckInputs(ReadOnlySpan<float> weights, ReadOnlySpan<float> fisher, ReadOnlySpan<bool> excluded,
        int rows, int cols, int bits, string? tensorName)
    {
        QuantizationArguments.CheckShape(rows, cols);
        QuantizationArguments.CheckLength(weights.Length, rows, cols, nameof(weights));
        if (!fisher.IsEmpty)
            QuantizationArguments.CheckLength(fisher.Length, rows, cols, nameof(fisher));
        if (!excluded.IsEmpty)
            QuantizationArguments.CheckLength(excluded.Length, rows, cols, nameof(excluded));
        QuantizationArguments.CheckBits(bits);
        QuantizationArguments.CheckFinite(weights, "weight", tensorName);
        if (!fisher.IsEmpty)
            QuantizationArguments.CheckSensitivity(fisher, tensorName);
    }

    /// <summary>
    /// One row, on the calling thread: <paramref name="lut"/> receives 2^bits sorted centroids,
    /// <paramref name="codes"/> one index per value. <paramref name="sampleWeights"/> empty = uniform.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> values, ReadOnlySpan<float> sampleWeights, int bits, KMeansMethod method,
        int seed, Span<float> lut, Span<byte> codes)
    {
        QuantizationArguments.CheckBits(bits);
        if (!sampleWeights.IsEmpty && sampleWeights.Length != values.Length)
            throw new ArgumentException("one weight per value expected", nameof(sampleWeights));
        if (lut.Length != 1 << bits)
            throw new ArgumentException($"expected {1 << bits} LUT entries", nameof(lut));
        if (codes.Length != values.Length)
            throw new ArgumentException("one code per value expected", nameof(codes));
        QuantizationArguments.CheckFinite(values, "value", null);
        if (!sampleWeights.IsEmpty)
            QuantizationArguments.CheckSensitivity(sampleWeights, null);
        new KMeansRowSolver(values.Length, 1 << bits)
            .Solve(values, sampleWeights, ReadOnlySpan<bool>.Empty, method, seed, halfPrecision: false, lut, codes);
    }

    /// <summary>The objective Σ_i F_i (x_i − LUT[code_i])² of one row (F empty = uniform), in double.</summary>
    public static double WeightedSquaredError(ReadOnlySpan<float> values, ReadOnlySpan<float> sampleWeights,
        ReadOnlySpan<float> lut, ReadOnlySpan<byte> codes)
    {
        var sum = 0.0;
        for (var i = 0; i < values.Length; i++)
        {
            var d = (double)values[i] - lut[codes[i]];
            sum += (sampleWeights.IsEmpty ? 1.0 : sampleWeights[i]) * d * d;
        }
        return sum;
    }
}
