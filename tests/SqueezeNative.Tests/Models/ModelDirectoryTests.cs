using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Tests.Models;

public class ModelDirectoryTests
{
    [Theory]
    [InlineData("llama", 26_450_304L, 74, 56, 52_908_680L)]
    [InlineData("mistral", 21_105_920L, 57, 42, 42_218_016L)]
    [InlineData("opt", 17_871_360L, 100, 36, 35_753_944L)]
    public void OpensTheSharedTestModels(string name, long parameters, int tensors, int quantizable, long weightBytes)
    {
        using var model = ModelDirectory.Open(TestPaths.Model(name));
        Assert.True(model.HasWeights);
        Assert.Equal(name, model.Architecture.Info.ModelType);
        Assert.Equal(parameters, model.ParameterCount);
        Assert.Equal(tensors, model.Weights!.Tensors.Count);
        Assert.Equal(quantizable, model.Weights.QuantizableLinears.Count);
        Assert.Equal([TensorDType.F16], model.CheckpointDTypes);
        Assert.Equal(weightBytes, model.WeightBytes);
        Assert.True(model.SizeOnDiskBytes > weightBytes);
        Assert.Empty(model.UnusedTensorNames);
        Assert.Equal(Path.Combine(TestPaths.Model(name), "model.safetensors"), model.WeightsPath);
        // With weights present the count from the checkpoint and from the config agree.
        Assert.Equal(parameters, model.DescribeTensors().Sum(s => s.ElementCount));
    }

    [Theory]
    [InlineData("llama-2-7b", 6_738_415_616L)]
    [InlineData("mistral-7b", 7_241_732_096L)]
    [InlineData("opt-1.3b", 1_315_758_080L)]
    public void ConfigOnlyFolderImpliesItsParameterCount(string name, long parameters)
    {
        using var model = ModelDirectory.Open(TestPaths.Config(name));
        Assert.False(model.HasWeights);
        Assert.Null(model.Weights);
        Assert.Null(model.Checkpoint);
        Assert.Null(model.WeightsPath);
        Assert.Equal(0, model.WeightBytes);
        Assert.Equal(parameters, model.ParameterCount);
    }

    // ---- a tiny synthetic LLaMA (GQA, untied head) for the failure cases ----

    private const string TinyLlamaConfig = """
        {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 12,
         "max_position_embeddings": 32, "tie_word_embeddings": false, "torch_dtype": "float16"}
        """;

    private static List<SafetensorsTensor> TinyLlamaTensors(string folder)
    {
        var config = ModelConfig.Load(Path.Combine(folder, "config.json"));
        var specs = ArchitectureRegistry.Find("llama")!.DescribeTensors(config);
        return specs.Select((s, i) => SafetensorsTestFiles.Patterned(s.Name, TensorDType.F16, s.Shape.ToArray(), i)).ToList();
    }

    private static string WriteTinyLlama(TempDirectory temp, Func<List<SafetensorsTensor>, List<SafetensorsTensor>>? edit = null)
    {
        temp.WriteText("config.json", TinyLlamaConfig);
        var tensors = TinyLlamaTensors(temp.Path);
        SafetensorsWriter.Write(temp.File("model.safetensors"), edit is null ? tensors : edit(tensors));
        return temp.Path;
    }

    [Fact]
    public void TinyLlamaLoadsWithTypedWeights()
    {
        using var temp = new TempDirectory();
        using var model = ModelDirectory.Open(WriteTinyLlama(temp));
        // embed 12×8, lm_head 12×8, norm 8; per layer q 8×8, k,v 4×8, o 8×8, gate/up 16×8, down 8×16, 2 norms of 8.
        long perLayer = 64 + 32 + 32 + 64 + 128 + 128 + 128 + 16;
        Assert.Equal(96 + 96 + 8 + 2 * perLayer, model.ParameterCount);
        Assert.Equal(14, model.Weights!.QuantizableLinears.Count);
        var kProj = model.Weights.QuantizableLinears.Single(l => l.Name == "model.layers.1.self_attn.k_proj.weight");
        Assert.Equal((4L, 8L), (kProj.OutFeatures, kProj.InFeatures));
    }

