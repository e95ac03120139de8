using System.Runtime.InteropServices;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;
using SqueezeNative.Tests.Models;
using SqueezeNative.Tests.Quantization;

namespace SqueezeNative.Tests.QuantizationPipeline;

/// <summary>The stored layout: a quantized linear written with the checkpoint's names and read back.</summary>
public sealed class CheckpointFormatTests
{
    private const string Weight = "model.layers.0.mlp.down_proj.weight";

    /// <summary>A SqueezeLLM-quantized matrix with a sparse part, as the pipeline makes them.</summary>
    private static QuantizedLinearData Quantized(int bits, int rows = 24, int cols = 96, double sparsity = 2.0)
    {
        var rng = new Random(bits * 1000 + rows);
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var mask = DenseSparseSplit.SplitMatrix(w, [], rows, cols, DenseSparseOptions.Create(sparsity, 0), Weight);
        return SqueezeLlmMatrixQuantizer.Quantize(w, [], mask.Removed, rows, cols, bits, KMeansMethod.Exact, 0, Weight);
    }

    private static QuantizedTensorSource WriteAndOpen(TempDirectory folder, QuantizedLinearData data, string name = Weight)
    {
        var file = folder.File("layer.safetensors");
        SafetensorsWriter.Write(file, QuantizedCheckpointFormat.ToTensors(name, data));
        return QuantizedTensorSource.Open(SafetensorsFile.Open(file), data.Method, data.Bits);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void PackedTensorsReadBackToTheSameCodesLutAndSparsePart(int bits)
    {
        var data = Quantized(bits);
        Assert.True(data.Sparse.NonZeros > 0);
        using var folder = new TempDirectory();
        using var source = WriteAndOpen(folder, data);

        Assert.True(source.TryGetTensor(Weight, out var weight));
        Assert.Equal(TensorDType.F16, weight.DType);
        Assert.Equal(new long[] { 24, 96 }, weight.Shape);
        var q = Assert.IsType<QuantizedLinearRef>(weight.Quantized);
        Assert.Equal(bits, q.Bits);
        Assert.Equal(new long[] { 96 / 32 * bits, 24 }, q.QWeight.Shape);
        Assert.Equal(new long[] { 24, 1 << bits }, q.LookupTable.Shape);
        Assert.Equal(data.Sparse.NonZeros, q.NonZeros);

        var back = q.Read();
        Assert.Equal(data.Codes, back.Codes);
        Assert.Equal(data.Lut, back.Lut);                         // the quantizer's LUT is fp16 already
        Assert.Equal(data.Sparse.RowOffsets, back.Sparse.RowOffsets);
        Assert.Equal(data.Sparse.ColumnIndices, back.Sparse.ColumnIndices);
        Assert.Equal(data.Sparse.Values, back.Sparse.Values);     // and so are the sparse values
        Assert.Equal(data.Dequantize(), back.Dequantize());
    }

    [Fact]
    public void LogicalWeightHidesItsStoredTensorsAndDequantizesOnRead()
    {
        var data = Quantized(4);
        using var folder = new TempDirectory();
        using var source = WriteAndOpen(folder, data);

        Assert.Equal([Weight], source.Names);
        Assert.False(source.TryGetTensor("model.layers.0.mlp.down_proj.qweight", out _));
        Assert.False(source.TryGetTensor("model.layers.0.mlp.down_proj.vals", out _));
        Assert.True(source.TryGetTensor(Weight, out var weight));
        var dense = MemoryMarshal.Cast<byte, Half>(weight.Data.Span).ToArray();
        var expected = data.Dequantize();
        Assert.Equal(expected.Length, dense.Length);
        for (var i = 0; i < dense.Length; i++)
            Assert.Equal((Half)expected[i], dense[i]);
    }

    [Fact]
    public void BitsPerWeightCountsCodesLutAndSparsePart()
    {
        // 4-bit codes + a 16-entry fp16 LUT per row of 4096: 4 + 256/4096.
        Assert.Equal(4.0625, QuantizedCheckpointFormat.BitsPerWeight(4096, 4096, 4, 0), 12);
        // + (N + 1) int32 offsets and 48 bits per sparse value.
        Assert.Equal(4.0625 + (4097 * 32.0 + 1000 * 48.0) / (4096.0 * 4096), QuantizedCheckpointFormat.BitsPerWeight(4096, 4096, 4, 1000), 12);
    }

    [Fact]
    public void LutOfAnUnsupportedWidthIsAFormatErrorNamingTheTensor()
    {
        using var folder = new TempDirectory();
        var file = folder.File("bad.safetensors");
        SafetensorsWriter.Write(file,
        [
            new("p.qweight", TensorDType.I32, [4, 8], new byte[4 * 8 * 4]),
            new("p.lookup_table", TensorDType.F16, [8, 12], new byte[8 * 12 * 2]),
        ]);
        var e = Assert.Throws<ModelFormatException>(() => QuantizedTensorSource.Open(SafetensorsFile.Open(file), QuantizationMethod.SqueezeLlm, null));
        Assert.Equal("p.lookup_table", e.TensorName);
        Assert.Contains("12 entries", e.Message);
    }

    [Fact]
    public void SparseColumnOutsideTheMatrixIsAFormatError()
    {
        using var folder = new TempDirectory();
        var file = folder.File("bad.safetensors");
        // 4-bit, K = 32, N = 2; row 1 holds a value at column 32.
        SafetensorsWriter.Write(file,
        [
            new("p.qweight", TensorDType.I32, [4, 2], new byte[4 * 2 * 4]),
            new("p.lookup_table", TensorDType.F16, [2, 16], new byte[2 * 16 * 2]),
            new("p.rows", TensorDType.I32, [3], MemoryMarshal.AsBytes(new[] { 0, 0, 1 }.AsSpan()).ToArray()),
            new("p.cols", TensorDType.I32, [1], MemoryMarshal.AsBytes(new[] { 32 }.AsSpan()).ToArray()),
            new("p.vals", TensorDType.F16, [1], new byte[2]),
        ]);
        var e = Assert.Throws<ModelFormatException>(() => QuantizedTensorSource.Open(SafetensorsFile.Open(file), QuantizationMethod.SqueezeLlm, 4));
        Assert.Equal("p.cols", e.TensorName);
        Assert.Contains("column 32", e.Message);
    }

    [Fact]
    public void WbitsThatContradictTheLutAreAFormatError()
    {
        var data = Quantized(3);
        using var folder = new TempDirectory();
        var file = folder.File("layer.safetensors");
        SafetensorsWriter.Write(file, QuantizedCheckpointFormat.ToTensors(Weight, data));
        var e = Assert.Throws<ModelFormatException>(() => QuantizedTensorSource.Open(SafetensorsFile.Open(file), QuantizationMethod.SqueezeLlm, 4));
        Assert.Contains("wbits = 4", e.Message);
    }
}

/// <summary>The output folder's life cycle without a model: locking, resuming, refusing.</summary>
public sealed class CheckpointWriterTests
{
    private static readonly Dictionary<string, string> Settings = new() { ["method"] = "rtn", ["wbits"] = "4" };

