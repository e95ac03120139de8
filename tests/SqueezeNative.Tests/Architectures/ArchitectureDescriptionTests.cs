using System.Runtime.CompilerServices;
using System.Text.Json;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Tests.Architectures;

/// <summary>
/// The three real descriptions, through the code the generator made from them: parameter counts
/// of real configs, loading the test checkpoints in ../shared/models, and the errors a broken
/// checkpoint gets. Configs are built by hand so that these tests do not depend on the
/// config.json parser.
/// </summary>
public sealed class ArchitectureDescriptionTests
{
    // ---- configs ---------------------------------------------------------------------------

    /// <summary>../shared/models/llama/config.json.</summary>
    private static ModelConfig TestLlama() => new()
    {
        ModelType = "llama", HiddenSize = 384, NumLayers = 8, NumHeads = 6, NumKvHeads = 6, HeadDim = 64,
        IntermediateSize = 1024, VocabSize = 32000, MaxPositions = 1024, TieWordEmbeddings = true,
    };

    /// <summary>../shared/models/mistral/config.json.</summary>
    private static ModelConfig TestMistral() => new()
    {
        ModelType = "mistral", HiddenSize = 256, NumLayers = 6, NumHeads = 4, NumKvHeads = 2, HeadDim = 64,
        IntermediateSize = 768, VocabSize = 32000, MaxPositions = 1024, SlidingWindow = 256, TieWordEmbeddings = false,
    };

    /// <summary>../shared/models/opt/config.json.</summary>
    private static ModelConfig TestOpt() => new()
    {
        ModelType = "opt", HiddenSize = 256, NumLayers = 6, NumHeads = 4, NumKvHeads = 4, HeadDim = 64,
        IntermediateSize = 1024, VocabSize = 50272, MaxPositions = 1024, WordEmbedProjDim = 256, TieWordEmbeddings = true,
        HiddenAct = "relu",
    };

    /// <summary>../shared/configs/llama-2-7b/config.json.</summary>
    private static ModelConfig Llama2_7B() => new()
    {
        ModelType = "llama", HiddenSize = 4096, NumLayers = 32, NumHeads = 32, NumKvHeads = 32, HeadDim = 128,
        IntermediateSize = 11008, VocabSize = 32000, MaxPositions = 2048, TieWordEmbeddings = false,
    };

    /// <summary>../shared/configs/mistral-7b/config.json.</summary>
    private static ModelConfig Mistral7B() => new()
    {
        ModelType = "mistral", HiddenSize = 4096, NumLayers = 32, NumHeads = 32, NumKvHeads = 8, HeadDim = 128,
        IntermediateSize = 14336, VocabSize = 32000, MaxPositions = 32768, SlidingWindow = 4096, TieWordEmbeddings = false,
    };

    /// <summary>../shared/configs/opt-1.3b/config.json (tie_word_embeddings defaults to true for OPT).</summary>
    private static ModelConfig Opt1_3B() => new()
    {
        ModelType = "opt", HiddenSize = 2048, NumLayers = 24, NumHeads = 32, NumKvHeads = 32, HeadDim = 64,
        IntermediateSize = 8192, VocabSize = 50272, MaxPositions = 2048, WordEmbedProjDim = 2048, TieWordEmbeddings = true,
    };

    /// <summary>facebook/opt-350m: post-norm, 512-wide embeddings with project_in/project_out.</summary>
    private static ModelConfig Opt350M() => new()
    {
        ModelType = "opt", HiddenSize = 1024, NumLayers = 24, NumHeads = 16, NumKvHeads = 16, HeadDim = 64,
        IntermediateSize = 4096, VocabSize = 50272, MaxPositions = 2048, WordEmbedProjDim = 512, TieWordEmbeddings = true,
        DoLayerNormBefore = false,
    };

    // ---- DescribeTensors -------------------------------------------------------------------

