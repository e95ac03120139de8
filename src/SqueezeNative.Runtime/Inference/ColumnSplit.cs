using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// Splits the output of a stacked product, y [T, ΣN] with part i in columns [off_i, off_i + N_i),
/// into one contiguous [T, N_i] tensor per part, for T &gt; 1 (prefill) where column views are not
/// contiguous. Native tensors are dense, so the split is a row gather (sn_embedding): with u the
/// greatest common divisor of the widths (the head size for q|k|v, the intermediate size for
/// gate|up), y is a table [T·ΣN/u, u] and part i's rows for token t are
/// t·ΣN/u + off_i/u + j, j &lt; N_i/u. Those row numbers depend only on t, so they are computed
/// once for the longest chunk and each call gathers with a prefix of them: one op per part,
/// activations read and written once (small beside the weights the product reads).
/// <para>
/// The cost is memory: a session keeps a [longest chunk, ΣN] scratch for the stacked output
/// (LLaMA-7B gate|up at 1024 tokens: 45 MB in F16), the price of holding one copy of the weights.
/// </para>
/// </summary>
internal sealed class ColumnSplit : IDisposable
{
    private readonly int[] _widths;
    private readonly NativeTensor[] _rows;   // I32 [maxT·N_i/u] per part

    public ColumnSplit(NativeContext context, IReadOnlyList<int> widths, int maxRows)
    {
        _widths = [.. widths];
        Unit = _widths.Aggregate(Gcd);
        Width = _widths.Sum();
        int stride = Width / Unit;
        _rows = new NativeTensor[_widths.Length];
        try
        {
            int offset = 0;
            for (int i = 0; i < _widths.Length; i++)
            {
                int perToken = _widths[i] / Unit;
                var ids = new int[(long)maxRows * perToken];
                for (int t = 0; t < maxRows; t++)
                    for (int j = 0; j < perToken; j++)
                        ids[t * perToken + j] = t * stride + offset / Unit + j;
                _rows[i] = context.FromHost<int>(NativeDType.I32, ids, ids.Length);
                offset += _widths[i];
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Columns per gathered row (u).</summary>
    public int Unit { get; }
    /// <summary>ΣN, the stacked output's width.</summary>
    public int Width { get; }
    public IReadOnlyList<int> Widths => _widths;

    /// <summary>
    /// The views one chunk of <paramref name="t"/> rows needs: the stacked output as rows of
    /// <paramref name="scratch"/> (at least [t, ΣN] elements) and the gathers into
    /// <paramref name="outputs"/> ([t, N_i] each). Kept by the caller while the chunk runs.
    /// </summary>
    public Bound Bind(NativeTensor scratch, int t, IReadOnlyList<NativeTensor> outputs) => new(this, scratch, t, outputs);

    private static int Gcd(int a, int b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    public void Dispose()
    {
        foreach (var r in _rows) r?.Dispose();
    }

    /// <summary>One chunk's views (see <see cref="Bind"/>).</summary>
    internal sealed class Bound : IDisposable
    {
        private readonly List<NativeTensor> _views = [];
        private readonly NativeTensor _table;
        private readonly (NativeTensor Rows, NativeTensor Out)[] _gathers;

        public Bound(ColumnSplit split, NativeTensor scratch, int t, IReadOnlyList<NativeTensor> outputs)
        {
            if (outputs.Count != split._widths.Length)
                throw new ArgumentException($"{outputs.Count} outputs for {split._widths.Length} parts", nameof(outputs));
            try
            {
                Stacked = Keep(scratch.View(0, t, split.Width));
                _table = Keep(scratch.View(0, (long)t * split.Width / split.Unit, split.Unit));
                _gathers = new (NativeTensor, NativeTensor)[outputs.Count];
                for (int i = 0; i < outputs.Count; i++)
                {
                    long rows = (long)t * split._widths[i] / split.Unit;
                    _gathers[i] = (Keep(split._rows[i].View(0, rows)), Keep(outputs[i].View(0, rows, split.Unit)));
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>[t, ΣN]: where the stacked product writes.</summary>
        public NativeTensor Stacked { get; }

        /// <summary>y = <paramref name="stack"/>(x) into <see cref="Stacked"/>, then each part's columns into its output.</summary>
        public void Forward(NativeContext context, ILinear stack, NativeTensor x)
        {
            stack.Forward(context, x, Stacked);
            foreach (var (rows, output) in _gathers)
                context.Embedding(_table, rows, output);
        }

        private NativeTensor Keep(NativeTensor t) { _views.Add(t); return t; }

        public void Dispose()
        {
            foreach (var v in _views) v.Dispose();
        }
    }
}
