using System.Globalization;
using System.Text.RegularExpressions;
using SqueezeNative.Tests.Inference;
using SqueezeNative.Tests.Models;

namespace SqueezeNative.Tests.Cli;

/// <summary>
/// `squeeze bench fisher --synthetic` end to end on the CPU backend with a tiny config
/// (<see cref="LutStackTests.TinyConfig"/>: llama, 2 layers, hidden 256, vocab 320, 64 positions).
/// Times are not asserted; what the figures are made of is.
/// </summary>
public sealed class BenchFisherTests
{
    private static (int ExitCode, string Output, string Error) Squeeze(params string[] args) => InspectCommandTests.Squeeze(args);

    private static (int ExitCode, string Output, string Error) Fisher(TempDirectory temp, params string[] args)
    {
        temp.WriteText("config.json", LutStackTests.TinyConfig);
        return Squeeze(["bench", "fisher", "--synthetic", temp.Path, "--device", "cpu", "--threads", "1", .. args]);
    }

    private static double MeanLoss(string stdout)
    {
        var match = Regex.Match(stdout, @"(?m)^mean loss (\S+) over the \d+ windows \(ln\(vocab\) = ([\d.]+)");
        Assert.True(match.Success, stdout);
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public void ReportsThePassAndALossNearLnVocabForRandomWeights()
    {
        using var temp = new TempDirectory();
        var (code, stdout, stderr) = Fisher(temp, "--windows", "2", "--seqlen", "16");
        Assert.True(code == 0, stderr + stdout);
        Assert.StartsWith("machine: CPU", stdout);
        // 2 layers × (q 256² + k, v 128·256 + o 256² + gate, up, down 512·256) = 1,179,648 weights, 4 bytes each.
        Assert.Matches(@"(?m)^model: synthetic llama from .*, fp16, 2 layers, hidden 256, intermediate 512, vocab 320; " +
                       @"1,179,648 quantizable weights in 14 matrices, F32 accumulators 0\.005 GB = 0\.004 GiB \(1 group\(s\) of 2 layers", stdout);
        Assert.Matches(@"(?m)^window pass: [\d.]+ ms median \(min [\d.]+, max [\d.]+ over 2;", stdout);
        Assert.Matches(@"(?m)^download: [\d.]+ s for 14 Fisher matrices, 0\.005 GB", stdout);
        Assert.Matches(@"(?m)^check: 14 of 14 matrices, 0 values negative or not finite \(ok\)$", stdout);
        Assert.Matches(@"(?m)^peak memory \(model, activations, accumulators\): tensors [\d.]+ GB", stdout);
        Assert.Matches(@"(?m)^fisher pass: 2 windows × 16 tokens in [\d.]+ s \([\d.]+ ms/window median\), download [\d.]+ s$", stdout);

        // Random weights cannot predict random tokens: the loss is about ln(320) = 5.77. The synthetic
        // logits have a variance of about 1/3 (uniform norm weights, fan-in scaled head), which adds
        // about 1/6 on average; seeds 1..8 measured 5.73 .. 6.09.
        double loss = MeanLoss(stdout);
        Assert.True(double.IsFinite(loss), stdout);
        Assert.InRange(loss, Math.Log(320) - 0.5, Math.Log(320) + 1.0);
    }

    [Fact]
    public void LayerGroupsRunEveryWindowOncePerGroupWithTheSameLoss()
    {
        using var temp = new TempDirectory();
        var (code, whole, stderr) = Fisher(temp, "--windows", "2", "--seqlen", "16", "--seed", "3");
        Assert.True(code == 0, stderr);
        (code, var grouped, stderr) = Fisher(temp, "--windows", "2", "--seqlen", "16", "--seed", "3", "--fisher-layers", "1");
        Assert.True(code == 0, stderr);

        Assert.Contains("(2 group(s) of 1 layers: 0.002 GB = 0.002 GiB resident at once)", grouped);
        Assert.Contains("run: 2 windows of 16 random tokens (seed 3), 4 window passes (forward + backward)", grouped);
        Assert.Matches(@"(?m)^window pass: .* over 4;", grouped);
        Assert.Matches(@"(?m)^download: [\d.]+ s for 14 Fisher matrices", grouped);
        // The same model and windows: each group's forward is the same forward.
        Assert.Equal(MeanLoss(whole), MeanLoss(grouped));
    }

    [Fact]
    public void CompareCpuRerunsThePassOnTheCpuBackendWithTheSameWeights()
    {
        // On the CPU the comparison is the CPU against itself: the synthetic weights must come out
        // bit for bit the same on the second context (sn_fill_random), or the difference is not 0.
        using var temp = new TempDirectory();
        var (code, stdout, stderr) = Fisher(temp, "--windows", "2", "--seqlen", "16", "--compare-cpu");
        Assert.True(code == 0, stderr + stdout);
        Assert.Matches(@"(?m)^against the CPU pass \([\d.]+ s, same weights and windows\): ‖F − F_cpu‖ / ‖F_cpu‖ median 0\.00E\+000, worst 0\.00E\+000 \(model\.layers\.\d\.[a-z_.]+\) over 14 matrices \(ok\)$", stdout);
    }

    [Fact]
    public void QuantizeBenchTimesTheSplitWhenASparsityIsGiven()
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", LutStackTests.TinyConfig);
        var (code, stdout, stderr) = Squeeze("bench", "quantize", "--synthetic", temp.Path, "--device", "cpu", "--threads", "1",
            "--wbits", "3", "--repeat", "1", "--sparsity", "0.45");
        Assert.True(code == 0, stderr + stdout);
        // q_proj 256 × 256: 0.45 % of 65,536 values (0.05 % sensitive + 0.40 % outliers) leave the dense part.
        Assert.Matches(@"(?m)^q_proj +\[ +256 x +256\] +[\d.]+ ms .* split +[\d.]+ ms \((29[0-9]) removed\)$", stdout);
        Assert.Matches(@"(?m)^dense-and-sparse split \(0\.45 %, host CPU, each matrix on its own\): one layer [\d.]+ s; × 2 layers = [\d.]+ s$", stdout);

        (code, _, stderr) = Squeeze("bench", "quantize", "--synthetic", temp.Path, "--device", "cpu", "--sparsity", "100");
        Assert.Equal(1, code);
        Assert.Contains("--sparsity", stderr);
    }

