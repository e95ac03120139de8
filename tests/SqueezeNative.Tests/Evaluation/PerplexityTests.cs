using System.Text.Json;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Evaluation;

namespace SqueezeNative.Tests.Evaluation;

public sealed class PerplexityTests
{
    [Fact]
    public void Windows_AreNonOverlappingAndDropTheTail()
    {
        var tokens = Enumerable.Range(0, 10).ToArray();
        var windows = PerplexityWindows.FromTokens(tokens, seqlen: 3);
        Assert.Equal(3, windows.Count);
        Assert.Equal(3, windows.AvailableCount);
        Assert.Equal(2, windows.TokensScoredPerWindow);
        Assert.Equal([0, 1, 2], windows[0].ToArray());
        Assert.Equal([3, 4, 5], windows[1].ToArray());
        Assert.Equal([6, 7, 8], windows[2].ToArray()); // token 9 is the dropped tail
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("opt")]
    [InlineData("mistral")]
    public void Windows_CountMatchesReferenceForItsTokenCount(string model)
    {
        var wikitext = ReadReference(model).GetProperty("wikitext2");
        var tokens = new int[wikitext.GetProperty("total_tokens").GetInt32()];
        var windows = PerplexityWindows.FromTokens(tokens, wikitext.GetProperty("seqlen").GetInt32());
        Assert.Equal(wikitext.GetProperty("windows").GetInt32(), windows.Count);
        Assert.Equal(wikitext.GetProperty("tokens_scored_per_window").GetInt32(), windows.TokensScoredPerWindow);
    }

    [Fact]
    public void Windows_LimitTakesTheFirstWindows()
    {
        var tokens = Enumerable.Range(0, 100).ToArray();
        var windows = PerplexityWindows.FromTokens(tokens, seqlen: 10, limit: 4);
        Assert.Equal(4, windows.Count);
        Assert.Equal(10, windows.AvailableCount);
        Assert.Equal(30, windows[3].Span[0]);
        Assert.Equal(10, PerplexityWindows.FromTokens(tokens, seqlen: 10, limit: 50).Count);
    }

    [Fact]
    public void Windows_InvalidOptionsAreNamed()
    {
        var tokens = new int[100];
        Assert.Equal("--seqlen", Assert.Throws<InvalidOptionException>(() => PerplexityWindows.FromTokens(tokens, 1)).OptionName);
        var tooFew = Assert.Throws<InvalidOptionException>(() => PerplexityWindows.FromTokens(tokens, 101));
        Assert.Equal("--seqlen", tooFew.OptionName);
        Assert.Contains("100 tokens", tooFew.Message);
        Assert.Equal("--limit", Assert.Throws<InvalidOptionException>(() => PerplexityWindows.FromTokens(tokens, 10, limit: 0)).OptionName);
    }

    [Fact]
    public void Windows_FromSampledChecksLengths()
    {
        int[][] sampled = [[1, 2, 3], [4, 5, 6], [7, 8, 9]];
        var windows = PerplexityWindows.FromSampled(sampled, 3, limit: 2);
        Assert.Equal(2, windows.Count);
        Assert.Equal(3, windows.AvailableCount);
        Assert.Equal([4, 5, 6], windows[1].ToArray());
        Assert.Throws<ArgumentException>(() => PerplexityWindows.FromSampled([[1, 2, 3], [4, 5]], 3));
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("opt")]
    [InlineData("mistral")]
    public void Accumulator_ReproducesReferencePerplexity(string model)
    {
        var wikitext = ReadReference(model).GetProperty("wikitext2");
        int scored = wikitext.GetProperty("tokens_scored_per_window").GetInt32();
        foreach (var precision in new[] { "fp32", "fp16" })
        {
            var accumulator = new PerplexityAccumulator();
            foreach (var loss in wikitext.GetProperty($"window_losses_{precision}").EnumerateArray())
                accumulator.Add(loss.GetDouble(), scored);

            double expected = wikitext.GetProperty($"ppl_{precision}").GetDouble();
            Assert.Equal(wikitext.GetProperty("windows").GetInt32(), accumulator.WindowCount);
            Assert.Equal((long)accumulator.WindowCount * scored, accumulator.TokenCount);
            Assert.True(Math.Abs(accumulator.Perplexity - expected) <= 1e-9 * expected,
                $"{model} {precision}: ppl {accumulator.Perplexity:R}, reference {expected:R}");
        }
    }