    [Fact]
    public void ASecondRunOnTheSameOutputIsRefusedWhileTheFirstWrites()
    {
        using var folder = new TempDirectory();
        var output = folder.File("q");
        var model = folder.File("model");
        using var first = QuantizedCheckpointWriter.Open(output, force: false, model, layerCount: 2, Settings);
        var e = Assert.Throws<InvalidOptionException>(() => QuantizedCheckpointWriter.Open(output, force: false, model, 2, Settings));
        Assert.Equal("--out", e.OptionName);
        Assert.Contains("another run", e.Message);
    }

    [Fact]
    public void FinishedLayersAreTakenUpAndOtherSettingsRefused()
    {
        using var folder = new TempDirectory();
        var output = folder.File("q");
        var model = folder.File("model");
        var stats = new[] { new MatrixStats("a.weight", 2, 32, 0, 4.5) };
        using (var writer = QuantizedCheckpointWriter.Open(output, force: false, model, layerCount: 3, Settings))
            writer.WriteLayer(0, [new SafetensorsTensor("a.bias", TensorDType.F32, [2], new byte[8])], stats);

        using (var resumed = QuantizedCheckpointWriter.Open(output, force: false, model, layerCount: 3, Settings))
        {
            Assert.Equal(1, resumed.FinishedLayers);
            Assert.Equal(stats, resumed.FinishedMatrices);
        }
        var other = new Dictionary<string, string>(Settings) { ["wbits"] = "3" };
        var e = Assert.Throws<InvalidOptionException>(() => QuantizedCheckpointWriter.Open(output, force: false, model, 3, other));
        Assert.Equal("--out", e.OptionName);
        Assert.Contains("wbits: 4 then, 3 now", e.Message);
    }

    [Fact]
    public void OtherSettingsStartOverWhenNoLayerWasFinished()
    {
        using var folder = new TempDirectory();
        var output = folder.File("q");
        var model = folder.File("model");
        using (QuantizedCheckpointWriter.Open(output, force: false, model, layerCount: 3, Settings)) { }
        var other = new Dictionary<string, string>(Settings) { ["wbits"] = "3" };
        using var writer = QuantizedCheckpointWriter.Open(output, force: false, model, 3, other);
        Assert.Equal(0, writer.FinishedLayers);
        Assert.Contains("\"wbits\": \"3\"", File.ReadAllText(Path.Combine(writer.PartialPath, QuantizedCheckpointWriter.ProgressFileName)));
    }
}
