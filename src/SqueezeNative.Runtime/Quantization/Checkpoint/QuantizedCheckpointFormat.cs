using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Quantization.Checkpoint;

/// <summary>
/// The quantized checkpoint layout, with SqueezeLLM's tensor names and packing. For a quantized
/// linear whose Hugging Face weight is <c>P.weight</c> [N, K]:
/// <code>
/// P.qweight       I32 [K/32·bits, N]   codes packed along K (LutPacking draws the bits)
/// P.lookup_table  F16 [N, 2^bits]      per-output-row LUT, ascending
/// P.rows          I32 [N + 1]          sparse part, CSR over output rows   } only when the
/// P.cols          I32 [nnz]            column of each sparse value          } matrix has a
/// P.vals          F16 [nnz]            w − Q(0) at each removed position    } sparse part
/// P.bias                               unchanged
/// </code>
/// Every other tensor is the original's, unchanged. The folder also holds the original
/// config.json and tokenizer files and <see cref="QuantConfigFileName"/>. Weights are a sharded
/// safetensors checkpoint (<see cref="ShardedSafetensors.IndexFileName"/>): shard 1 holds the
/// tensors outside the decoder layers, shard 2 + i the tensors of layer i.
/// </summary>
public static class QuantizedCheckpointFormat
{
    public const string QuantConfigFileName = "quant_config.json";

    public const string WeightSuffix = ".weight";
    public const string QWeightSuffix = ".qweight";
    public const string LookupTableSuffix = ".lookup_table";
    public const string SparseRowsSuffix = ".rows";
    public const string SparseColsSuffix = ".cols";
    public const string SparseValuesSuffix = ".vals";

    /// <summary>Files copied from the original folder when present (configuration and tokenizer).</summary>
    public static IReadOnlyList<string> CopiedFiles { get; } =
    [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
        "special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json",
    ];

    /// <summary>"model.layers.0.mlp.up_proj.weight" → "model.layers.0.mlp.up_proj".</summary>
    public static string Prefix(string weightName)
    {
        if (!weightName.EndsWith(WeightSuffix, StringComparison.Ordinal) || weightName.Length == WeightSuffix.Length)
            throw new ArgumentException($"'{weightName}' is not a weight name ending in '{WeightSuffix}'", nameof(weightName));
        return weightName[..^WeightSuffix.Length];
    }

    /// <summary>Name of shard <paramref name="index"/> (1-based) of <paramref name="count"/>, as Hugging Face names them.</summary>
    public static string ShardFileName(int index, int count) => $"model-{index:D5}-of-{count:D5}.safetensors";

    /// <summary>
    /// The tensors that store <paramref name="data"/> under <paramref name="weightName"/>'s prefix,
    /// in the order above. LUT and sparse values are rounded to fp16 here (round to nearest even).
    /// </summary>
    public static IReadOnlyList<SafetensorsTensor> ToTensors(string weightName, QuantizedLinearData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var prefix = Prefix(weightName);
        var tensors = new List<SafetensorsTensor>(5)
        {
            new(prefix + QWeightSuffix, TensorDType.I32, [LutPacking.PackedRows(data.Cols, data.Bits), data.Rows],
                Bytes(data.PackWeight(weightName))),
            new(prefix + LookupTableSuffix, TensorDType.F16, [data.Rows, data.LutSize], Bytes(LutPacking.ToHalf(data.Lut))),
        };
        if (data.Sparse.NonZeros > 0)
        {
            tensors.Add(new(prefix + SparseRowsSuffix, TensorDType.I32, [data.Rows + 1], Bytes(data.Sparse.RowOffsets)));
            tensors.Add(new(prefix + SparseColsSuffix, TensorDType.I32, [data.Sparse.NonZeros], Bytes(data.Sparse.ColumnIndices)));
            tensors.Add(new(prefix + SparseValuesSuffix, TensorDType.F16, [data.Sparse.NonZeros], Bytes(data.Sparse.ValuesAsHalf())));
        }
        return tensors;
    }

    /// <summary>
    /// Bits stored per weight of the matrix: codes, the fp16 LUT and, when there is a sparse part,
    /// its row offsets (int32), column indices (int32) and values (fp16). Bias excluded.
    /// </summary>
    public static double BitsPerWeight(int rows, int cols, int bits, long nonZeros)
    {
        double total = (double)rows * cols * bits + (double)rows * (1 << bits) * 16;
        if (nonZeros > 0)
            total += (rows + 1) * 32.0 + nonZeros * (32.0 + 16.0);
        return total / ((double)rows * cols);
    }

    /// <summary>Little-endian bytes of an array (every platform .NET runs on is little-endian).</summary>
    internal static ReadOnlyMemory<byte> Bytes<T>(T[] values) where T : unmanaged
        => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
