using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Tests.Models;

public class ShardedSafetensorsTests
{
    private const string Shard1 = "model-00001-of-00002.safetensors";
    private const string Shard2 = "model-00002-of-00002.safetensors";

    /// <summary>Two shards: a, b in the first; c in the second.</summary>
    private static string WriteTwoShards(TempDirectory temp, string? indexText = null)
    {
        SafetensorsWriter.Write(temp.File(Shard1),
        [
            SafetensorsTestFiles.Patterned("a", TensorDType.F16, [2, 3], 1),
            SafetensorsTestFiles.Patterned("b", TensorDType.F32, [3], 2),
        ]);
        SafetensorsWriter.Write(temp.File(Shard2), [SafetensorsTestFiles.Patterned("c", TensorDType.I32, [4], 3)]);
        return temp.WriteText(ShardedSafetensors.IndexFileName, indexText ?? $$$"""
            {"metadata": {"total_size": 40},
             "weight_map": {"a": "{{{Shard1}}}", "b": "{{{Shard1}}}", "c": "{{{Shard2}}}"}}
            """);
    }

    [Fact]
    public void ReadsTensorsFromEveryShardOpeningEachOnce()
    {
        using var temp = new TempDirectory();
        var index = WriteTwoShards(temp);
        using var sharded = ShardedSafetensors.Open(index);
        Assert.Equal(["a", "b", "c"], sharded.Names);
        Assert.Equal(2, sharded.Shards.Count);
        Assert.Equal(index, sharded.Location);

        Assert.True(sharded.TryGetTensor("c", out var c));
        Assert.Equal(temp.File(Shard2), c.FilePath);
        Assert.Equal(SafetensorsTestFiles.Patterned("c", TensorDType.I32, [4], 3).Data.ToArray(), c.Data.ToArray());
        Assert.True(sharded.TryGetTensor("a", out var a));
        Assert.Equal([2L, 3L], a.Shape);
    }

    [Fact]
    public void MissingShardFileIsNamed()
    {
        using var temp = new TempDirectory();
        var index = WriteTwoShards(temp);
        File.Delete(temp.File(Shard2));
        var error = Assert.Throws<ModelFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal(temp.File(Shard2), error.FilePath);
        Assert.Equal("c", error.TensorName);
        Assert.Contains($"shard '{Shard2}' listed in model.safetensors.index.json does not exist", error.Message);
    }

    [Fact]
    public void TensorMissingFromItsShardIsNamed()
    {
        using var temp = new TempDirectory();
        var index = WriteTwoShards(temp, $$$"""{"weight_map": {"a": "{{{Shard1}}}", "c": "{{{Shard1}}}"}}""");
        var error = Assert.Throws<ModelFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal(temp.File(Shard1), error.FilePath);
        Assert.Equal("c", error.TensorName);
        Assert.Contains("the shard does not hold it", error.Message);
    }

    [Fact]
    public void CorruptShardIsNamed()
    {
        using var temp = new TempDirectory();
        var index = WriteTwoShards(temp);
        File.WriteAllBytes(temp.File(Shard2), [1, 2, 3]);
        var error = Assert.Throws<ModelFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal(temp.File(Shard2), error.FilePath);
        Assert.Contains("truncated", error.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\": ", "index is not valid JSON")]
    [InlineData("{\"metadata\": {}}", "index has no 'weight_map' object")]
    [InlineData("{\"weight_map\": {}}", "'weight_map' is empty")]
    [InlineData("{\"weight_map\": {\"a\": 3}}", "'weight_map' value must be a shard file name, found a number")]
    [InlineData("{\"weight_map\": {\"a\": \"../outside.safetensors\"}}", "which is not a file name in the model folder")]
    [InlineData("{\"weight_map\": {\"a\": \"/etc/passwd\"}}", "which is not a file name in the model folder")]
    public void MalformedIndexIsNamed(string indexText, string expectedMessage)
    {
        using var temp = new TempDirectory();
        var index = WriteTwoShards(temp, indexText);
        var error = Assert.Throws<ModelFormatException>(() => ShardedSafetensors.Open(index));
        Assert.Equal(index, error.FilePath);
        Assert.Contains(expectedMessage, error.Message);
    }
}
