using System.Buffers.Binary;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Tests.Models;

public class SafetensorsFileTests
{
    [Fact]
    public void ReadsTheLlamaTestModel()
    {
        using var file = SafetensorsFile.Open(Path.Combine(TestPaths.Model("llama"), "model.safetensors"));
        Assert.Equal(74, file.Names.Count);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(26_450_304, file.Tensors.Sum(t => t.ElementCount));
        Assert.All(file.Tensors, t => Assert.Equal(TensorDType.F16, t.DType));

        Assert.True(file.TryGetTensor("model.embed_tokens.weight", out var embed));
        Assert.Equal([32000L, 384L], embed.Shape);
        Assert.Equal(32000L * 384 * 2, embed.Data.Length);

        // First four fp16 values of the first RMSNorm weight, read with Python's struct module.
        Assert.True(file.TryGetTensor("model.layers.0.input_layernorm.weight", out var norm));
        Assert.Equal(Convert.FromHexString("f63b053cb33bf33b"), norm.Data[..8].ToArray());
        Assert.False(file.TryGetTensor("lm_head.weight", out _));
    }

    [Fact]
    public void WriterRoundTripsTensorsAndMetadata()
    {
        using var temp = new TempDirectory();
        var path = temp.File("model.safetensors");
        var tensors = SafetensorsTestFiles.SmallSet();
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(tensors.Select(t => t.Name), file.Names);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("ünïcode", file.Metadata["note"]);
        foreach (var expected in tensors)
        {
            Assert.True(file.TryGetTensor(expected.Name, out var actual));
            Assert.Equal(expected.DType, actual.DType);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Data.Length, actual.ByteLength);
            Assert.Equal(expected.Data.ToArray(), actual.Data.ToArray());
            Assert.Equal(path, actual.FilePath);
        }

