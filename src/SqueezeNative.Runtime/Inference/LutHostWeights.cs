using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// The stored tensors of one LUT-quantized linear W [N, K] in host memory, in the checkpoint
/// layout (squeeze_native.h, "Quantized linears"; <see cref="LutPacking"/> draws the codes): what
/// <see cref="LutLinear.Create"/> uploads. Data read from a checkpoint is borrowed (memory-mapped),
/// valid while its source is open.
/// </summary>
public sealed class LutHostWeights
{
    /// <summary>3 or 4.</summary>
    public required int Bits { get; init; }
    /// <summary>N.</summary>
    public required int OutFeatures { get; init; }
    /// <summary>K (a multiple of 32).</summary>
    public required int InFeatures { get; init; }
    /// <summary>I32 [K/32·bits, N].</summary>
    public required ReadOnlyMemory<byte> QWeight { get; init; }
    /// <summary>F16 [N, 2^bits].</summary>
    public required ReadOnlyMemory<byte> LookupTable { get; init; }
    /// <summary>I32 [N + 1]; empty without a sparse part (as are the two below).</summary>
    public ReadOnlyMemory<byte> SparseRows { get; init; }
    /// <summary>I32 [nnz].</summary>
    public ReadOnlyMemory<byte> SparseCols { get; init; }
    /// <summary>F16 [nnz].</summary>
    public ReadOnlyMemory<byte> SparseValues { get; init; }

    public long NonZeros => SparseCols.Length / sizeof(int);

    /// <summary>
    /// True when the sparse part holds entries. A stored part with nnz = 0 counts as none: a native
    /// tensor cannot be empty, and the kernel has nothing to add.
    /// </summary>
    public bool HasSparse => NonZeros > 0;

    /// <summary>The tensors of a validated checkpoint linear, borrowed.</summary>
    public static LutHostWeights From(QuantizedLinearRef linear)
    {
        ArgumentNullException.ThrowIfNull(linear);
        return new LutHostWeights
        {
            Bits = linear.Bits,
            OutFeatures = linear.OutFeatures,
            InFeatures = linear.InFeatures,
            QWeight = linear.QWeight.Data,
            LookupTable = linear.LookupTable.Data,
            SparseRows = linear.SparseRows?.Data ?? default,
            SparseCols = linear.SparseCols?.Data ?? default,
            SparseValues = linear.SparseValues?.Data ?? default,
        };
    }

    /// <summary>
    /// One linear whose output is the parts' outputs side by side (q|k|v, gate|up): W = [W_0; W_1; …]
    /// stacked along N. The codes are concatenated by columns of qweight (each row of qweight holds
    /// one packed word of every output channel), the LUT rows and sparse rows follow each other,
    /// and each part's CSR row offsets are shifted by the entries of the parts before it. Copies.
    /// </summary>
    public static LutHostWeights StackColumns(IReadOnlyList<LutHostWeights> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("a stack needs at least one part", nameof(parts));
        int bits = parts[0].Bits, k = parts[0].InFeatures;
        long n = 0, nnz = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            if (parts[i].Bits != bits || parts[i].InFeatures != k)
                throw new ArgumentException(
                    $"part {i} is {parts[i].Bits}-bit with K = {parts[i].InFeatures}; part 0 is {bits}-bit with K = {k}", nameof(parts));
            n += parts[i].OutFeatures;
            nnz += parts[i].NonZeros;
        }
        if (n > int.MaxValue || nnz > int.MaxValue)
            throw new ArgumentException($"the stack has {n} outputs and {nnz} sparse entries, more than the I32 layout indexes", nameof(parts));

        int packedRows = LutPacking.PackedRows(k, bits), lutSize = 1 << bits;
        if ((long)packedRows * n * sizeof(int) > Array.MaxLength)
            throw new ArgumentException($"the stacked codes of {n} outputs × {k} inputs exceed one host array", nameof(parts));
        var qweightBytes = new byte[(long)packedRows * n * sizeof(int)];
        var rowsBytes = new byte[nnz > 0 ? (n + 1) * sizeof(int) : 0];
        var colsBytes = new byte[nnz * sizeof(int)];
        var qweight = MemoryMarshal.Cast<byte, int>(qweightBytes.AsSpan());
        var rows = MemoryMarshal.Cast<byte, int>(rowsBytes.AsSpan());
        var cols = MemoryMarshal.Cast<byte, int>(colsBytes.AsSpan());
        var lut = new byte[n * lutSize * sizeof(short)];
        var vals = new byte[nnz * sizeof(short)];
        int column = 0, entry = 0;
        foreach (var part in parts)
        {
            int width = part.OutFeatures;
            var src = MemoryMarshal.Cast<byte, int>(part.QWeight.Span);
            for (int r = 0; r < packedRows; r++)
                src.Slice(r * width, width).CopyTo(qweight.Slice(r * (int)n + column, width));
            part.LookupTable.Span.CopyTo(lut.AsSpan(column * lutSize * sizeof(short)));
            if (nnz > 0)
            {
                if (part.HasSparse)
                {
                    var offsets = MemoryMarshal.Cast<byte, int>(part.SparseRows.Span);
                    for (int r = 0; r < width; r++) rows[column + r] = entry + offsets[r];
                    MemoryMarshal.Cast<byte, int>(part.SparseCols.Span).CopyTo(cols[entry..]);
                    part.SparseValues.Span.CopyTo(vals.AsSpan(entry * sizeof(short)));
                    entry += (int)part.NonZeros;
                }
                else
                {
                    rows.Slice(column, width).Fill(entry);   // a part without sparse entries: empty rows
                }
            }
            column += width;
        }
        if (nnz > 0) rows[(int)n] = entry;

        return new LutHostWeights
        {
            Bits = bits,
            OutFeatures = (int)n,
            InFeatures = k,
            QWeight = qweightBytes,
            LookupTable = lut,
            SparseRows = rowsBytes,
            SparseCols = colsBytes,
            SparseValues = vals,
        };
    }
}
