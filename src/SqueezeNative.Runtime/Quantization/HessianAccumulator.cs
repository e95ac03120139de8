namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// GPTQ's layer Hessian H = 2·XᵀX / n [K, K] from calibration activations X [n, K] (the inputs
/// of one linear, one row per token), accumulated batch by batch in double.
/// <para>
/// GPTQ averages over sequences (<c>nsamples</c> counts batch entries) and we average over
/// tokens; the two differ by a constant factor, and GPTQ's result does not depend on the scale
/// of H (its dampening is relative to mean(diag H)).
/// </para>
/// </summary>
public sealed class HessianAccumulator
{
    /// <summary>H rows per parallel work item: their slices stay in cache while X streams by.</summary>
    private const int TileRows = 16;

    private readonly double[] _sum; // upper triangle of Σ x xᵀ, row-major [K, K]

    public HessianAccumulator(int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if ((long)columns * columns > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(columns), columns, "a Hessian this large does not fit in one array");
        Columns = columns;
        _sum = new double[columns * columns];
    }

    /// <summary>K, the linear's input features.</summary>
    public int Columns { get; }

    /// <summary>Activation rows (tokens) added so far.</summary>
    public long Rows { get; private set; }

    /// <summary>Adds activations <paramref name="x"/> [<paramref name="rows"/>, K], row-major.</summary>
    public void Add(ReadOnlySpan<float> x, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        var k = Columns;
        if ((long)rows * k != x.Length)
            throw new ArgumentException($"expected {rows} x {k} activations, got {x.Length}", nameof(x));
        QuantizationArguments.CheckFinite(x, "calibration activation", null);
        if (rows == 0)
            return;

        var samples = new double[x.Length];
        for (var i = 0; i < x.Length; i++)
            samples[i] = x[i];
        var tiles = (k + TileRows - 1) / TileRows;
        Parallel.For(0, tiles, tile =>
        {
            var first = tile * TileRows;
            var last = Math.Min(k, first + TileRows);
            for (var t = 0; t < rows; t++)
            {
                var sample = samples.AsSpan(t * k, k);
                for (var i = first; i < last; i++)
                {
                    var xi = sample[i];
                    if (xi != 0)
                        VectorKernels.AddScaled(_sum.AsSpan(i * k + i, k - i), sample[i..], xi);
                }
            }
        });
        Rows += rows;
    }

    /// <summary>H = 2·Σ x xᵀ / n, full and symmetric [K, K]; all zeros before any row (every column dead).</summary>
    public double[] ToMatrix()
    {
        var k = Columns;
        var h = new double[k * k];
        var scale = Rows == 0 ? 0.0 : 2.0 / Rows;
        for (var i = 0; i < k; i++)
        {
            for (var j = i; j < k; j++)
            {
                var v = _sum[i * k + j] * scale;
                h[i * k + j] = v;
                h[j * k + i] = v;
            }
        }
        return h;
    }
}