    public static TheoryData<string, long, int> ParameterCounts => new()
    {
        // The counts of the test models' README.md files and of the published models.
        { nameof(TestLlama), 26_450_304, 74 },
        { nameof(TestMistral), 21_105_920, 57 },
        { nameof(TestOpt), 17_871_360, 100 },
        { nameof(Llama2_7B), 6_738_415_616, 291 },
        { nameof(Mistral7B), 7_241_732_096, 291 },
        { nameof(Opt1_3B), 1_315_758_080, 388 },
        { nameof(Opt350M), 331_196_416, 388 },
    };

    [Theory]
    [MemberData(nameof(ParameterCounts))]
    public void DescribeTensorsCountsThePublishedParameters(string configName, long parameters, int tensorCount)
    {
        var config = Config(configName);
        var specs = ArchitectureRegistry.Resolve(config).DescribeTensors(config);

        Assert.Equal(parameters, specs.Sum(spec => spec.ElementCount));
        Assert.Equal(tensorCount, specs.Count);
        Assert.Equal(specs.Count, specs.Select(spec => spec.Name).Distinct().Count());
    }

    [Fact]
    public void DescribeTensorsGivesGqaShapesAndQuantizableLinears()
    {
        var specs = ArchitectureRegistry.Resolve(Mistral7B()).DescribeTensors(Mistral7B());

        var kProj = specs.Single(spec => spec.Name == "model.layers.31.self_attn.k_proj.weight");
        Assert.Equal([1024L, 4096L], kProj.Shape);
        Assert.Equal(("KProj", 31, true), (kProj.Role, kProj.Layer, kProj.Quantizable));
        Assert.Equal(32 * 7, specs.Count(spec => spec.Quantizable));
        Assert.Equal(
            ["QProj", "KProj", "VProj", "OProj", "GateProj", "UpProj", "DownProj"],
            specs.Where(spec => spec.Quantizable && spec.Layer == 0).Select(spec => spec.Role));
        var lmHead = specs.Single(spec => spec.Name == "lm_head.weight");
        Assert.Equal((null, false), (lmHead.Layer, lmHead.Quantizable));
    }

    [Fact]
    public void OptPostNormConfigHasProjectionsAndNoFinalNorm()
    {
        var specs = ArchitectureRegistry.Resolve(Opt350M()).DescribeTensors(Opt350M());
        var names = specs.Select(spec => spec.Name).ToHashSet();

        Assert.Equal([1024L, 512L], specs.Single(spec => spec.Name == "model.decoder.project_in.weight").Shape);
        Assert.Equal([512L, 1024L], specs.Single(spec => spec.Name == "model.decoder.project_out.weight").Shape);
        Assert.Equal([2050L, 1024L], specs.Single(spec => spec.Name == "model.decoder.embed_positions.weight").Shape);
        Assert.DoesNotContain("model.decoder.final_layer_norm.weight", names);
        Assert.DoesNotContain("lm_head.weight", names);
        Assert.Contains("model.decoder.layers.23.final_layer_norm.bias", names);
        Assert.Equal(
            ["QProj", "KProj", "VProj", "OutProj", "Fc1", "Fc2"],
            specs.Where(spec => spec.Quantizable && spec.Layer == 0).Select(spec => spec.Role));
    }

    [Fact]
    public void LlamaBiasesFollowTheConfig()
    {
        var config = new ModelConfig
        {
            ModelType = "llama", HiddenSize = 64, NumLayers = 1, NumHeads = 4, NumKvHeads = 2, HeadDim = 16,
            IntermediateSize = 128, VocabSize = 100, MaxPositions = 32, AttentionBias = true, MlpBias = false,
        };

        var roles = ArchitectureRegistry.Resolve(config).DescribeTensors(config).Select(spec => spec.Role).ToList();

        Assert.Contains("QProjBias", roles);
        Assert.Contains("OProjBias", roles);
        Assert.DoesNotContain("GateProjBias", roles);
        Assert.Contains("LmHead", roles);
    }

