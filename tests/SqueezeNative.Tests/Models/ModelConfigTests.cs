using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Tests.Models;

public class ModelConfigTests
{
    /// <summary>Expected values per shared folder ("configs/x" or "models/x"), from the files and READMEs.</summary>
    private static readonly Dictionary<string, (string Type, string Class, int Hidden, int Layers, int Heads, int KvHeads, int HeadDim, int Inter, int Vocab, int MaxPos)> Expected = new()
    {
        ["configs/llama-2-7b"] = ("llama", "LlamaForCausalLM", 4096, 32, 32, 32, 128, 11008, 32000, 2048),
        ["configs/llama-2-13b"] = ("llama", "LlamaForCausalLM", 5120, 40, 40, 40, 128, 13824, 32000, 4096),
        ["configs/vicuna-7b-v1.3"] = ("llama", "LlamaForCausalLM", 4096, 32, 32, 32, 128, 11008, 32000, 2048),
        ["configs/vicuna-13b-v1.3"] = ("llama", "LlamaForCausalLM", 5120, 40, 40, 40, 128, 13824, 32000, 2048),
        ["configs/xgen-7b-8k-base"] = ("llama", "LlamaForCausalLM", 4096, 32, 32, 32, 128, 11008, 51200, 8192),
        ["configs/mistral-7b"] = ("mistral", "MistralForCausalLM", 4096, 32, 32, 8, 128, 14336, 32000, 32768),
        ["configs/opt-1.3b"] = ("opt", "OPTForCausalLM", 2048, 24, 32, 32, 64, 8192, 50272, 2048),
        ["configs/opt-2.7b"] = ("opt", "OPTForCausalLM", 2560, 32, 32, 32, 80, 10240, 50272, 2048),
        ["configs/opt-6.7b"] = ("opt", "OPTForCausalLM", 4096, 32, 32, 32, 128, 16384, 50272, 2048),
        ["configs/opt-13b"] = ("opt", "OPTForCausalLM", 5120, 40, 40, 40, 128, 20480, 50272, 2048),
        ["configs/opt-30b"] = ("opt", "OPTForCausalLM", 7168, 48, 56, 56, 128, 28672, 50272, 2048),
        ["models/llama"] = ("llama", "LlamaForCausalLM", 384, 8, 6, 6, 64, 1024, 32000, 1024),
        ["models/mistral"] = ("mistral", "MistralForCausalLM", 256, 6, 4, 2, 64, 768, 32000, 1024),
        ["models/opt"] = ("opt", "OPTForCausalLM", 256, 6, 4, 4, 64, 1024, 50272, 1024),
    };

    [Fact]
    public void EverySharedConfigParsesWithItsArchitectureAndDimensions()
    {
        var folders = new[] { "configs", "models" }
            .SelectMany(group => Directory.GetDirectories(Path.Combine(TestPaths.Shared, group))
                .Select(dir => $"{group}/{Path.GetFileName(dir)}"))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(Expected.Keys.Order(StringComparer.Ordinal), folders);

        foreach (var folder in folders)
        {
            var path = Path.Combine(TestPaths.Shared, folder, "config.json");
            var config = ModelConfig.Load(path);
            var e = Expected[folder];
            var actual = (config.ModelType, config.ArchitectureClass, config.HiddenSize, config.NumLayers, config.NumHeads,
                config.NumKvHeads, config.HeadDim, config.IntermediateSize, config.VocabSize, config.MaxPositions);
            Assert.True(e == actual, $"{folder}: expected {e}, parsed {actual}");
            Assert.Equal(path, config.SourcePath);
        }
    }

    [Fact]
    public void Transformers4LlamaConfigTakesHuggingFaceDefaults()
    {
        var config = ModelConfig.Load(Path.Combine(TestPaths.Config("llama-2-7b"), "config.json"));
        Assert.Equal(10000f, config.RopeTheta);
        Assert.Equal(1e-5f, config.NormEps);
        Assert.Null(config.SlidingWindow);
        Assert.False(config.TieWordEmbeddings);
        Assert.Equal("silu", config.HiddenAct);
        Assert.Equal("float16", config.Dtype);
        Assert.Equal(1, config.BosTokenId);
        Assert.Equal([2], config.EosTokenIds);
        Assert.Equal(0, config.PadTokenId);
        Assert.False(config.AttentionBias);
        Assert.False(config.MlpBias);
        Assert.Equal(4096, config.WordEmbedProjDim);
        Assert.Equal(4096, config.QDim);
        Assert.Equal(4096, config.KvDim);
    }

    [Fact]
    public void VicunaAndXgenAreLlamaWithTheirOwnEpsAndDtype()
    {
        var vicuna = ModelConfig.Load(Path.Combine(TestPaths.Config("vicuna-7b-v1.3"), "config.json"));
        Assert.Equal(1e-6f, vicuna.NormEps);
        var xgen = ModelConfig.Load(Path.Combine(TestPaths.Config("xgen-7b-8k-base"), "config.json"));
        Assert.Equal("float32", xgen.Dtype);
        Assert.Equal([50256], xgen.EosTokenIds);
    }

