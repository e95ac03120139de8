using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Evaluation;

namespace SqueezeNative.Tests.Inference;

/// <summary>WikiText-2 perplexity of the CPU decoder against reference.json (GPTQ protocol, seqlen 1024).</summary>
[Collection("Models")]
public sealed class PerplexityTests
{
    private static (double ppl, double[] windowLosses) Reference(string model)
    {
        var w = Models.Reference(model).GetProperty("wikitext2");
        return (w.GetProperty("ppl_fp32").GetDouble(),
                w.GetProperty("window_losses_fp32").EnumerateArray().Select(e => e.GetDouble()).ToArray());
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("opt")]
    public void FirstWindowsMatchReferenceLosses(string model)
    {
        var result = new PerplexityEvaluator(Models.Get(model)).Evaluate(PerplexityDataset.WikiText2, TestPaths.Shared, 1024, limit: 2);
        var (_, losses) = Reference(model);
        Assert.Equal(2, result.Windows);
        for (int i = 0; i < 2; i++)
            Assert.True(Math.Abs(result.WindowLosses[i] - losses[i]) < 1e-4, $"window {i}: {result.WindowLosses[i]} vs {losses[i]}");
    }

    /// <summary>The full split for the cheapest model in every test run (the sliding window matters here: 1024 > 256).</summary>
    [Fact]
    public void MistralFullWikiText2WithinPointOnePercent() => FullSplit("mistral");

    [Theory]
    [Trait("Category", "Verify")]
    [InlineData("llama")]
    [InlineData("opt")]
    public void FullWikiText2WithinPointOnePercent(string model) => FullSplit(model); // ./build.sh verify (test runs mistral only: time budget)

    private static void FullSplit(string model)
    {
        var (expected, losses) = Reference(model);
        var result = new PerplexityEvaluator(Models.Get(model)).Evaluate(PerplexityDataset.WikiText2, TestPaths.Shared, 1024);
        Assert.Equal(losses.Length, result.Windows);
        Assert.True(Math.Abs(result.Perplexity - expected) <= 1e-3 * expected,
            $"{model}: ppl {result.Perplexity} vs reference {expected} ({result.TokensPerSecond:F0} tokens/s)");
    }

    [Fact]
    public void SeqlenAboveTheModelMaximumIsAnError()
    {
        var e = Assert.Throws<InvalidOptionException>(() =>
            new PerplexityEvaluator(Models.Get("llama")).Evaluate(PerplexityDataset.WikiText2, TestPaths.Shared, 2048, limit: 1));
        Assert.Equal("--seqlen", e.OptionName);
    }

    [Fact]
    public void UnknownDatasetIsAnError()
    {
        var e = Assert.Throws<InvalidOptionException>(() => PerplexityDatasets.Parse("imagenet"));
        Assert.Contains("wikitext2", e.Message);
    }

    [Fact]
    public void C4AndPtbWindowsScore()
    {
        var evaluator = new PerplexityEvaluator(Models.Get("opt"));
        var c4 = evaluator.Evaluate(PerplexityDataset.C4, TestPaths.Shared, 256, limit: 2);
        var ptb = evaluator.Evaluate(PerplexityDataset.Ptb, TestPaths.Shared, 256, limit: 2);
        foreach (var r in new[] { c4, ptb })
        {
            Assert.Equal(2, r.Windows);
            Assert.InRange(r.Perplexity, 1.0, 50272.0);  // finite and below a uniform guess
        }
    }
}
