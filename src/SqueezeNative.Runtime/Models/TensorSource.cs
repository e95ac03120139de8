using System.Diagnostics.CodeAnalysis;

namespace SqueezeNative.Runtime.Models;

/// <summary>Element types that can appear in a safetensors file.</summary>
public enum TensorDType
{
    F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool,
}

/// <summary>
/// One tensor of a checkpoint: name, dtype, shape and where its bytes live. The bytes are
/// borrowed from the source (memory-mapped) and valid until the source is disposed.
/// </summary>
public sealed class TensorRef
{
    public required string Name { get; init; }
    public required TensorDType DType { get; init; }
    public required long[] Shape { get; init; }
    /// <summary>The file holding the tensor (for error messages).</summary>
    public required string FilePath { get; init; }
    /// <summary>Byte length of the data (= product(shape) × dtype size, validated).</summary>
    public required long ByteLength { get; init; }

    /// <summary>Returns a span over the tensor bytes; valid while the source is open.</summary>
    public required Func<TensorRef, ReadOnlyMemory<byte>> DataAccessor { private get; init; }

    /// <summary>
    /// Set when this is the logical weight [N, K] of a LUT-quantized linear read from a quantized
    /// checkpoint: the stored tensors behind it. <see cref="Data"/> then dequantizes (F16) on every
    /// access, for readers that do not know the format; the decoder uses the packed form instead.
    /// </summary>
    public IQuantizedTensor? Quantized { get; init; }

    /// <summary>The raw little-endian bytes of the tensor.</summary>
    public ReadOnlyMemory<byte> Data => DataAccessor(this);

    public long ElementCount
    {
        get { long n = 1; foreach (var d in Shape) n *= d; return n; }
    }

    public override string ToString() => $"{Name} {DType} [{string.Join(", ", Shape)}]";
}

/// <summary>
/// The stored form behind a logical tensor that a checkpoint keeps in another encoding (the
/// LUT-quantized linears of Quantization/Checkpoint). Models only carries it; the decoder that
/// understands the encoding asks for the concrete type.
/// </summary>
public interface IQuantizedTensor
{
    /// <summary>Bits per code (3 or 4 for SqueezeLLM's LUT format).</summary>
    int Bits { get; }
}

/// <summary>
/// A set of named tensors: one safetensors file, a sharded checkpoint, or an in-memory set.
/// </summary>
public interface ITensorSource : IDisposable
{
    /// <summary>The folder or file this source reads (for error messages).</summary>
    string Location { get; }

    /// <summary>All tensor names, in a stable order.</summary>
    IReadOnlyCollection<string> Names { get; }

    bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor);
}
