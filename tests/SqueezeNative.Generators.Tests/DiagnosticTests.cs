using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace SqueezeNative.Generators.Tests;

/// <summary>
/// Each malformed description yields its SNG diagnostic exactly where the mistake is: the
/// expected span is marked [| like this |] in the sample source.
/// </summary>
public sealed class DiagnosticTests
{
    private const string Embed = """[GlobalTensor("EmbedTokens", "model.embed_tokens.weight", "VocabSize", "HiddenSize")]""";

    public static TheoryData<string, string, bool> Cases => new()
    {
        // id, marked source, whether the faulty description must still generate code
        { "SNG001", Samples.Tiny(Embed + """
            [LayerTensor("QProj", "model.layers.{layer}.q.weight", [|"QDim +"|], "HiddenSize")]
            """), false },
        { "SNG001", Samples.Tiny(Embed + """
            [LayerTensor("QProj", "model.layers.{layer}.q.weight", [|"QDim == HiddenSize"|])]
            """), false },
        { "SNG002", Samples.Tiny(Embed + """
            [GlobalTensor("Norm", "model.norm.weight", [|"HiddenSise"|])]
            """), false },
        { "SNG002", Samples.Tiny(Embed + """
            [GlobalTensor("Norm", "model.norm.weight", [|"TieWordEmbeddings"|])]
            """), false },
        { "SNG003", Samples.Tiny(Embed + """
            [LayerTensor("QNorm", "model.layers.{layer}.q_norm.weight", "HeadDim", [|Condition = "AttentionBias &&"|])]
            """), false },
        { "SNG003", Samples.Tiny(Embed + """
            [LayerTensor("QNorm", "model.layers.{layer}.q_norm.weight", "HeadDim", [|Condition = "HiddenSize"|])]
            """), false },
        { "SNG004", Samples.Tiny(Embed + """
            [LayerTensor("QNorm", "model.layers.{layer}.q_norm.weight", "HeadDim", [|Condition = "!AttentionBais"|])]
            """), false },
        { "SNG005", Samples.Tiny(Embed + """
            [LayerTensor("QProj", [|"model.self_attn.q_proj.weight"|], "QDim", "HiddenSize")]
            """), false },
        { "SNG006", Samples.Tiny(Embed + """
            [GlobalTensor("Norm", [|"model.layers.{layer}.norm.weight"|], "HiddenSize")]
            """), false },
        { "SNG006", Samples.Tiny(Embed + """
            [LayerTensor("QProj", [|"model.layers.{layer}.{head}.q_proj.weight"|], "QDim", "HiddenSize")]
            """), false },
        { "SNG007", Samples.Tiny(Embed + """
            [LayerTensor("QProj", "model.layers.{layer}.q_proj.weight", "QDim", "HiddenSize")]
            [LayerTensor([|"QProj"|], "model.layers.{layer}.k_proj.weight", "KvDim", "HiddenSize")]
            """), false },
        { "SNG008", Samples.Tiny(Embed + """
            [LayerTensor("QProj", "model.layers.{layer}.q_proj.weight", "QDim", "HiddenSize")]
            [LayerTensor("KProj", [|"model.layers.{layer}.q_proj.weight"|], "KvDim", "HiddenSize")]
            """), false },
        { "SNG009", Samples.Tiny(Embed + """
            [LayerTensor("InputNorm", "model.layers.{layer}.input_layernorm.weight", "HiddenSize", [|Quantizable = true|])]
            """), false },
        { "SNG010", Samples.Tiny(Embed + """
            [LayerTensor([|"qProj"|], "model.layers.{layer}.q_proj.weight", "QDim", "HiddenSize")]
            """), false },
        { "SNG010", Samples.Tiny(Embed + """
            [GlobalTensor([|"Layers"|], "model.layers.weight", "HiddenSize")]
            """), false },
        { "SNG011", Samples.Tiny(Embed + """
            [GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "HiddenSize", Condition = "!TieWordEmbeddings", [|TiedTo = "Embeddings"|])]
            """), false },
        { "SNG011", Samples.Tiny(Embed + """
            [GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "HiddenSize", [|TiedTo = "EmbedTokens"|])]
            """), false },
        { "SNG011", Samples.Tiny(Embed + """
            [GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "QDim", Condition = "!TieWordEmbeddings", [|TiedTo = "EmbedTokens"|])]
            """), false },
        { "SNG012", Samples.Tiny(architecture: """
            [[|Architecture("tiny", HfClasses = ["TinyForCausalLM"], Activation = ActivationKind.SiLU, Mlp = MlpKind.Gated, Positional = PositionalKind.Rope, Attention = AttentionKind.GroupedQuery, Biases = BiasSites.None)|]]
            """), false },
        { "SNG013", Samples.Tiny(declaration: "public sealed class [|TinyArchitecture|];"), false },
        { "SNG013", Samples.Tiny(declaration: "public sealed partial class [|TinyModel|];"), false },
        { "SNG015", Samples.Tiny() + "\n" + Samples.Tiny(architecture: $"[Architecture([|\"tiny\"|], {Samples.TinyTraits})]", declaration: "public sealed partial class OtherTinyArchitecture;")
            .Replace("using SqueezeNative.Runtime.Architectures;", "").Replace("namespace Samples;", ""), true },
        { "SNG016", Samples.Tiny(
            architecture: $"[Architecture(\"tiny\", {Samples.TinyTraits.Replace("Biases = BiasSites.None", "[|Biases = BiasSites.None|]")})]",
            tensors: Samples.TinyTensors + """
                [LayerTensor("QProjBias", "model.layers.{layer}.self_attn.q_proj.bias", "QDim")]
                """), false },
        { "SNG017", Samples.Tiny() + "\n[ArchitectureRegistry]\npublic static partial class [|SecondRegistry|];", true },
        { "SNG018", Samples.Tiny(Embed + """
            [[|GlobalTensor("Norm", "model.norm.weight")|]]
            """), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MalformedDescriptionIsReportedAtTheMistake(string id, string markedSource, bool stillGenerates)
    {
        var (source, expectedSpan) = ParseMarkup(markedSource);
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.ContractSources().Append(new SourceFile(Samples.TinyPath, source)));

        var (_, _, result) = GeneratorHarness.Run(compilation);

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Equal(Samples.TinyPath, diagnostic.Location.GetLineSpan().Path);
        Assert.Equal(expectedSpan, diagnostic.Location.SourceSpan);
        Assert.Equal(stillGenerates, result.GeneratedSources.Any(s => s.HintName == "Samples.TinyArchitecture.g.cs"));
    }

    [Fact]
    public void MessagesNameTheTensorAndTheProblem()
    {
        var source = Samples.Tiny(Embed + """
            [LayerTensor("QProj", "model.layers.{layer}.q_proj.weight", "QDim", "HiddenSise")]
            """);
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.ContractSources().Append(new SourceFile(Samples.TinyPath, source)));

        var diagnostic = Assert.Single(GeneratorHarness.Run(compilation).Result.Diagnostics);

        Assert.Equal("Tensor 'QProj': \"HiddenSise\" in shape dimension \"HiddenSise\" is not an int property of ModelConfig", diagnostic.GetMessage());
    }

    [Fact]
    public void MissingModelConfigIsReportedAtTheClass()
    {
        var (source, expectedSpan) = ParseMarkup(Samples.Tiny(declaration: "public sealed partial class [|TinyArchitecture|];"));
        var compilation = GeneratorHarness.CreateCompilation(
            GeneratorHarness.ContractSources(includeModelConfig: false).Append(new SourceFile(Samples.TinyPath, source)));

        var diagnostic = Assert.Single(GeneratorHarness.Run(compilation).Result.Diagnostics);

        Assert.Equal("SNG014", diagnostic.Id);
        Assert.Equal(expectedSpan, diagnostic.Location.SourceSpan);
    }

    /// <summary>Removes the one [| |] pair and returns the span it enclosed.</summary>
    private static (string Source, TextSpan Span) ParseMarkup(string marked)
    {
        int start = marked.IndexOf("[|", StringComparison.Ordinal);
        int end = marked.IndexOf("|]", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "the sample must mark the expected span with [| |]");
        var source = marked.Remove(end, 2).Remove(start, 2);
        return (source, TextSpan.FromBounds(start, end - 2));
    }
}
