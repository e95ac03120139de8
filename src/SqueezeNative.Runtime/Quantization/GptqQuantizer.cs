using System.Globalization;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>GPTQ settings (the reference defaults: blocksize 128, percdamp 0.01, no act-order).</summary>
public sealed record GptqOptions
{
    public int Bits { get; init; } = 4;

    /// <summary>Dampening added to the diagonal: PercDamp · mean(diag H).</summary>
    public double PercDamp { get; init; } = 0.01;

    /// <summary>Columns quantized between two lazy batch updates of the rest of W.</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Quantize columns in order of decreasing diag H ("act-order", <c>--act-order</c>).</summary>
    public bool ActOrder { get; init; }

    public void Validate()
    {
        QuantizationArguments.CheckBits(Bits);
        if (!double.IsFinite(PercDamp) || PercDamp < 0)
            throw new InvalidOptionException("--percdamp",
                $"must be a finite number >= 0; got {PercDamp.ToString("R", CultureInfo.InvariantCulture)}");
        if (BlockSize < 1)
            throw new InvalidOptionException("--blocksize", $"must be at least 1; got {BlockSize.ToString(CultureInfo.InvariantCulture)}");
    }
}

/// <summary>
/// GPTQ (Frantar et al., 2023; the reference's <c>GPTQ.fasterquant</c>) with GPTQ's own
/// per-channel asymmetric min–max grid (<c>Quantizer(perchannel=True, sym=False)</c>): for row r,
/// xmin = min(min_c W[r,c], 0), xmax = max(max_c W[r,c], 0) (−1, +1 if both are 0),
/// scale = (xmax − xmin)/(2^bits − 1), zero = round(−xmin/scale), q = clamp(round(w/scale) + zero,
/// 0, 2^bits − 1), value = scale·(q − zero). That grid is the row's LUT and q its code.
/// <para>
/// Columns are quantized left to right (or by decreasing diag H with act-order); each column's
/// rounding error, scaled by U's row (UᵀU = H⁻¹), is pushed onto the columns not yet quantized:
/// at once inside a block of <see cref="GptqOptions.BlockSize"/> columns, lazily for the rest of
/// the row after the block. Rows are independent; they run in parallel, in tiles that share U's
/// rows through the cache. Arithmetic on W is float32 as in the reference; U is computed in double.
/// </para>
/// </summary>
public static class GptqQuantizer
{
    /// <summary>W rows updated together in the lazy batch update (they share each U row load).</summary>
    private const int TileRows = 8;

    /// <summary>Quantizes W [rows, cols] given the accumulated Hessian of its inputs.</summary>
    public static LutQuantized Quantize(ReadOnlySpan<float> weights, int rows, int cols, HessianAccumulator hessian, GptqOptions options,
        string? tensorName = null)
    {
        ArgumentNullException.ThrowIfNull(hessian);
        if (hessian.Columns != cols)
            throw new ArgumentException($"the Hessian is {hessian.Columns}x{hessian.Columns}, the matrix has {cols} input columns", nameof(hessian));
        return QuantizeOwned(weights, rows, cols, hessian.ToMatrix(), options, tensorName);
    }

    /// <summary>Quantizes W [rows, cols] given H [cols, cols] (symmetric, row-major; not modified).</summary>
    public static LutQuantized Quantize(ReadOnlySpan<float> weights, int rows, int cols, ReadOnlySpan<double> hessian, GptqOptions options,
        string? tensorName = null)
    {
        if (hessian.Length != (long)cols * cols)
            throw new ArgumentException($"expected a {cols}x{cols} Hessian, got {hessian.Length} values", nameof(hessian));
        return QuantizeOwned(weights, rows, cols, hessian.ToArray(), options, tensorName);
    }

    /// <summary>The algorithm; <paramref name="h"/> [cols, cols] is consumed (K² doubles matter at K = 11008: ~1 GB).</summary>
    private static LutQuantized QuantizeOwned(ReadOnlySpan<float> weights, int rows, int cols, double[] h, GptqOptions options,
        string? tensorName)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        QuantizationArguments.CheckShape(rows, cols);
        QuantizationArguments.CheckLength(weights.Length, rows, cols, nameof(weights));
        QuantizationArguments.CheckFinite(weights, "weight", tensorName);
        foreach (var v in h)
        {
            if (!double.IsFinite(v))
                throw new QuantizationException("GPTQ: the Hessian has a non-finite entry", tensorName);
        }

        var levels = 1 << options.Bits;
        float maxq = levels - 1;