    [Fact]
    public void ShapeContradictingConfigNamesFileAndTensor()
    {
        using var temp = new TempDirectory();
        const string name = "model.layers.1.self_attn.k_proj.weight";
        var folder = WriteTinyLlama(temp, tensors => tensors
            .Select(t => t.Name == name ? SafetensorsTestFiles.Patterned(name, TensorDType.F16, [8, 8], 0) : t).ToList());
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(folder));
        Assert.Equal(temp.File("model.safetensors"), error.FilePath);
        Assert.Equal(name, error.TensorName);
        Assert.Contains("[8, 8]", error.Message);
        Assert.Contains("[4, 8]", error.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var temp = new TempDirectory();
        var folder = WriteTinyLlama(temp, tensors => tensors.Where(t => t.Name != "lm_head.weight").ToList());
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(folder));
        Assert.Equal("lm_head.weight", error.TensorName);
        Assert.Contains("model.safetensors", error.Message);
        Assert.Contains("missing", error.Message);
    }

    [Fact]
    public void IntegerWeightIsRejected()
    {
        using var temp = new TempDirectory();
        const string name = "model.norm.weight";
        var folder = WriteTinyLlama(temp, tensors => tensors
            .Select(t => t.Name == name ? SafetensorsTestFiles.Patterned(name, TensorDType.I16, [8], 0) : t).ToList());
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(folder));
        Assert.Equal(name, error.TensorName);
        Assert.Equal(temp.File("model.safetensors"), error.FilePath);
    }

    [Fact]
    public void ShardedCheckpointLoadsAndAMissingShardIsNamed()
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", TinyLlamaConfig);
        var tensors = TinyLlamaTensors(temp.Path);
        var first = tensors.Take(tensors.Count / 2).ToList();
        var second = tensors.Skip(tensors.Count / 2).ToList();
        SafetensorsWriter.Write(temp.File("model-00001-of-00002.safetensors"), first);
        SafetensorsWriter.Write(temp.File("model-00002-of-00002.safetensors"), second);
        var map = first.Select(t => $"\"{t.Name}\": \"model-00001-of-00002.safetensors\"")
            .Concat(second.Select(t => $"\"{t.Name}\": \"model-00002-of-00002.safetensors\""));
        temp.WriteText("model.safetensors.index.json", "{\"weight_map\": {" + string.Join(", ", map) + "}}");

        using (var model = ModelDirectory.Open(temp.Path))
        {
            Assert.True(model.HasWeights);
            Assert.IsType<ShardedSafetensors>(model.Checkpoint);
            Assert.Equal(tensors.Count, model.Weights!.Tensors.Count);
            Assert.Equal(new FileInfo(temp.File("model-00001-of-00002.safetensors")).Length
                + new FileInfo(temp.File("model-00002-of-00002.safetensors")).Length, model.WeightBytes);
        }

        File.Delete(temp.File("model-00002-of-00002.safetensors"));
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(temp.Path));
        Assert.Equal(temp.File("model-00002-of-00002.safetensors"), error.FilePath);
        Assert.Contains("does not exist", error.Message);
    }

    [Fact]
    public void TruncatedCheckpointIsNamed()
    {
        using var temp = new TempDirectory();
        var folder = WriteTinyLlama(temp);
        var bytes = File.ReadAllBytes(temp.File("model.safetensors"));
        File.WriteAllBytes(temp.File("model.safetensors"), bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(folder));
        Assert.Equal(temp.File("model.safetensors"), error.FilePath);
    }

    [Fact]
    public void UnknownModelTypeListsTheSupportedOnes()
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", TinyLlamaConfig.Replace("\"llama\"", "\"falcon\""));
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(temp.Path));
        Assert.Equal($"{temp.File("config.json")}: unsupported model_type 'falcon' (supported: llama, mistral, opt)", error.Message);
    }

    [Fact]
    public void EveryParsableModelTypeHasAnArchitecture()
    {
        foreach (var modelType in ModelConfig.SupportedModelTypes)
            Assert.NotNull(ArchitectureRegistry.Find(modelType));
    }

    [Fact]
    public void FolderWithoutConfigIsNotAModelDirectory()
    {
        using var temp = new TempDirectory();
        temp.WriteText("README.md", "not a model");
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(temp.Path));
        Assert.Equal($"not a model directory: {temp.Path} (no config.json)", error.Message);
    }

    [Fact]
    public void MissingFolderIsNamed()
    {
        using var temp = new TempDirectory();
        var missing = temp.File("nope");
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(missing));
        Assert.Equal($"not a model directory: {missing} (no such folder)", error.Message);
    }

    [Fact]
    public void FileInsteadOfFolderIsNamed()
    {
        using var temp = new TempDirectory();
        var file = temp.WriteText("config.json", TinyLlamaConfig);
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(file));
        Assert.StartsWith($"not a model directory: {file} (a file", error.Message);
    }

    [Fact]
    public void PickleOnlyWeightsAreRefusedNotIgnored()
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", TinyLlamaConfig);
        File.WriteAllBytes(temp.File("pytorch_model.bin"), [1, 2, 3]);
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(temp.Path));
        Assert.Equal(temp.Path, error.FilePath);
        Assert.Contains("pytorch_model.bin", error.Message);
    }

    [Fact]
    public void ShardsWithoutIndexAreRefused()
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", TinyLlamaConfig);
        SafetensorsWriter.Write(temp.File("model-00001-of-00002.safetensors"), [SafetensorsTestFiles.Patterned("x", TensorDType.F16, [2], 0)]);
        var error = Assert.Throws<ModelFormatException>(() => ModelDirectory.Open(temp.Path));
        Assert.Contains("model-00001-of-00002.safetensors but neither model.safetensors nor model.safetensors.index.json", error.Message);
    }
}