    [Fact]
    public void Accumulator_IsExpOfTheMeanLoss()
    {
        var accumulator = new PerplexityAccumulator();
        Assert.Throws<InvalidOperationException>(() => accumulator.Perplexity);
        accumulator.Add(1.0, 7);
        accumulator.Add(3.0, 7);
        Assert.Equal(2.0, accumulator.MeanLoss);
        Assert.Equal(Math.Exp(2.0), accumulator.Perplexity);
        Assert.Equal(14, accumulator.TokenCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => accumulator.Add(1.0, 0));
    }

    [Theory]
    [InlineData("wikitext2", PerplexityDataset.WikiText2)]
    [InlineData("WikiText2", PerplexityDataset.WikiText2)]
    [InlineData("c4", PerplexityDataset.C4)]
    [InlineData(" ptb ", PerplexityDataset.Ptb)]
    public void Datasets_ParseKnownNames(string name, PerplexityDataset expected) =>
        Assert.Equal(expected, PerplexityDatasets.Parse(name));

    [Fact]
    public void Datasets_UnknownNameListsTheValidOnes()
    {
        var error = Assert.Throws<InvalidOptionException>(() => PerplexityDatasets.Parse("wikitext103"));
        Assert.Equal("--dataset", error.OptionName);
        Assert.Equal("--dataset: unknown dataset 'wikitext103'; valid names: wikitext2, c4, ptb", error.Message);
    }

    [Fact]
    public void Datasets_PointAtTheSharedDataFiles()
    {
        foreach (var info in PerplexityDatasets.All)
            Assert.True(File.Exists(PerplexityDatasets.DataPath(info.Dataset, TestPaths.Shared)), info.RelativePath);
        Assert.Equal("data/c4/c4_validation_2k.jsonl", PerplexityDatasets.Info(PerplexityDataset.C4).RelativePath);
        Assert.Equal(EvalText.PtbSha256, PerplexityDatasets.Info(PerplexityDataset.Ptb).ExpectedTextSha256);
    }

    [Fact]
    public void Datasets_BuildWindowsFromTheReferenceStrings()
    {
        // A character-level fake tokenizer (BOS = -1, then each UTF-16 unit) keeps the check about
        // the string and the windowing, independent of any real tokenizer.
        static int[] Characters(string text) => [-1, .. text.Select(c => (int)c)];

        var wikiPath = PerplexityDatasets.DataPath(PerplexityDataset.WikiText2, TestPaths.Shared);
        var wiki = PerplexityDatasets.BuildWindows(PerplexityDataset.WikiText2, wikiPath, Characters, 1024, limit: 2, out var wikiSha);
        Assert.Equal(EvalText.WikiText2Sha256, wikiSha);
        Assert.Equal((EvalText.WikiText2Chars + 1) / 1024, wiki.AvailableCount);
        Assert.Equal(2, wiki.Count);
        Assert.Equal(-1, wiki[0].Span[0]);

        var c4Path = PerplexityDatasets.DataPath(PerplexityDataset.C4, TestPaths.Shared);
        var c4 = PerplexityDatasets.BuildWindows(PerplexityDataset.C4, c4Path, Characters, 1024, limit: 3, out var c4Sha);
        Assert.Null(c4Sha);
        Assert.Equal(3, c4.Count);
        Assert.Equal(C4Sampler.ReferenceSampleCount, c4.AvailableCount);
        var documents = EvalText.C4Documents(c4Path);
        var full = C4Sampler.Sample(documents, Characters, 1024, sampleCount: 3);
        Assert.Equal(full.Windows[2], c4[2].ToArray());
    }

    private static JsonElement ReadReference(string model)
    {
        using var stream = File.OpenRead(Path.Combine(TestPaths.Model(model), "reference.json"));
        return JsonDocument.Parse(stream).RootElement.Clone();
    }
}
