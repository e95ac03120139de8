using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// Random LUT-quantized weights for benchmarks, where the values do not matter but the bytes and
/// the shape of the sparse part do: uniformly random codes, a sorted LUT per row drawn from
/// N(0, 0.02²) (like a real weight's k-means centroids), and a sparse part whose entries crowd
/// into a few rows, as outliers do in real weights (the kernel's load balance must cope with it).
/// </summary>
public static class SyntheticLut
{
    /// <summary>Share of rows that hold many sparse entries.</summary>
    public const double HeavyRowShare = 0.01;
    /// <summary>A heavy row holds this many times the mean entries per row, uniformly in the range.</summary>
    public const double HeavyRowMinFactor = 10, HeavyRowMaxFactor = 50;

    /// <summary>
    /// An N×K linear of <paramref name="bits"/> with round(N·K·<paramref name="sparsityPercent"/>/100)
    /// sparse entries: about <see cref="HeavyRowShare"/> of the rows get 10–50× the mean count each
    /// (at most K), the other rows share the rest at random; columns distinct and ascending per row.
    /// </summary>
    public static LutHostWeights Generate(int n, int k, int bits, double sparsityPercent, int seed)
    {
        if (bits is not (3 or 4)) throw new ArgumentOutOfRangeException(nameof(bits), bits, "3 or 4");
        if (n < 1 || k < LutPacking.GroupSize || k % LutPacking.GroupSize != 0)
            throw new ArgumentException($"an {n}x{k} weight cannot be packed: N >= 1 and K a positive multiple of {LutPacking.GroupSize}");
        if (!(sparsityPercent >= 0 && sparsityPercent < 100))
            throw new ArgumentOutOfRangeException(nameof(sparsityPercent), sparsityPercent, "a percentage in [0, 100)");
        var rng = new Random(seed);

        // Every bit pattern is a valid code in both layouts (3-bit: 32 codes fill 3 words exactly).
        var qweight = new byte[(long)LutPacking.PackedRows(k, bits) * n * sizeof(int)];
        rng.NextBytes(qweight);

        int size = 1 << bits;
        var lut = new Half[(long)n * size];
        var row = new float[size];
        for (int r = 0; r < n; r++)
        {
            for (int i = 0; i < size; i++) row[i] = (float)(Gaussian(rng) * 0.02);
            Array.Sort(row);
            for (int i = 0; i < size; i++) lut[(long)r * size + i] = (Half)row[i];
        }

        var counts = SparseRowCounts(rng, n, k, (long)Math.Round((double)n * k * sparsityPercent / 100));
        long nnz = counts.Sum(c => (long)c);
        if (nnz > int.MaxValue) throw new ArgumentException($"{nnz} sparse entries exceed the I32 layout");
        var rows = new int[nnz > 0 ? n + 1 : 0];
        var cols = new int[nnz];
        var vals = new Half[nnz];
        if (nnz > 0)
        {
            var chosen = new HashSet<int>();
            for (int r = 0, at = 0; r < n; r++)
            {
                rows[r] = at;
                chosen.Clear();
                while (chosen.Count < counts[r]) chosen.Add(rng.Next(k));
                var span = cols.AsSpan(at, counts[r]);
                chosen.CopyTo(cols, at);
                span.Sort();
                for (int j = 0; j < counts[r]; j++) vals[at + j] = (Half)(Gaussian(rng) * 0.1);
                at += counts[r];
            }
            rows[n] = (int)nnz;
        }

        return new LutHostWeights
        {
            Bits = bits,
            OutFeatures = n,
            InFeatures = k,
            QWeight = qweight,
            LookupTable = MemoryMarshal.AsBytes(lut.AsSpan()).ToArray(),
            SparseRows = MemoryMarshal.AsBytes(rows.AsSpan()).ToArray(),
            SparseCols = MemoryMarshal.AsBytes(cols.AsSpan()).ToArray(),
            SparseValues = MemoryMarshal.AsBytes(vals.AsSpan()).ToArray(),
        };
    }