    [Fact]
    public void InconsistentConfigIsAConfigError()
    {
        var config = new ModelConfig
        {
            ModelType = "llama", SourcePath = "/models/broken/config.json", HiddenSize = 64, NumLayers = 2, NumHeads = 4,
            NumKvHeads = 0, HeadDim = 16, IntermediateSize = 128, VocabSize = 100, MaxPositions = 32,
        };

        var error = Assert.Throws<ModelFormatException>(() => ArchitectureRegistry.Resolve(config).DescribeTensors(config));

        Assert.Equal("/models/broken/config.json", error.FilePath);
        Assert.Equal("model.layers.{layer}.self_attn.k_proj.weight", error.TensorName);
        Assert.Contains("[KvDim, HiddenSize] evaluates to [0, 64]", error.Message);
    }

    // ---- registry and traits ---------------------------------------------------------------

    [Fact]
    public void RegistryListsTheThreeArchitectures()
    {
        Assert.Equal(["llama", "mistral", "opt"], ArchitectureRegistry.All.Select(a => a.Info.ModelType));
        Assert.Same(LlamaArchitecture.Instance, ArchitectureRegistry.Find("llama"));
        Assert.Same(OptArchitecture.Instance, ArchitectureRegistry.Find("OPT"));
        Assert.Null(ArchitectureRegistry.Find("gpt2"));

        var unknown = new ModelConfig
        {
            ModelType = "gpt2", SourcePath = "/models/gpt2/config.json", HiddenSize = 1, NumLayers = 1, NumHeads = 1,
            NumKvHeads = 1, HeadDim = 1, IntermediateSize = 1, VocabSize = 1, MaxPositions = 1,
        };
        var error = Assert.Throws<ModelFormatException>(() => ArchitectureRegistry.Resolve(unknown));
        Assert.Equal("/models/gpt2/config.json: unsupported model_type 'gpt2'; supported: llama, mistral, opt", error.Message);
    }

    [Fact]
    public void TraitsAreThoseOfTheDescriptions()
    {
        var llama = LlamaArchitecture.Instance.Info;
        var mistral = MistralArchitecture.Instance.Info;
        var opt = OptArchitecture.Instance.Info;

        Assert.Equal((NormKind.RmsNorm, ActivationKind.SiLU, MlpKind.Gated, PositionalKind.Rope, AttentionKind.GroupedQuery, false),
            (llama.Norm, llama.Activation, llama.Mlp, llama.Positional, llama.Attention, llama.SlidingWindow));
        Assert.Equal(["LlamaForCausalLM"], llama.HfClasses);
        Assert.True(mistral.SlidingWindow);
        Assert.Equal(BiasSites.None, mistral.Biases);
        Assert.Equal((NormKind.LayerNorm, ActivationKind.ReLU, MlpKind.TwoLayer, PositionalKind.Learned, 2, AttentionKind.MultiHead),
            (opt.Norm, opt.Activation, opt.Mlp, opt.Positional, opt.PositionOffset, opt.Attention));
        Assert.Equal(BiasSites.AttentionProjections | BiasSites.MlpProjections | BiasSites.Norms, opt.Biases);
        Assert.True(llama.TiedEmbeddings && mistral.TiedEmbeddings && opt.TiedEmbeddings);
    }

    // ---- loading the test checkpoints ------------------------------------------------------