    [Fact]
    public void Mistral7bHasGqaAndSlidingWindow()
    {
        var config = ModelConfig.Load(Path.Combine(TestPaths.Config("mistral-7b"), "config.json"));
        Assert.Equal(4096, config.SlidingWindow);
        Assert.Equal(1024, config.KvDim);
        Assert.Equal("bfloat16", config.Dtype);
        Assert.Equal(10000f, config.RopeTheta);
    }

    [Fact]
    public void Transformers5ModelsReadRopeParametersAndDtype()
    {
        var llama = ModelConfig.Load(Path.Combine(TestPaths.Model("llama"), "config.json"));
        Assert.Equal(10000f, llama.RopeTheta);
        Assert.Equal("float16", llama.Dtype);
        Assert.True(llama.TieWordEmbeddings);
        Assert.Null(llama.PadTokenId);

        var mistral = ModelConfig.Load(Path.Combine(TestPaths.Model("mistral"), "config.json"));
        Assert.Equal(256, mistral.SlidingWindow);
        Assert.Equal(128, mistral.KvDim);
        Assert.False(mistral.TieWordEmbeddings);

        var opt = ModelConfig.Load(Path.Combine(TestPaths.Model("opt"), "config.json"));
        Assert.Equal("relu", opt.HiddenAct);
        Assert.Equal(0f, opt.RopeTheta);
        Assert.Equal(1026, opt.OptPositionRows);
        Assert.True(opt.EnableBias);
        Assert.True(opt.TieWordEmbeddings);
    }

    [Fact]
    public void OptTransformers4ConfigTakesDefaultsForAbsentKeys()
    {
        // opt-1.3b has neither _remove_final_layer_norm, enable_bias, tie_word_embeddings nor
        // layer_norm_elementwise_affine.
        var config = ModelConfig.Load(Path.Combine(TestPaths.Config("opt-1.3b"), "config.json"));
        Assert.False(config.RemoveFinalLayerNorm);
        Assert.True(config.EnableBias);
        Assert.True(config.TieWordEmbeddings);
        Assert.True(config.LayerNormElementwiseAffine);
        Assert.True(config.DoLayerNormBefore);
        Assert.Equal(2048, config.WordEmbedProjDim);
        Assert.Equal(1e-5f, config.NormEps);
        Assert.Equal(1, config.PadTokenId);
    }

    [Fact]
    public void MinimalLlamaConfigFillsHuggingFaceDefaults()
    {
        var config = ModelConfig.Parse("""
            {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 128, "vocab_size": 100}
            """, "mem/config.json");
        Assert.Equal(4, config.NumKvHeads);
        Assert.Equal(16, config.HeadDim);
        Assert.Equal(10000f, config.RopeTheta);
        Assert.Equal(1e-6f, config.NormEps);
        Assert.Equal(2048, config.MaxPositions);
        Assert.Equal("", config.ArchitectureClass);
        Assert.Equal("float32", config.Dtype);
        Assert.Equal("mem/config.json", config.SourcePath);
    }

    [Fact]
    public void MinimalOptConfigDerivesEmbeddingWidthFromHiddenSize()
    {
        var config = ModelConfig.Parse("""
            {"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "ffn_dim": 256, "vocab_size": 100, "enable_bias": false, "do_layer_norm_before": false}
            """, "c.json");
        Assert.Equal(64, config.WordEmbedProjDim);
        Assert.Equal(256, config.IntermediateSize);
        Assert.False(config.EnableBias);
        Assert.False(config.AttentionBias);
        Assert.False(config.DoLayerNormBefore);
    }

    [Fact]
    public void MistralSlidingWindowNullDisablesItAndAbsentDefaultsTo4096()
    {
        const string body = """ "model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100 """;
        Assert.Null(ModelConfig.Parse("{" + body + ", \"sliding_window\": null}", "c.json").SlidingWindow);
        Assert.Equal(4096, ModelConfig.Parse("{" + body + "}", "c.json").SlidingWindow);
        Assert.Equal(32, ModelConfig.Parse("{" + body + ", \"sliding_window\": 32}", "c.json").SlidingWindow);
    }

    [Fact]
    public void HeadDimKeyOverridesTheQuotient()
    {
        var config = ModelConfig.Parse("""
            {"model_type": "llama", "hidden_size": 60, "num_hidden_layers": 1, "num_attention_heads": 4,
             "head_dim": 32, "intermediate_size": 8, "vocab_size": 10}
            """, "c.json");
        Assert.Equal(32, config.HeadDim);
        Assert.Equal(128, config.QDim);
    }

    [Fact]
    public void EosTokenIdMayBeAList()
    {
        var config = ModelConfig.Parse("""
            {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
             "intermediate_size": 8, "vocab_size": 10, "eos_token_id": [2, 7]}
            """, "c.json");
        Assert.Equal([2, 7], config.EosTokenIds);
    }

