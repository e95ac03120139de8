using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// A LUT-quantized linear (SqueezeLLM, RTN and GPTQ alike) run by <c>sn_lut_matmul</c>: W [N, K] =
/// LUT part + optional sparse CSR part, with an optional bias. The codes live in the backend's own
/// layout (<see cref="NativeContext.RepackLutCodes"/>, done once by <see cref="Create"/>), so CPU and
/// CUDA load and run the same way. Owns its tensors except the bias (the model's).
/// </summary>
public sealed class LutLinear : ILinear, IDisposable
{
    private LutLinear(int bits, int inFeatures, NativeTensor codes, NativeTensor lookupTable, NativeTensor? sparseRows,
        NativeTensor? sparseCols, NativeTensor? sparseValues, NativeTensor? bias)
    {
        Bits = bits;
        InFeatures = inFeatures;
        Codes = codes;
        LookupTable = lookupTable;
        SparseRows = sparseRows;
        SparseCols = sparseCols;
        SparseValues = sparseValues;
        Bias = bias;
    }

    /// <summary>
    /// Uploads <paramref name="weights"/> to <paramref name="context"/>, the codes repacked into its
    /// backend's layout. <paramref name="bias"/> ([N] or null) stays owned by the caller.
    /// </summary>
    public static LutLinear Create(NativeContext context, LutHostWeights weights, NativeTensor? bias)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Bits is not (3 or 4))
            throw new ArgumentOutOfRangeException(nameof(weights), weights.Bits, "the LUT layout packs 3- or 4-bit codes");
        int n = weights.OutFeatures;
        var made = new List<NativeTensor>(5);
        try
        {
            var codes = Keep(context.RepackLutCodes(weights.QWeight.Span, weights.Bits, n, weights.InFeatures));
            var lut = Keep(context.FromHost(NativeDType.F16, weights.LookupTable.Span, n, 1L << weights.Bits));
            NativeTensor? rows = null, cols = null, vals = null;
            if (weights.HasSparse)
            {
                rows = Keep(context.FromHost(NativeDType.I32, weights.SparseRows.Span, n + 1L));
                cols = Keep(context.FromHost(NativeDType.I32, weights.SparseCols.Span, weights.NonZeros));
                vals = Keep(context.FromHost(NativeDType.F16, weights.SparseValues.Span, weights.NonZeros));
            }
            return new LutLinear(weights.Bits, weights.InFeatures, codes, lut, rows, cols, vals, bias);
        }
        catch
        {
            foreach (var t in made) t.Dispose();
            throw;
        }

        NativeTensor Keep(NativeTensor t) { made.Add(t); return t; }
    }

    public int Bits { get; }
    /// <summary>The codes in the backend's layout (<see cref="NativeContext.LutRepackedShape"/>).</summary>
    public NativeTensor Codes { get; }
    /// <summary>F16 [N, 2^bits].</summary>
    public NativeTensor LookupTable { get; }
    /// <summary>I32 [N + 1], or null without a sparse part (then all three are null).</summary>
    public NativeTensor? SparseRows { get; }
    /// <summary>I32 [nnz].</summary>
    public NativeTensor? SparseCols { get; }
    /// <summary>F16 [nnz].</summary>
    public NativeTensor? SparseValues { get; }
    /// <summary>[N] or null; not owned.</summary>
    public NativeTensor? Bias { get; }

    public int InFeatures { get; }
    public int OutFeatures => (int)LookupTable.Shape[0];

    /// <summary>Bytes of the tensors this linear owns (codes as repacked, LUT, sparse part): what a product reads besides x and the bias.</summary>
    public long ByteLength => Codes.ByteLength + LookupTable.ByteLength
        + (SparseRows?.ByteLength ?? 0) + (SparseCols?.ByteLength ?? 0) + (SparseValues?.ByteLength ?? 0);

    public void Forward(NativeContext context, NativeTensor x, NativeTensor y) => Run(context, x, y, accumulate: false);

    public void ForwardAdd(NativeContext context, NativeTensor x, NativeTensor y) => Run(context, x, y, accumulate: true);

    /// <summary>
    /// For a gate|up stack (N = 2I, gate rows first): y[M, I] = silu(g)·u in one op
    /// (<see cref="NativeContext.LutMatMulSwiGlu"/>), the [M, 2I] product never written.
    /// </summary>
    public void ForwardSwiGlu(NativeContext context, NativeTensor x, NativeTensor y) =>
        context.LutMatMulSwiGlu(x, Codes, LookupTable, Bits, SparseRows, SparseCols, SparseValues, Bias, y);

    private void Run(NativeContext context, NativeTensor x, NativeTensor y, bool accumulate) =>
        context.LutMatMul(x, Codes, LookupTable, Bits, SparseRows, SparseCols, SparseValues, Bias, accumulate, y);

    public void Dispose()
    {
        Codes.Dispose();
        LookupTable.Dispose();
        SparseRows?.Dispose();
        SparseCols?.Dispose();
        SparseValues?.Dispose();
    }
}

