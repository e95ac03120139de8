using System.Diagnostics.CodeAnalysis;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// Where weight values come from when a model is put on a context: the checkpoint's bytes, or
/// seeded random values for a synthetic model of a real config's exact shape (benchmarks).
/// </summary>
public abstract class WeightSource
{
    /// <summary>The checkpoint's tensors, uploaded in their stored dtype.</summary>
    public static WeightSource Checkpoint { get; } = new CheckpointSource();

    /// <summary>Random values (uniform, fan-in scaled) made on the device; nothing is read from disk.</summary>
    public static WeightSource Synthetic(ulong seed, NativeDType dtype = NativeDType.F16) => new SyntheticSource(seed, dtype);

    /// <summary>
    /// One tensor holding <paramref name="parts"/> stacked along their first dimension (a single
    /// part is the tensor itself). All parts share dtype and trailing dimensions.
    /// </summary>
    public abstract NativeTensor Materialize(NativeContext context, IReadOnlyList<TensorRef> parts);

    protected static long[] StackedShape(IReadOnlyList<TensorRef> parts)
    {
        var first = parts[0];
        var shape = (long[])first.Shape.Clone();
        for (int i = 1; i < parts.Count; i++)
        {
            var p = parts[i];
            if (p.DType != first.DType || !p.Shape.AsSpan(1).SequenceEqual(first.Shape.AsSpan(1)))
                throw new ModelFormatException($"cannot stack {p} under {first}: dtype and trailing dimensions must match", p.FilePath, p.Name);
            shape[0] += p.Shape[0];
        }
        return shape;
    }

    private sealed class CheckpointSource : WeightSource
    {
        public override NativeTensor Materialize(NativeContext context, IReadOnlyList<TensorRef> parts)
        {
            if (parts.Count == 1) return context.FromCheckpoint(parts[0]);
            var shape = StackedShape(parts);
            var dtype = context.FromCheckpointDType(parts[0]);
            var all = context.Tensor(dtype, shape);
            try
            {
                long row = 0;
                foreach (var p in parts)
                {
                    using var rows = all.Rows(row, p.Shape[0]);
                    rows.Upload(p.Data.Span);
                    row += p.Shape[0];
                }
            }
            catch
            {
                all.Dispose();
                throw;
            }
            return all;
        }
    }

    private sealed class SyntheticSource(ulong seed, NativeDType dtype) : WeightSource
    {
        public override NativeTensor Materialize(NativeContext context, IReadOnlyList<TensorRef> parts)
        {
            var shape = StackedShape(parts);
            var t = context.Tensor(dtype, shape);
            // Uniform(-s, s) has variance s²/3: s = sqrt(3 / fan_in) keeps activations O(1)
            // through fp16 matmuls; 1-D tensors (norm weights, biases) and embeddings use s = 1.
            bool embedding = parts[0].Name.Contains("embed", StringComparison.Ordinal);
            float scale = shape.Length == 2 && !embedding ? MathF.Sqrt(3f / shape[1]) : 1f;
            context.FillRandom(t, seed ^ (ulong)StableHash(parts[0].Name), scale);
            return t;
        }

        private static long StableHash(string s)
        {
            long h = 1469598103934665603;
            foreach (var c in s) h = (h ^ c) * 1099511628211;
            return h;
        }
    }
}

/// <summary>
/// The tensors a config implies, with no data: lets the generated loader type a synthetic model
/// (shapes validated as for a checkpoint) whose values <see cref="WeightSource.Synthetic"/> makes.
/// </summary>
public sealed class SyntheticTensorSource : ITensorSource
{
    private readonly Dictionary<string, TensorRef> _tensors = new(StringComparer.Ordinal);

    public SyntheticTensorSource(IArchitecture architecture, ModelConfig config, TensorDType dtype = TensorDType.F16)
    {
        Location = $"synthetic {architecture.Info.ModelType} from {config.SourcePath}";
        foreach (var spec in architecture.DescribeTensors(config))
        {
            long n = 1;
            foreach (var d in spec.Shape) n *= d;
            _tensors[spec.Name] = new TensorRef
            {
                Name = spec.Name,
                DType = dtype,
                Shape = [.. spec.Shape],
                FilePath = Location,
                ByteLength = n * dtype.SizeInBytes(),
                DataAccessor = t => throw new InvalidOperationException($"synthetic tensor {t.Name} has no host data"),
            };
        }
    }

    public string Location { get; }
    public IReadOnlyCollection<string> Names => _tensors.Keys;
    public bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor) => _tensors.TryGetValue(name, out tensor);
    public void Dispose() { }
}