    [Fact]
    public void QuantizeBenchSplitOnlyTimesTheSplitAndNeedsASparsity()
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", LutStackTests.TinyConfig);
        var (code, stdout, stderr) = Squeeze("bench", "quantize", "--synthetic", temp.Path, "--split-only", "--threads", "2",
            "--repeat", "1", "--sparsity", "0.45");
        Assert.True(code == 0, stderr + stdout);
        // The same counts as the full benchmark's split (q_proj 256 × 256: 0.45 % of 65,536 values).
        Assert.Matches(@"(?m)^q_proj +\[ +256 x +256\] +split +[\d.]+ ms .*\b29[0-9] removed, r = ", stdout);
        Assert.Matches(@"(?m)^dense-and-sparse split, each matrix on its own: one layer [\d.]+ s; × 2 layers = [\d.]+ s$", stdout);

        (code, _, stderr) = Squeeze("bench", "quantize", "--synthetic", temp.Path, "--split-only");
        Assert.Equal(1, code);
        Assert.Contains("--split-only", stderr);
    }

    [Theory]
    [InlineData("--windows", "0", "must be at least 1; got 0")]
    [InlineData("--seqlen", "1", "must be at least 2 tokens; got 1")]
    [InlineData("--seqlen", "65", "65 tokens exceed the model's context of 64")]
    [InlineData("--fisher-layers", "-1", "must be >= 0 (0 = every layer at once); got -1")]
    public void NamesTheBadOption(string option, string value, string message)
    {
        using var temp = new TempDirectory();
        var options = new Dictionary<string, string> { ["--windows"] = "1", ["--seqlen"] = "16" };
        options[option] = value;
        var (code, stdout, stderr) = Fisher(temp, [.. options.SelectMany(o => new[] { o.Key, o.Value })]);
        Assert.Equal(1, code);
        Assert.Contains($"error: {option}: {message}", stderr);
        Assert.DoesNotContain("machine:", stdout);   // rejected before any context is made
    }
}