        // The grid comes from the original W, before dead columns are zeroed (as in fasterquant).
        var scales = new float[rows];
        var zeros = new float[rows];
        var lut = new float[rows * levels];
        for (var r = 0; r < rows; r++)
        {
            var row = weights.Slice(r * cols, cols);
            float xmin = 0f, xmax = 0f;
            foreach (var v in row)
            {
                xmin = Math.Min(xmin, v);
                xmax = Math.Max(xmax, v);
            }
            if (xmin == 0f && xmax == 0f)
            {
                xmin = -1f;
                xmax = 1f;
            }
            var scale = (xmax - xmin) / maxq;
            var zero = MathF.Round(-xmin / scale);
            scales[r] = scale;
            zeros[r] = zero;
            for (var i = 0; i < levels; i++)
                lut[r * levels + i] = scale * (i - zero);
        }

        var w = weights.ToArray();

        // Dead inputs (never active in calibration): H[i,i] = 1 keeps H invertible; their weights
        // cannot matter to the calibration loss, so they are zeroed.
        for (var i = 0; i < cols; i++)
        {
            if (h[i * cols + i] == 0)
            {
                h[i * cols + i] = 1;
                for (var r = 0; r < rows; r++)
                    w[r * cols + i] = 0f;
            }
        }

        int[]? permutation = null;
        if (options.ActOrder)
        {
            permutation = new int[cols];
            for (var i = 0; i < cols; i++)
                permutation[i] = i;
            var diagonal = new double[cols];
            for (var i = 0; i < cols; i++)
                diagonal[i] = h[i * cols + i];
            // Decreasing diag H; ties keep input order (torch.argsort does not promise one).
            Array.Sort(permutation, (a, b) => diagonal[a] != diagonal[b] ? diagonal[b].CompareTo(diagonal[a]) : a.CompareTo(b));
            h = PermuteSymmetric(h, cols, permutation);
            w = PermuteColumns(w, rows, cols, permutation);
        }

        var mean = 0.0;
        for (var i = 0; i < cols; i++)
            mean += h[i * cols + i];
        var damp = options.PercDamp * (mean / cols);
        for (var i = 0; i < cols; i++)
            h[i * cols + i] += damp;

        var u = GptqLinearAlgebra.UpperCholeskyOfInverse(h, cols, tensorName);
        var codes = new byte[rows * cols];
        var tiles = (rows + TileRows - 1) / TileRows;
        var blockSize = Math.Min(options.BlockSize, cols);
        Parallel.For(0, tiles, () => new float[TileRows * blockSize], (tile, _, errors) =>
        {
            var firstRow = tile * TileRows;
            var tileRows = Math.Min(TileRows, rows - firstRow);
            for (var blockStart = 0; blockStart < cols; blockStart += blockSize)
            {
                var blockEnd = Math.Min(cols, blockStart + blockSize);
                for (var t = 0; t < tileRows; t++)
                {
                    var r = firstRow + t;
                    var row = w.AsSpan(r * cols, cols);
                    float scale = scales[r], zero = zeros[r];
                    for (var c = blockStart; c < blockEnd; c++)
                    {
                        var x = row[c];
                        var q = Math.Clamp(MathF.Round(x / scale) + zero, 0f, maxq);
                        codes[r * cols + c] = (byte)q;
                        var error = (x - scale * (q - zero)) / u[c * cols + c];
                        errors[t * blockSize + (c - blockStart)] = error;
                        VectorKernels.SubtractScaled(row[(c + 1)..blockEnd], u.AsSpan(c * cols + c + 1, blockEnd - c - 1), error);
                    }
                }
                // Lazy batch update: W[:, blockEnd..] −= Err · U[block, blockEnd..].
                if (blockEnd < cols)
                {
                    for (var c = blockStart; c < blockEnd; c++)
                    {
                        var uRow = u.AsSpan(c * cols + blockEnd, cols - blockEnd);
                        for (var t = 0; t < tileRows; t++)
                        {
                            var r = firstRow + t;
                            VectorKernels.SubtractScaled(w.AsSpan(r * cols + blockEnd, cols - blockEnd), uRow,
                                errors[t * blockSize + (c - blockStart)]);
                        }
                    }
                }
            }
            return errors;
        }, _ => { });

        if (permutation is not null)
        {
            var permuted = codes;
            codes = new byte[rows * cols];
            for (var r = 0; r < rows; r++)
                for (var j = 0; j < cols; j++)
                    codes[r * cols + permutation[j]] = permuted[r * cols + j];
        }
        return new LutQuantized(rows, cols, options.Bits, lut, codes);
    }

    private static double[] PermuteSymmetric(double[] h, int k, int[] permutation)
    {
        var result = new double[k * k];
        for (var a = 0; a < k; a++)
            for (var b = 0; b < k; b++)
                result[a * k + b] = h[permutation[a] * k + permutation[b]];
        return result;
    }

    private static float[] PermuteColumns(float[] w, int rows, int cols, int[] permutation)
    {
        var result = new float[w.Length];
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < cols; j++)
                result[r * cols + j] = w[r * cols + permutation[j]];
        return result;
    }
}