    [Theory]
    [InlineData("llama", nameof(TestLlama), 8 * 7, true)]
    [InlineData("mistral", nameof(TestMistral), 6 * 7, false)]
    [InlineData("opt", nameof(TestOpt), 6 * 6, true)]
    public void LoadsEveryTensorOfTheTestCheckpoint(string model, string configName, int linears, bool tied)
    {
        using var source = HeaderOnlySource.Open(Path.Combine(SharedDirectory, "models", model, "model.safetensors"));
        var config = Config(configName);

        var weights = ArchitectureRegistry.Resolve(config).LoadWeights(source, config);

        // Every tensor of the file is claimed by the description, and nothing else is expected.
        Assert.Equal(source.Names.Order(StringComparer.Ordinal), weights.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal(config.NumLayers, weights.LayerCount);
        Assert.Equal(linears, weights.QuantizableLinears.Count);
        Assert.All(weights.QuantizableLinears, linear => Assert.Equal([linear.OutFeatures, linear.InFeatures], linear.Weight.Shape));
        Assert.Equal(ArchitectureRegistry.Resolve(config).DescribeTensors(config).Sum(s => s.ElementCount), weights.Tensors.Sum(t => t.ElementCount));

        switch (weights)
        {
            case LlamaModelWeights llama:
                Assert.Equal(tied, llama.LmHeadIsTied);
                Assert.Same(llama.EmbedTokens, llama.LmHead);
                Assert.Null(llama.Layers[3].QProjBias);
                Assert.Equal("model.layers.3.mlp.down_proj.weight", llama.Layers[3].DownProj.Name);
                break;
            case MistralModelWeights mistral:
                Assert.Equal(tied, mistral.LmHeadIsTied);
                Assert.Equal("lm_head.weight", mistral.LmHead.Name);
                Assert.Equal([128L, 256L], mistral.Layers[5].KProj.Shape);
                var linear = mistral.QuantizableLinears[8];
                Assert.Equal((1, "KProj", "model.layers.1.self_attn.k_proj.weight", 128L, 256L),
                    (linear.Layer, linear.Role, linear.Name, linear.OutFeatures, linear.InFeatures));
                break;
            case OptModelWeights opt:
                Assert.Equal(tied, opt.LmHeadIsTied);
                Assert.Equal([1026L, 256L], opt.EmbedPositions.Shape);
                Assert.NotNull(opt.FinalLayerNorm);
                Assert.Null(opt.ProjectIn);
                Assert.NotNull(opt.Layers[0].OutProjBias);
                break;
            default:
                Assert.Fail($"unexpected weights type {weights.GetType()}");
                break;
        }
    }

    [Fact]
    public void MissingTensorNamesTheTensorAndTheCheckpoint()
    {
        using var full = HeaderOnlySource.Open(Path.Combine(SharedDirectory, "models", "llama", "model.safetensors"));
        using var source = full.Without("model.layers.5.mlp.up_proj.weight");

        var error = Assert.Throws<ModelFormatException>(() => LlamaModelWeights.Load(source, TestLlama()));

        Assert.Equal("model.layers.5.mlp.up_proj.weight", error.TensorName);
        Assert.Equal(source.Location, error.FilePath);
        Assert.Contains("required tensor is missing (expected shape [IntermediateSize, HiddenSize] = [1024, 384]", error.Message);
    }

    [Fact]
    public void ShapeThatContradictsTheConfigNamesFileTensorAndBothShapes()
    {
        using var source = HeaderOnlySource.Open(Path.Combine(SharedDirectory, "models", "mistral", "model.safetensors"));
        // A config that claims as many KV heads as heads: the checkpoint's k_proj is half as wide.
        var config = new ModelConfig
        {
            ModelType = "mistral", SourcePath = "/models/mistral/config.json", HiddenSize = 256, NumLayers = 6, NumHeads = 4,
            NumKvHeads = 4, HeadDim = 64, IntermediateSize = 768, VocabSize = 32000, MaxPositions = 1024,
        };

        var error = Assert.Throws<ModelFormatException>(() => MistralModelWeights.Load(source, config));

        Assert.Equal("model.layers.0.self_attn.k_proj.weight", error.TensorName);
        Assert.Equal(source.Location, error.FilePath);
        Assert.EndsWith("shape [128, 256] does not match config.json (/models/mistral/config.json): expected [KvDim, HiddenSize] = [256, 256]", error.Message);
    }

    [Fact]
    public void NonFloatWeightIsRejected()
    {
        using var full = HeaderOnlySource.Open(Path.Combine(SharedDirectory, "models", "opt", "model.safetensors"));
        using var source = full.WithDType("model.decoder.layers.2.fc1.weight", TensorDType.I8);

        var error = Assert.Throws<ModelFormatException>(() => OptModelWeights.Load(source, TestOpt()));

        Assert.Equal("model.decoder.layers.2.fc1.weight", error.TensorName);
        Assert.Contains("dtype I8 is not a floating-point weight type", error.Message);
    }

    // ---- helpers ---------------------------------------------------------------------------

    private static ModelConfig Config(string name) => name switch
    {
        nameof(TestLlama) => TestLlama(),
        nameof(TestMistral) => TestMistral(),
        nameof(TestOpt) => TestOpt(),
        nameof(Llama2_7B) => Llama2_7B(),
        nameof(Mistral7B) => Mistral7B(),
        nameof(Opt1_3B) => Opt1_3B(),
        nameof(Opt350M) => Opt350M(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such test config"),
    };

    /// <summary>$SQUEEZE_SHARED, else ../shared next to the repository.</summary>
    private static string SharedDirectory =>
        Environment.GetEnvironmentVariable("SQUEEZE_SHARED") is { Length: > 0 } shared
            ? shared
            : Path.GetFullPath(Path.Combine(ThisDirectory(), "..", "..", "..", "..", "shared"));

    private static string ThisDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    /// <summary>
    /// The tensor table of a safetensors file (its JSON header) without the data: enough to
    /// check names, shapes and dtypes, and independent of the Runtime's own reader.
    /// </summary>
    private sealed class HeaderOnlySource : ITensorSource
    {
        private readonly Dictionary<string, TensorRef> _tensors;

        private HeaderOnlySource(string location, Dictionary<string, TensorRef> tensors)
        {
            Location = location;
            _tensors = tensors;
        }

        public string Location { get; }

        public IReadOnlyCollection<string> Names => _tensors.Keys;

        public static HeaderOnlySource Open(string path)
        {
            using var stream = File.OpenRead(path);
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            var header = new byte[BitConverter.ToInt64(lengthBytes)];
            stream.ReadExactly(header);
            using var json = JsonDocument.Parse(header);
            var tensors = new Dictionary<string, TensorRef>(StringComparer.Ordinal);
            foreach (var entry in json.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                    continue;
                var offsets = entry.Value.GetProperty("data_offsets");
                tensors[entry.Name] = new TensorRef
                {
                    Name = entry.Name,
                    DType = Enum.Parse<TensorDType>(entry.Value.GetProperty("dtype").GetString()!, ignoreCase: true),
                    Shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                    FilePath = path,
                    ByteLength = offsets[1].GetInt64() - offsets[0].GetInt64(),
                    DataAccessor = _ => throw new InvalidOperationException("the header-only test source holds no tensor data"),
                };
            }
            return new HeaderOnlySource(path, tensors);
        }

        public HeaderOnlySource Without(string name) =>
            new(Location, _tensors.Where(pair => pair.Key != name).ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal));

        public HeaderOnlySource WithDType(string name, TensorDType dtype)
        {
            var tensors = new Dictionary<string, TensorRef>(_tensors, StringComparer.Ordinal);
            var original = tensors[name];
            tensors[name] = new TensorRef
            {
                Name = original.Name, DType = dtype, Shape = original.Shape, FilePath = original.FilePath,
                ByteLength = original.ByteLength, DataAccessor = _ => throw new InvalidOperationException("no data"),
            };
            return new HeaderOnlySource(Location, tensors);
        }

        public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TensorRef? tensor) =>
            _tensors.TryGetValue(name, out tensor);

        public void Dispose()
        {
        }
    }
}
