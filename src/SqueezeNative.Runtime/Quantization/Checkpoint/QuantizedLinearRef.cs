using System.Globalization;
using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Quantization.Checkpoint;

/// <summary>
/// The stored tensors of one LUT-quantized linear W [N, K] (see <see cref="QuantizedCheckpointFormat"/>),
/// validated: dtypes, shapes that agree with each other, and a well-formed sparse part (offsets
/// non-decreasing from 0 to nnz, columns below K), so that a kernel reading them stays in bounds.
/// </summary>
public sealed class QuantizedLinearRef : IQuantizedTensor
{
    private QuantizedLinearRef(string weightName, QuantizationMethod method, int bits, int outFeatures, int inFeatures,
        TensorRef qweight, TensorRef lookupTable, TensorRef? rows, TensorRef? cols, TensorRef? values)
    {
        WeightName = weightName;
        Method = method;
        Bits = bits;
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        QWeight = qweight;
        LookupTable = lookupTable;
        SparseRows = rows;
        SparseCols = cols;
        SparseValues = values;
    }

    /// <summary>The logical weight's name, <c>P.weight</c>.</summary>
    public string WeightName { get; }

    /// <summary>What produced the codes (from quant_config.json; SqueezeLLM when it does not say).</summary>
    public QuantizationMethod Method { get; }

    public int Bits { get; }

    /// <summary>N, rows of W.</summary>
    public int OutFeatures { get; }

    /// <summary>K, columns of W (the packed dimension).</summary>
    public int InFeatures { get; }

    /// <summary>I32 [K/32·bits, N].</summary>
    public TensorRef QWeight { get; }

    /// <summary>F16 [N, 2^bits].</summary>
    public TensorRef LookupTable { get; }

    /// <summary>I32 [N + 1], or null without a sparse part.</summary>
    public TensorRef? SparseRows { get; }

    /// <summary>I32 [nnz], or null without a sparse part.</summary>
    public TensorRef? SparseCols { get; }

    /// <summary>F16 [nnz], or null without a sparse part.</summary>
    public TensorRef? SparseValues { get; }

    public bool HasSparse => SparseRows is not null;

    public long NonZeros => SparseValues?.Shape[0] ?? 0;

    /// <summary>
    /// Finds and validates the tensors of <paramref name="weightName"/> (<c>P.weight</c>) in
    /// <paramref name="source"/>: <c>P.qweight</c> and <c>P.lookup_table</c> must exist, the three
    /// sparse tensors all or none. Bits come from the LUT width (8 → 3, 16 → 4) and must equal
    /// <paramref name="expectedBits"/> when given. Throws <see cref="ModelFormatException"/>
    /// naming the file and tensor at fault.
    /// </summary>
    public static QuantizedLinearRef Open(ITensorSource source, string weightName, QuantizationMethod method, int? expectedBits)
    {
        ArgumentNullException.ThrowIfNull(source);
        var prefix = QuantizedCheckpointFormat.Prefix(weightName);
        var qweight = Find(source, prefix + QuantizedCheckpointFormat.QWeightSuffix)
            ?? throw new ModelFormatException("quantized linear has no qweight tensor", source.Location, prefix + QuantizedCheckpointFormat.QWeightSuffix);
        var lut = Find(source, prefix + QuantizedCheckpointFormat.LookupTableSuffix)
            ?? throw new ModelFormatException($"quantized linear has a qweight but no lookup_table tensor", qweight.FilePath,
                prefix + QuantizedCheckpointFormat.LookupTableSuffix);
        var rows = Find(source, prefix + QuantizedCheckpointFormat.SparseRowsSuffix);
        var cols = Find(source, prefix + QuantizedCheckpointFormat.SparseColsSuffix);
        var vals = Find(source, prefix + QuantizedCheckpointFormat.SparseValuesSuffix);

        Expect(qweight, TensorDType.I32, 2);
        Expect(lut, TensorDType.F16, 2);
        var n = qweight.Shape[1];
        if (lut.Shape[0] != n)
            throw Error(lut, $"has {lut.Shape[0]} rows but qweight has {n} output columns");
        var bits = lut.Shape[1] switch
        {
            8 => 3,
            16 => 4,
            _ => throw Error(lut, $"has {lut.Shape[1]} entries per row; a 3-bit LUT has 8 and a 4-bit LUT 16"),
        };
        if (expectedBits is { } wbits && wbits != bits)
            throw Error(lut, $"is a {bits}-bit LUT but {QuantizedCheckpointFormat.QuantConfigFileName} says wbits = {wbits}");
        if (qweight.Shape[0] % bits != 0)
            throw Error(qweight, $"has {qweight.Shape[0]} packed rows, not a multiple of {bits} ({bits} words per 32 inputs)");
        var k = qweight.Shape[0] / bits * LutPacking.GroupSize;
        if (n > int.MaxValue || k > int.MaxValue || n * k > Array.MaxLength)
            throw Error(qweight, $"describes a {n}x{k} matrix, larger than this runtime handles");

        var sparseCount = (rows is null ? 0 : 1) + (cols is null ? 0 : 1) + (vals is null ? 0 : 1);
        if (sparseCount is not (0 or 3))
            throw new ModelFormatException("the sparse part needs all of rows, cols and vals (or none)", qweight.FilePath,
                prefix + (rows is null ? QuantizedCheckpointFormat.SparseRowsSuffix : cols is null ? QuantizedCheckpointFormat.SparseColsSuffix : QuantizedCheckpointFormat.SparseValuesSuffix));
        if (rows is not null)
            ValidateSparse(rows, cols!, vals!, (int)n, (int)k);

        return new QuantizedLinearRef(weightName, method, bits, (int)n, (int)k, qweight, lut, rows, cols, vals);
    }