    /// <summary>Entries per row (each at most <paramref name="k"/>), adding up to <paramref name="total"/> when it fits.</summary>
    private static int[] SparseRowCounts(Random rng, int n, int k, long total)
    {
        var counts = new int[n];
        total = Math.Min(total, (long)n * k);
        if (total == 0) return counts;
        double mean = (double)total / n;
        long left = total;
        int heavy = Math.Max(1, (int)Math.Round(n * HeavyRowShare));
        for (int i = 0; i < heavy && left > 0; i++)
        {
            int r = rng.Next(n);
            double factor = HeavyRowMinFactor + rng.NextDouble() * (HeavyRowMaxFactor - HeavyRowMinFactor);
            int add = (int)Math.Min(Math.Min(left, k - counts[r]), Math.Round(factor * mean));
            counts[r] += add;
            left -= add;
        }
        // The rest one entry at a time into random rows with room (any row, heavy ones included,
        // once the light ones are nearly full: only at sparsities no real model has).
        while (left > 0)
        {
            int r = rng.Next(n);
            if (counts[r] < k) { counts[r]++; left--; }
        }
        return counts;
    }

    private static double Gaussian(Random rng)
    {
        // Box–Muller; 1 − NextDouble() is in (0, 1], so the log is finite.
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>
    /// The stored tensors of a quantized checkpoint of <paramref name="config"/>'s exact shape: every
    /// quantizable linear as random <see cref="Generate"/>d weights (made once per distinct shape and
    /// shared, since only the bytes matter), every other tensor as in <see cref="SyntheticTensorSource"/>
    /// (no host data: <see cref="WeightSource.Synthetic"/> fills it on the device). Read it through
    /// <see cref="QuantizedTensorSource.Open"/> like a checkpoint folder.
    /// </summary>
    public static ITensorSource CheckpointOf(IArchitecture architecture, ModelConfig config, int bits, double sparsityPercent, int seed) =>
        new SyntheticQuantizedSource(architecture, config, bits, sparsityPercent, seed);

    private sealed class SyntheticQuantizedSource : ITensorSource
    {
        private readonly SyntheticTensorSource _dense;
        private readonly Dictionary<string, TensorRef> _stored = new(StringComparer.Ordinal);
        private readonly HashSet<string> _replaced = new(StringComparer.Ordinal);
        private readonly List<string> _names = [];

        public SyntheticQuantizedSource(IArchitecture architecture, ModelConfig config, int bits, double sparsityPercent, int seed)
        {
            _dense = new SyntheticTensorSource(architecture, config);
            Location = $"synthetic {bits}-bit {architecture.Info.ModelType} from {config.SourcePath}";
            var byShape = new Dictionary<(long N, long K), LutHostWeights>();
            foreach (var linear in architecture.LoadWeights(_dense, config).QuantizableLinears)
            {
                var key = (linear.OutFeatures, linear.InFeatures);
                if (!byShape.TryGetValue(key, out var weights))
                    byShape.Add(key, weights = Generate((int)key.OutFeatures, (int)key.InFeatures, bits, sparsityPercent, seed + byShape.Count));
                var prefix = QuantizedCheckpointFormat.Prefix(linear.Name);
                Add(prefix + QuantizedCheckpointFormat.QWeightSuffix, TensorDType.I32, [LutPacking.PackedRows(weights.InFeatures, bits), weights.OutFeatures], weights.QWeight);
                Add(prefix + QuantizedCheckpointFormat.LookupTableSuffix, TensorDType.F16, [weights.OutFeatures, 1 << bits], weights.LookupTable);
                if (weights.HasSparse)
                {
                    Add(prefix + QuantizedCheckpointFormat.SparseRowsSuffix, TensorDType.I32, [weights.OutFeatures + 1L], weights.SparseRows);
                    Add(prefix + QuantizedCheckpointFormat.SparseColsSuffix, TensorDType.I32, [weights.NonZeros], weights.SparseCols);
                    Add(prefix + QuantizedCheckpointFormat.SparseValuesSuffix, TensorDType.F16, [weights.NonZeros], weights.SparseValues);
                }
                _replaced.Add(linear.Name);
            }
            _names.InsertRange(0, _dense.Names.Where(n => !_replaced.Contains(n)));
        }

        private void Add(string name, TensorDType dtype, long[] shape, ReadOnlyMemory<byte> data)
        {
            _stored.Add(name, new TensorRef
            {
                Name = name,
                DType = dtype,
                Shape = shape,
                FilePath = Location,
                ByteLength = data.Length,
                DataAccessor = _ => data,
            });
            _names.Add(name);
        }

        public string Location { get; }
        public IReadOnlyCollection<string> Names => _names;

        public bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor)
        {
            if (_stored.TryGetValue(name, out tensor)) return true;
            if (_replaced.Contains(name)) { tensor = null; return false; }
            return _dense.TryGetTensor(name, out tensor);
        }

        public void Dispose() => _dense.Dispose();
    }
}
