using System.CommandLine;
using System.Text.RegularExpressions;
using SqueezeNative.Cli;
using SqueezeNative.Tests.Models;

namespace SqueezeNative.Tests.Cli;

public class InspectCommandTests
{
    /// <summary>Runs `squeeze args…` in-process with captured stdout and stderr.</summary>
    internal static (int ExitCode, string Output, string Error) Squeeze(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = Program.BuildRoot().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }

    /// <summary>The "Parameters: 26,450,304 in …" figure of a shared model's README.md.</summary>
    private static string ReadmeParameterCount(string model)
    {
        var readme = File.ReadAllText(Path.Combine(TestPaths.Model(model), "README.md"));
        var match = Regex.Match(readme, @"Parameters: ([\d,]+) in");
        Assert.True(match.Success, $"no parameter count in {model}/README.md");
        return match.Groups[1].Value;
    }

    [Theory]
    [InlineData("llama", "26.45 M")]
    [InlineData("mistral", "21.11 M")]
    [InlineData("opt", "17.87 M")]
    public void ParameterCountMatchesTheModelReadme(string model, string human)
    {
        var (exitCode, output, error) = Squeeze("inspect", TestPaths.Model(model));
        Assert.True(exitCode == 0, error);
        Assert.Matches($@"(?m)^parameters +{Regex.Escape(ReadmeParameterCount(model))} \({Regex.Escape(human)}\) in \d+ tensors$", output);
    }

    [Fact]
    public void LlamaReportShowsArchitectureShapesAndLinears()
    {
        var (exitCode, output, _) = Squeeze("inspect", TestPaths.Model("llama"));
        Assert.Equal(0, exitCode);
        Assert.Matches(@"(?m)^architecture +llama \(LlamaForCausalLM\)$", output);
        Assert.Matches(@"(?m)^layers +8$", output);
        Assert.Matches(@"(?m)^hidden size +384$", output);
        Assert.Matches(@"(?m)^heads +6 query, 6 key/value$", output);
        Assert.Matches(@"(?m)^head dim +64$", output);
        Assert.Matches(@"(?m)^intermediate +1024$", output);
        Assert.Matches(@"(?m)^vocab +32000$", output);
        Assert.Matches(@"(?m)^max positions +1024$", output);
        Assert.Matches(@"(?m)^attention +multi-head$", output);
        Assert.Matches(@"(?m)^embeddings +tied", output);
        Assert.Matches(@"(?m)^biases +none$", output);
        Assert.Matches(@"(?m)^dtype +F16 \(config.json: float16\)$", output);
        Assert.Matches(@"(?m)^weights +model.safetensors, 52.91 MB$", output);
        Assert.Matches(@"(?m)^size on disk +57.1\d MB", output);
        // 7 linears per layer × 8 layers: 4·384² + 3·384·1024 = 1,769,472 per layer.
        Assert.Matches(@"(?m)^quantizable linears: 56 matrices over 8 layers, 14,155,776 parameters \(53.5 % of the model\)$", output);
        Assert.Matches(@"(?m)^  self_attn.q_proj +384 x 384 +147,456 +x 8 +1,179,648$", output);
        Assert.Matches(@"(?m)^  mlp.down_proj +384 x 1024 +393,216 +x 8 +3,145,728$", output);
    }

    [Fact]
    public void MistralReportShowsGqaAndSlidingWindow()
    {
        var (exitCode, output, _) = Squeeze("inspect", TestPaths.Model("mistral"));
        Assert.Equal(0, exitCode);
        Assert.Matches(@"(?m)^attention +GQA \(2 query heads per key/value head\), sliding window 256 tokens$", output);
        Assert.Matches(@"(?m)^embeddings +separate lm_head$", output);
        Assert.Matches(@"(?m)^  self_attn.k_proj +128 x 256 +32,768 +x 6 +196,608$", output);
    }

    [Fact]
    public void OptReportShowsBiasesAndLearnedPositions()
    {
        var (exitCode, output, _) = Squeeze("inspect", TestPaths.Model("opt"));
        Assert.Equal(0, exitCode);
        Assert.Matches(@"(?m)^biases +attention, MLP, norms$", output);
        Assert.Matches(@"(?m)^positions +learned table of 1026 rows \(offset 2\)$", output);
        Assert.Matches(@"(?m)^norm +LayerNorm, pre-norm, eps 1e-05$", output);
        Assert.Matches(@"(?m)^  fc1 +1024 x 256 +262,144 +x 6 +1,572,864$", output);
    }

    [Fact]
    public void ConfigOnlyFolderPrintsImpliedCount()
    {
        var (exitCode, output, error) = Squeeze("inspect", TestPaths.Config("llama-2-7b"));
        Assert.True(exitCode == 0, error);
        Assert.Matches(@"(?m)^parameters +6,738,415,616 \(6.74 B\), implied by config.json$", output);
        Assert.Matches(@"(?m)^weights +not present \(config only\)$", output);
        Assert.Matches(@"(?m)^  self_attn.q_proj +4096 x 4096 +16,777,216 +x 32 +536,870,912$", output);
        Assert.Matches(@"(?m)^  mlp.gate_proj +11008 x 4096 +45,088,768 +x 32 +1,442,840,576$", output);
    }

    [Fact]
    public void VerboseSwitchIsAccepted()
    {
        var (exitCode, _, error) = Squeeze("inspect", "-v", TestPaths.Model("opt"));
        Assert.True(exitCode == 0, error);
    }

    [Fact]
    public void DirectoryThatIsNotAModelExitsWithOneAndNamesIt()
    {
        using var temp = new TempDirectory();
        var (exitCode, output, error) = Squeeze("inspect", temp.Path);
        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Equal($"error: not a model directory: {temp.Path} (no config.json)", error.TrimEnd());
    }

    [Fact]
    public void CorruptCheckpointExitsWithOneAndNamesTheFile()
    {
        using var temp = new TempDirectory();
        File.Copy(Path.Combine(TestPaths.Model("opt"), "config.json"), temp.File("config.json"));
        File.WriteAllBytes(temp.File("model.safetensors"), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, (byte)'{']);
        var (exitCode, _, error) = Squeeze("inspect", temp.Path);
        Assert.Equal(1, exitCode);
        Assert.StartsWith($"error: {temp.File("model.safetensors")}: safetensors header length", error);
    }

    [Fact]
    public void MissingArgumentIsAParseError()
    {
        var (exitCode, _, error) = Squeeze("inspect");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("model-dir", error);
    }
}
