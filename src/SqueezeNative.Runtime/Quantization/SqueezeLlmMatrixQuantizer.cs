using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// SqueezeLLM on one weight matrix, after the dense/sparse decision: weighted k-means of the dense
/// part (removed entries excluded, i.e. zeroed with weight 0), LUT rounded to fp16 as the
/// checkpoint stores it, then the sparse part S = w − Q(0) in fp16 at the removed entries.
/// </summary>
public static class SqueezeLlmMatrixQuantizer
{
    /// <param name="weights">W [rows, cols], row-major, rows = output channels.</param>
    /// <param name="fisher">Sensitivities, same shape (empty = uniform).</param>
    /// <param name="removed">Entries that go to the sparse part (same shape; empty = dense only),
    /// e.g. <see cref="DenseSparseMask.Removed"/>.</param>
    /// <param name="kmeansContext">Where the exact k-means runs (sn_kmeans_rows, e.g. a CUDA context);
    /// null = the managed solver. Lloyd always runs managed.</param>
    public static QuantizedLinearData Quantize(ReadOnlySpan<float> weights, ReadOnlySpan<float> fisher, ReadOnlySpan<bool> removed,
        int rows, int cols, int bits, KMeansMethod method, int seed, string? tensorName = null, NativeContext? kmeansContext = null)
    {
        var dense = kmeansContext is not null && method == KMeansMethod.Exact
            ? WeightedKMeans1D.QuantizeExactNative(kmeansContext, weights, fisher, removed, rows, cols, bits, halfPrecisionLut: true, tensorName)
            : WeightedKMeans1D.Quantize(weights, fisher, removed, rows, cols, bits, method, seed, halfPrecisionLut: true, tensorName);
        var sparse = removed.IsEmpty
            ? SparseCsr.Empty(rows, cols)
            : DenseSparseSplit.ExtractSparse(weights, removed, dense, SparseValuePrecision.Half, tensorName);
        return QuantizedLinearData.From(QuantizationMethod.SqueezeLlm, dense, sparse);
    }
}