/// <summary>
/// The stacked product of linears that read the same input, for parts that cannot be stacked
/// into one weight: the <see cref="FusedLinear.All"/> of a stack whose parts differ in kind (LUT
/// parts of different bit widths, LUT beside dense) or must stay separate (a wrapped linear per
/// part). It runs each part into its contiguous column range of a [1, ΣN] output, which only a
/// single row allows, so it serves decode steps (T = 1); prefill calls the parts directly. LUT
/// parts of one bit width are stacked into one <see cref="LutLinear"/> instead (one launch).
/// <para>
/// The column views must outlive a recorded decode graph, which replays them, so they are made
/// once per output tensor and kept until that tensor is closed (its session was disposed) or the
/// model is disposed. Sessions on several threads share one instance: the cache is locked.
/// </para>
/// </summary>
public sealed class ColumnStackedLinear : ILinear, IDisposable
{
    private readonly ILinear[] _parts;
    private readonly int[] _offsets;
    private readonly List<(NativeTensor Output, NativeTensor[] Views)> _views = [];
    private bool _disposed;

    public ColumnStackedLinear(IReadOnlyList<ILinear> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
            throw new ArgumentException("a stack needs at least one part", nameof(parts));
        _parts = [.. parts];
        _offsets = new int[parts.Count];
        for (int i = 0; i < parts.Count; i++)
        {
            if (parts[i].InFeatures != parts[0].InFeatures)
                throw new ArgumentException($"part {i} reads {parts[i].InFeatures} inputs, part 0 reads {parts[0].InFeatures}", nameof(parts));
            _offsets[i] = OutFeatures;
            OutFeatures += parts[i].OutFeatures;
        }
    }

    public int InFeatures => _parts[0].InFeatures;
    public int OutFeatures { get; }

    public void Forward(NativeContext context, NativeTensor x, NativeTensor y)
    {
        var views = ColumnViews(y);
        for (int i = 0; i < _parts.Length; i++)
            _parts[i].Forward(context, x, views[i]);
    }

    public void ForwardAdd(NativeContext context, NativeTensor x, NativeTensor y)
    {
        var views = ColumnViews(y);
        for (int i = 0; i < _parts.Length; i++)
            _parts[i].ForwardAdd(context, x, views[i]);
    }

    private NativeTensor[] ColumnViews(NativeTensor y)
    {
        if (y.Shape.Length != 2 || y.Shape[0] != 1 || y.Shape[1] != OutFeatures)
            throw new InvalidOperationException(
                $"a column-stacked product writes one row [1, {OutFeatures}]; got [{string.Join(", ", y.Shape)}] (prefill runs the parts)");
        lock (_views)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var (output, views) in _views)
                if (ReferenceEquals(output, y)) return views;

            // Views of closed outputs belong to disposed sessions (and graphs): release them now.
            for (int i = _views.Count - 1; i >= 0; i--)
            {
                if (_views[i].Output.Handle.IsClosed)
                {
                    foreach (var v in _views[i].Views) v.Dispose();
                    _views.RemoveAt(i);
                }
            }
            var made = new NativeTensor[_parts.Length];
            try
            {
                for (int i = 0; i < _parts.Length; i++)
                    made[i] = y.View(_offsets[i], 1, _parts[i].OutFeatures);
            }
            catch
            {
                foreach (var v in made) v?.Dispose();
                throw;
            }
            _views.Add((y, made));
            return made;
        }
    }

    public void Dispose()
    {
        lock (_views)
        {
            _disposed = true;
            foreach (var (_, views) in _views)
                foreach (var v in views) v.Dispose();
            _views.Clear();
        }
    }
}
