using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// A LUT-quantized linear (SqueezeLLM, RTN and GPTQ alike) in the checkpoint layout, run by
/// <c>sn_lut_matmul</c>: W [N, K] = LUT part + optional sparse CSR part, with an optional bias.
/// The tensors are owned by the model (<see cref="DecoderWeights"/>).
/// </summary>
public sealed class LutLinear : ILinear
{
    /// <param name="bits">3 or 4.</param>
    /// <param name="qweight">I32 [K/32·bits, N].</param>
    /// <param name="lookupTable">F16 [N, 2^bits].</param>
    /// <param name="sparseRows">I32 [N + 1], or null without a sparse part (then all three are null).</param>
    /// <param name="sparseCols">I32 [nnz].</param>
    /// <param name="sparseValues">F16 [nnz].</param>
    /// <param name="bias">[N] or null.</param>
    public LutLinear(int bits, NativeTensor qweight, NativeTensor lookupTable, NativeTensor? sparseRows, NativeTensor? sparseCols,
        NativeTensor? sparseValues, NativeTensor? bias)
    {
        if (bits is not (3 or 4))
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "the LUT layout packs 3- or 4-bit codes");
        if ((sparseRows is null) != (sparseCols is null) || (sparseRows is null) != (sparseValues is null))
            throw new ArgumentException("the sparse part needs rows, cols and vals, or none of them", nameof(sparseRows));
        Bits = bits;
        QWeight = qweight;
        LookupTable = lookupTable;
        SparseRows = sparseRows;
        SparseCols = sparseCols;
        SparseValues = sparseValues;
        Bias = bias;
    }

    public int Bits { get; }
    public NativeTensor QWeight { get; }
    public NativeTensor LookupTable { get; }
    public NativeTensor? SparseRows { get; }
    public NativeTensor? SparseCols { get; }
    public NativeTensor? SparseValues { get; }
    public NativeTensor? Bias { get; }

    /// <summary>K: 32 inputs per <see cref="Bits"/> packed rows.</summary>
    public int InFeatures => (int)(QWeight.Shape[0] / Bits * 32);
    public int OutFeatures => (int)QWeight.Shape[1];

    public void Forward(NativeContext context, NativeTensor x, NativeTensor y) => Run(context, x, y, accumulate: false);

    public void ForwardAdd(NativeContext context, NativeTensor x, NativeTensor y) => Run(context, x, y, accumulate: true);

    private void Run(NativeContext context, NativeTensor x, NativeTensor y, bool accumulate) =>
        context.LutMatMul(x, QWeight, LookupTable, Bits, SparseRows, SparseCols, SparseValues, Bias, accumulate, y);
}

/// <summary>
/// The stacked product of linears that read the same input, for weights that cannot be stacked
/// into one tensor (LUT-quantized parts, each with its own LUT and sparse part): the
/// <see cref="FusedLinear.All"/> of such a stack. It runs each part into its contiguous column
/// range of a [1, ΣN] output, which only a single row allows, so it serves decode steps (T = 1);
/// prefill calls the parts directly. One kernel over the whole stack (fewer launches for q|k|v
/// and gate|up) is the GPU work of issue 6.
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