    [Fact]
    public void TopLevelRopeThetaIsRead()
    {
        var config = ModelConfig.Parse("""
            {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
             "intermediate_size": 8, "vocab_size": 10, "rope_theta": 500000.0, "rope_scaling": null}
            """, "c.json");
        Assert.Equal(500000f, config.RopeTheta);
    }

    private const string ValidLlamaKeys = """
        "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
        "intermediate_size": 8, "vocab_size": 10
        """;

    public static TheoryData<string, string> BadConfigs => new()
    {
        { "{ \"model_type\": \"llama\", ", "invalid JSON" },
        { "[1, 2]", "must be a JSON object" },
        { """{"hidden_size": 64}""", "key 'model_type': required key is missing" },
        { """{"model_type": "gpt2", "hidden_size": 64}""", "unsupported model_type 'gpt2' (supported: llama, mistral, opt)" },
        { """{"model_type": 7}""", "key 'model_type': must be a string" },
        { ValidLlamaKeys.Replace("\"hidden_size\": 64", "\"hidden_size\": \"64\"").Wrap(), "key 'hidden_size': must be an integer, found a string" },
        { ValidLlamaKeys.Replace("\"hidden_size\": 64", "\"hidden_size\": 64.5").Wrap(), "key 'hidden_size': must be an integer" },
        { ValidLlamaKeys.Replace("\"vocab_size\": 10", "\"vocab_size\": 0").Wrap(), "key 'vocab_size': must be positive, found 0" },
        { ValidLlamaKeys.Replace("\"num_hidden_layers\": 1", "\"num_hidden_layers\": -3").Wrap(), "key 'num_hidden_layers': must be positive" },
        { ValidLlamaKeys.Replace("\"intermediate_size\": 8, ", "").Wrap(), "key 'intermediate_size': required key is missing" },
        { ValidLlamaKeys.Replace("\"hidden_size\": 64", "\"hidden_size\": 66").Wrap(), "key 'hidden_size': 66 is not divisible by num_attention_heads (4)" },
        { (ValidLlamaKeys + ", \"num_key_value_heads\": 3").Wrap(), "key 'num_key_value_heads': 3 must divide num_attention_heads (4)" },
        { (ValidLlamaKeys + ", \"tie_word_embeddings\": \"yes\"").Wrap(), "key 'tie_word_embeddings': must be a boolean" },
        { (ValidLlamaKeys + ", \"rms_norm_eps\": -1").Wrap(), "key 'rms_norm_eps': must be a positive number" },
        { (ValidLlamaKeys + ", \"eos_token_id\": [2, \"x\"]").Wrap(), "key 'eos_token_id': must be an integer" },
        { (ValidLlamaKeys + ", \"torch_dtype\": \"int4\"").Wrap(), "key 'torch_dtype': unknown dtype 'int4'" },
        { (ValidLlamaKeys + ", \"architectures\": \"LlamaForCausalLM\"").Wrap(), "key 'architectures': must be an array of class names" },
        { (ValidLlamaKeys + ", \"rope_parameters\": {\"rope_theta\": \"big\"}").Wrap(), "key 'rope_parameters.rope_theta': must be a number" },
        { (ValidLlamaKeys + ", \"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\": \"yarn\"}").Wrap(), "key 'rope_parameters.rope_type': RoPE scaling 'yarn' is not supported" },
        { (ValidLlamaKeys + ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}").Wrap(), "key 'rope_scaling': RoPE scaling 'linear' is not supported" },
        { """{"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10}""", "key 'ffn_dim': required key is missing" },
        { """{"model_type": "opt", "hidden_size": 60, "num_hidden_layers": 1, "num_attention_heads": 8, "ffn_dim": 8, "vocab_size": 10}""", "key 'hidden_size': 60 is not divisible by num_attention_heads (8)" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void BadConfigIsRejectedNamingFileAndKey(string json, string expectedMessage)
    {
        using var temp = new TempDirectory();
        var path = temp.WriteText("config.json", json);
        var error = Assert.Throws<ModelFormatException>(() => ModelConfig.Load(path));
        Assert.Equal(path, error.FilePath);
        Assert.StartsWith(path + ": ", error.Message);
        Assert.Contains(expectedMessage, error.Message);
    }

    [Fact]
    public void MissingConfigFileIsRejectedNamingIt()
    {
        using var temp = new TempDirectory();
        var path = temp.File("config.json");
        var error = Assert.Throws<ModelFormatException>(() => ModelConfig.Load(path));
        Assert.Equal($"{path}: config.json not found", error.Message);
    }

    [Fact]
    public void DirectoryInsteadOfConfigFileIsRejected()
    {
        using var temp = new TempDirectory();
        var error = Assert.Throws<ModelFormatException>(() => ModelConfig.Load(temp.Path));
        Assert.Contains("expected a config.json file, found a directory", error.Message);
    }
}

internal static class JsonTestText
{
    /// <summary>Wraps a list of JSON members in braces.</summary>
    public static string Wrap(this string members) => "{" + members + "}";
}