    /// <summary>Reads the tensors back into the quantizer's form.</summary>
    public QuantizedLinearData Read()
    {
        var lut = LutPacking.FromHalf(MemoryMarshal.Cast<byte, Half>(LookupTable.Data.Span));
        SparseCsr? sparse = null;
        if (HasSparse)
        {
            sparse = new SparseCsr(OutFeatures, InFeatures,
                MemoryMarshal.Cast<byte, int>(SparseRows!.Data.Span).ToArray(),
                MemoryMarshal.Cast<byte, int>(SparseCols!.Data.Span).ToArray(),
                LutPacking.FromHalf(MemoryMarshal.Cast<byte, Half>(SparseValues!.Data.Span)));
        }
        return QuantizedLinearData.FromPacked(Method, Bits, OutFeatures, InFeatures, MemoryMarshal.Cast<byte, int>(QWeight.Data.Span),
            lut, sparse, WeightName);
    }

    /// <summary>W as fp16 bytes [N, K] (LUT value + sparse value, summed in double and rounded once).</summary>
    public byte[] DequantizeToHalfBytes()
    {
        var dense = Read().Dequantize();
        var half = new Half[dense.Length];
        for (var i = 0; i < dense.Length; i++)
            half[i] = (Half)dense[i];
        return MemoryMarshal.AsBytes(half.AsSpan()).ToArray();
    }

    private static TensorRef? Find(ITensorSource source, string name) => source.TryGetTensor(name, out var t) ? t : null;

    private static void Expect(TensorRef tensor, TensorDType dtype, int rank)
    {
        if (tensor.DType != dtype)
            throw Error(tensor, $"has dtype {tensor.DType}; the quantized layout stores it as {dtype}");
        if (tensor.Shape.Length != rank)
            throw Error(tensor, $"has rank {tensor.Shape.Length} ([{string.Join(", ", tensor.Shape)}]); expected rank {rank}");
        foreach (var d in tensor.Shape)
        {
            if (d < 1 && rank > 1)
                throw Error(tensor, $"has an empty dimension ([{string.Join(", ", tensor.Shape)}])");
        }
    }

    private static void ValidateSparse(TensorRef rows, TensorRef cols, TensorRef vals, int n, int k)
    {
        Expect(rows, TensorDType.I32, 1);
        Expect(cols, TensorDType.I32, 1);
        Expect(vals, TensorDType.F16, 1);
        if (rows.Shape[0] != n + 1L)
            throw Error(rows, $"has {rows.Shape[0]} row offsets; a matrix of {n} rows needs {n + 1}");
        var nnz = cols.Shape[0];
        if (vals.Shape[0] != nnz)
            throw Error(vals, $"has {vals.Shape[0]} values but cols has {nnz} column indices");
        var offsets = MemoryMarshal.Cast<byte, int>(rows.Data.Span);
        if (offsets[0] != 0 || offsets[n] != nnz)
            throw Error(rows, $"must start at 0 and end at nnz = {nnz}; found {offsets[0]} .. {offsets[n]}");
        for (var r = 0; r < n; r++)
        {
            if (offsets[r + 1] < offsets[r])
                throw Error(rows, string.Create(CultureInfo.InvariantCulture, $"decreases at row {r} ({offsets[r]} then {offsets[r + 1]})"));
        }
        // Columns ascending within a row, as the writer stores them: a duplicate would be added twice.
        var columns = MemoryMarshal.Cast<byte, int>(cols.Data.Span);
        for (var r = 0; r < n; r++)
        {
            for (var j = offsets[r]; j < offsets[r + 1]; j++)
            {
                if ((uint)columns[j] >= (uint)k)
                    throw Error(cols, string.Create(CultureInfo.InvariantCulture, $"entry {j} (row {r}) is column {columns[j]}, outside [0, {k})"));
                if (j > offsets[r] && columns[j] <= columns[j - 1])
                    throw Error(cols, string.Create(CultureInfo.InvariantCulture, $"row {r}: columns are not strictly ascending at entry {j}"));
            }
        }
    }

    private static ModelFormatException Error(TensorRef tensor, string message) => new(message, tensor.FilePath, tensor.Name);
}