        // The data section starts 8-byte aligned, as Hugging Face's writer leaves it.
        var prefix = File.ReadAllBytes(path).AsSpan(0, 8);
        Assert.Equal(0UL, (8 + BinaryPrimitives.ReadUInt64LittleEndian(prefix)) % 8);
    }

    [Fact]
    public void WriterReplacesTheTargetAndLeavesNoTemporaryFile()
    {
        using var temp = new TempDirectory();
        var path = temp.File("out.safetensors");
        File.WriteAllText(path, "old content");
        SafetensorsWriter.Write(path, [SafetensorsTestFiles.Patterned("a", TensorDType.U8, [3], 9)]);

        Assert.Equal([path], Directory.GetFiles(temp.Path));
        using var file = SafetensorsFile.Open(path);
        Assert.True(file.TryGetTensor("a", out var a));
        Assert.Equal(new byte[] { 9, 10, 11 }, a.Data.ToArray());
    }

    [Fact]
    public void WriterRejectsInconsistentTensorsWithoutTouchingTheTarget()
    {
        using var temp = new TempDirectory();
        var path = temp.File("out.safetensors");
        File.WriteAllText(path, "previous checkpoint");

        var wrongSize = new SafetensorsTensor("w", TensorDType.F16, [2, 2], new byte[7]);
        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [wrongSize]));
        Assert.Contains("tensor 'w': 7 bytes given but shape [2, 2] × F16 needs 8", error.Message);

        var duplicate = SafetensorsTestFiles.Patterned("d", TensorDType.U8, [1], 0);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [duplicate, duplicate]));

        Assert.Equal("previous checkpoint", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(temp.Path));
    }

    [Fact]
    public void WriterReportsAnUnwritableTargetAsSqueezeException()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "no-such-folder", "out.safetensors");
        var error = Assert.Throws<SqueezeException>(() => SafetensorsWriter.Write(path, [SafetensorsTestFiles.Patterned("a", TensorDType.U8, [1], 0)]));
        Assert.StartsWith(path + ": cannot write", error.Message);
    }

    [Fact]
    public void DataIsRefusedAfterDispose()
    {
        using var temp = new TempDirectory();
        var path = temp.File("m.safetensors");
        SafetensorsWriter.Write(path, SafetensorsTestFiles.SmallSet());
        var file = SafetensorsFile.Open(path);
        Assert.True(file.TryGetTensor("embed.weight", out var tensor));
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => tensor.Data.Span.ToArray());
        Assert.Throws<ObjectDisposedException>(() => file.TryGetTensor("embed.weight", out _));
    }

    // ---- malformed files: each must give a ModelFormatException naming the file (and tensor) ----

    private static ModelFormatException OpenBroken(string path)
    {
        var error = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path));
        Assert.Equal(path, error.FilePath);
        Assert.StartsWith(path + ": ", error.Message);
        return error;
    }

    [Fact]
    public void MissingFile()
    {
        using var temp = new TempDirectory();
        var error = OpenBroken(temp.File("absent.safetensors"));
        Assert.Contains("safetensors file not found", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void TruncatedBeforeTheLengthPrefixEnds(int length)
    {
        using var temp = new TempDirectory();
        var path = temp.File("short.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        var error = OpenBroken(path);
        Assert.Contains($"truncated safetensors file: {length} bytes", error.Message);
    }

    [Fact]
    public void TruncatedInsideTheData()
    {
        using var temp = new TempDirectory();
        var path = temp.File("cut.safetensors");
        SafetensorsWriter.Write(path, SafetensorsTestFiles.SmallSet());
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        var error = OpenBroken(path);
        Assert.Contains("reach past the end of the data section", error.Message);
        Assert.NotNull(error.TensorName);
    }

    [Fact]
    public void HeaderLengthBeyondTheFile()
    {
        using var temp = new TempDirectory();
        var path = SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"), "{}", lengthPrefix: 1000);
        var error = OpenBroken(path);
        Assert.Contains("header length 1000 reaches past the end of the file (10 bytes)", error.Message);
    }

    [Fact]
    public void AbsurdHeaderLength()
    {
        using var temp = new TempDirectory();
        var path = SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"), "{}", lengthPrefix: ulong.MaxValue);
        var error = OpenBroken(path);
        Assert.Contains($"header length {ulong.MaxValue} is over the 100000000-byte limit", error.Message);
    }

    [Fact]
    public void GarbageJsonHeader()
    {
        using var temp = new TempDirectory();
        var path = SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"), "{\"a\": {\"dtype\": \"F16\",, ]");
        var error = OpenBroken(path);
        Assert.Contains("safetensors header is not valid JSON", error.Message);
    }

    [Fact]
    public void InvalidUtf8Header()
    {
        using var temp = new TempDirectory();
        var path = SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"), [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}']);
        var error = OpenBroken(path);
        Assert.Contains("not valid UTF-8", error.Message);
    }

    [Fact]
    public void HeaderThatIsNotAnObject()
    {
        using var temp = new TempDirectory();
        var error = OpenBroken(SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"), "[1, 2, 3]"));
        Assert.Contains("header must be a JSON object, found an array", error.Message);
    }

    [Fact]
    public void MetadataMustBeAStringMap()
    {
        using var temp = new TempDirectory();
        var error = OpenBroken(SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"), """{"__metadata__": {"format": 5}}"""));
        Assert.Contains("'__metadata__.format' must be a string, found a number", error.Message);
    }

    public static TheoryData<string, string, string> BadEntries => new()
    {
        // header (one tensor "t" over an 8-byte data section), tensor named, expected message part
        { """{"t": {"shape": [2], "data_offsets": [0, 8]}}""", "t", "header entry has no 'dtype'" },
        { """{"t": {"dtype": "F32", "data_offsets": [0, 8]}}""", "t", "header entry has no 'shape'" },
        { """{"t": {"dtype": "F32", "shape": [2]}}""", "t", "header entry has no 'data_offsets'" },
        { """{"t": [1, 2]}""", "t", "header entry must be an object, found an array" },
        { """{"t": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}}""", "t", "'dtype' must be a string" },
        { """{"t": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}}""", "t", "unsupported dtype 'F8_E4M3' (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)" },
        { """{"t": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}""", "t", "'shape' must hold non-negative integers, found -2" },
        { """{"t": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}}""", "t", "'shape' must hold non-negative integers, found 2.5" },
        { """{"t": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}""", "t", "'shape' must be an array of integers, found a number" },
        { """{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}}""", "t", "'data_offsets' must be [begin, end], found 3 numbers" },
        { """{"t": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}""", "t", "'data_offsets' [8, 0] has begin > end" },
        { """{"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}""", "t", "'data_offsets' [0, 16] reach past the end of the data section (8 bytes)" },
        { """{"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}""", "t", "holds 8 bytes but shape [3] × F32 needs 12" },
        { """{"t": {"dtype": "F16", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}}""", "t", "overflows a 64-bit byte count" },
        { """{"a": {"dtype": "U8", "shape": [6], "data_offsets": [0, 6]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}""", "b", "bytes [4, 8) overlap tensor 'a' [0, 6)" },
        { """{"t": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "t": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}""", "t", "header lists the tensor twice" },
    };

    [Theory]
    [MemberData(nameof(BadEntries))]
    public void BadHeaderEntryNamesFileAndTensor(string header, string tensor, string expectedMessage)
    {
        using var temp = new TempDirectory();
        var path = SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"), header, new byte[8]);
        var error = OpenBroken(path);
        Assert.Equal(tensor, error.TensorName);
        Assert.StartsWith($"{path}: tensor '{tensor}': ", error.Message);
        Assert.Contains(expectedMessage, error.Message);
    }

    [Fact]
    public void ZeroSizedTensorsAndGapsAreAccepted()
    {
        using var temp = new TempDirectory();
        var path = SafetensorsTestFiles.WriteRaw(temp.File("m.safetensors"),
            """{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "z": {"dtype": "F32", "shape": [0], "data_offsets": [2, 2]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]}}""",
            [1, 2, 3, 4, 5, 6, 7, 8]);
        using var file = SafetensorsFile.Open(path);
        Assert.True(file.TryGetTensor("b", out var b));
        Assert.Equal(new byte[] { 7, 8 }, b.Data.ToArray());
        Assert.True(file.TryGetTensor("z", out var z));
        Assert.Equal(0, z.Data.Length);
    }
}
