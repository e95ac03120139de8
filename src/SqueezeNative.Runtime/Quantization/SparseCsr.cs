namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// The sparse part S of a dense-and-sparse matrix, in CSR over output rows (the reference's
/// <c>rows</c> [N + 1], <c>cols</c> [nnz], <c>vals</c> [nnz]). Row r holds entries
/// <c>RowOffsets[r] .. RowOffsets[r + 1]</c>, columns ascending. Values are float32 here; the
/// checkpoint stores them as fp16 (<see cref="ValuesAsHalf"/>), so a matrix meant for a checkpoint
/// is built with fp16-representable values (<see cref="SparseValuePrecision.Half"/>).
/// </summary>
public sealed class SparseCsr
{
    public SparseCsr(int rows, int cols, int[] rowOffsets, int[] columnIndices, float[] values)
    {
        ArgumentNullException.ThrowIfNull(rowOffsets);
        ArgumentNullException.ThrowIfNull(columnIndices);
        ArgumentNullException.ThrowIfNull(values);
        QuantizationArguments.CheckShape(rows, cols);
        if (rowOffsets.Length != rows + 1)
            throw new ArgumentException($"expected {rows + 1} row offsets, got {rowOffsets.Length}", nameof(rowOffsets));
        if (columnIndices.Length != values.Length)
            throw new ArgumentException("one column index per value expected", nameof(columnIndices));
        if (rowOffsets[0] != 0 || rowOffsets[rows] != values.Length)
            throw new ArgumentException("row offsets must start at 0 and end at the number of values", nameof(rowOffsets));
        for (var r = 0; r < rows; r++)
        {
            if (rowOffsets[r + 1] < rowOffsets[r])
                throw new ArgumentException($"row offsets decrease at row {r}", nameof(rowOffsets));
            for (var n = rowOffsets[r]; n < rowOffsets[r + 1]; n++)
            {
                if ((uint)columnIndices[n] >= (uint)cols || (n > rowOffsets[r] && columnIndices[n] <= columnIndices[n - 1]))
                    throw new ArgumentException($"row {r}: column indices must be ascending and below {cols}", nameof(columnIndices));
            }
        }
        Rows = rows;
        Cols = cols;
        RowOffsets = rowOffsets;
        ColumnIndices = columnIndices;
        Values = values;
    }

    /// <summary>A matrix with no entry.</summary>
    public static SparseCsr Empty(int rows, int cols) => new(rows, cols, new int[rows + 1], [], []);

    public int Rows { get; }
    public int Cols { get; }
    public int[] RowOffsets { get; }
    public int[] ColumnIndices { get; }
    public float[] Values { get; }
    public int NonZeros => Values.Length;

    /// <summary>The values as the checkpoint stores them.</summary>
    public Half[] ValuesAsHalf()
    {
        var result = new Half[Values.Length];
        for (var i = 0; i < Values.Length; i++)
            result[i] = (Half)Values[i];
        return result;
    }

    /// <summary>The value at (row, col), or null where S has no entry.</summary>
    public float? Find(int row, int col)
    {
        var index = Array.BinarySearch(ColumnIndices, RowOffsets[row], RowOffsets[row + 1] - RowOffsets[row], col);
        return index >= 0 ? Values[index] : null;
    }
}
