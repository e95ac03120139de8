using System.Text;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Inference;

namespace SqueezeNative.Tests.Inference;

/// <summary>Generation API behaviour: sampling, stop strings, cancellation, concurrency, bad input.</summary>
[Collection("Models")]
public sealed class GenerationTests
{
    private const string Prompt = "The President of the United States said that";

    private static async Task<string> Collect(LanguageModel lm, string prompt, GenerationOptions options, CancellationToken ct = default)
    {
        var sb = new StringBuilder();
        await foreach (var piece in lm.GenerateAsync(prompt, options, ct)) sb.Append(piece);
        return sb.ToString();
    }

    [Fact]
    public async Task SamplingIsDeterministicPerSeedAndDiffersAcrossSeeds()
    {
        var lm = Models.Get("llama");
        var options = new GenerationOptions { MaxNewTokens = 24, Temperature = 1.0f, TopK = 40, TopP = 0.95f, Seed = 7 };
        var a = await Collect(lm, Prompt, options);
        var b = await Collect(lm, Prompt, options);
        Assert.Equal(a, b);
        var texts = new HashSet<string>();
        for (int seed = 0; seed < 4; seed++) texts.Add(await Collect(lm, Prompt, options with { Seed = seed }));
        Assert.True(texts.Count > 1, "four seeds all gave the same sample");
    }

    [Fact]
    public void TopKOfOneEqualsGreedy()
    {
        var lm = Models.Get("llama");
        var ids = lm.EncodePrompt(Prompt);
        var greedy = lm.GenerateIds(ids, new GenerationOptions { MaxNewTokens = 16 });
        var topOne = lm.GenerateIds(ids, new GenerationOptions { MaxNewTokens = 16, Temperature = 0.7f, TopK = 1, Seed = 3 });
        Assert.Equal(greedy, topOne);
    }

    [Fact]
    public void RepetitionPenaltyChangesTheGreedyPath()
    {
        // The reference continuation repeats "President" and "United States"; a strong penalty must avoid that.
        var lm = Models.Get("llama");
        var ids = lm.EncodePrompt(Prompt);
        var plain = lm.GenerateIds(ids, new GenerationOptions { MaxNewTokens = 32 });
        var penalised = lm.GenerateIds(ids, new GenerationOptions { MaxNewTokens = 32, RepetitionPenalty = 2.0f });
        Assert.NotEqual(plain, penalised);
        Assert.True(penalised.Distinct().Count() > plain.Distinct().Count());
    }

    [Fact]
    public async Task StopStringEndsTheStreamBeforeIt()
    {
        var lm = Models.Get("llama");
        var full = await Collect(lm, Prompt, new GenerationOptions { MaxNewTokens = 32 });
        int at = full.IndexOf("United", StringComparison.Ordinal);
        Assert.True(at > 0, $"reference continuation should mention 'United': {full}");
        var stopped = await Collect(lm, Prompt, new GenerationOptions { MaxNewTokens = 32, StopStrings = ["United"] });
        Assert.Equal(full[..at], stopped);
    }

    [Fact]
    public async Task CancellationStopsTheStream()
    {
        var lm = Models.Get("llama");
        using var cts = new CancellationTokenSource();
        int pieces = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in lm.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 200 }, cts.Token))
                if (++pieces == 3) cts.Cancel();
        });
        Assert.Equal(3, pieces);
    }

    [Fact]
    public async Task ConcurrentGenerationsOnOneModelMatchSequentialOnes()
    {
        var lm = Models.Get("mistral");
        string[] prompts = ["The President of the United States said that", "Call me Ishmael.", "To install the package"];
        var sequential = new List<string>();
        foreach (var p in prompts) sequential.Add(await Collect(lm, p, new GenerationOptions { MaxNewTokens = 20 }));
        var concurrent = await Task.WhenAll(prompts.Select(p => Task.Run(() => Collect(lm, p, new GenerationOptions { MaxNewTokens = 20 }))));
        Assert.Equal(sequential, concurrent);
    }

    [Fact]
    public async Task EmptyPromptIsAnError()
    {
        var e = await Assert.ThrowsAsync<InvalidOptionException>(() => Collect(Models.Get("llama"), "", new GenerationOptions()));
        Assert.Equal("--prompt", e.OptionName);
    }

    [Fact]
    public async Task PromptLongerThanTheContextIsAnError()
    {
        var lm = Models.Get("llama");
        var longPrompt = string.Join(' ', Enumerable.Repeat("words", lm.ContextLength + 10));
        var e = await Assert.ThrowsAsync<InvalidOptionException>(() => Collect(lm, longPrompt, new GenerationOptions { MaxNewTokens = 1 }));
        Assert.Contains("context of 1024 tokens", e.Message);
    }

    [Fact]
    public async Task PromptPlusMaxTokensBeyondTheContextIsAnError()
    {
        var e = await Assert.ThrowsAsync<InvalidOptionException>(() =>
            Collect(Models.Get("llama"), Prompt, new GenerationOptions { MaxNewTokens = 1020 }));
        Assert.Equal("--max-tokens", e.OptionName);
    }

    public static TheoryData<GenerationOptions, string> InvalidOptions() => new()
    {
        { new GenerationOptions { MaxNewTokens = 0 }, "--max-tokens" },
        { new GenerationOptions { Temperature = -1f }, "--temperature" },
        { new GenerationOptions { Temperature = float.NaN }, "--temperature" },
        { new GenerationOptions { TopK = -2 }, "--top-k" },
        { new GenerationOptions { TopP = 0f }, "--top-p" },
        { new GenerationOptions { TopP = 1.5f }, "--top-p" },
        { new GenerationOptions { RepetitionPenalty = 0f }, "--repetition-penalty" },
        { new GenerationOptions { StopStrings = [""] }, "--stop" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public async Task InvalidSamplingValuesAreErrors(GenerationOptions options, string option)
    {
        var e = await Assert.ThrowsAsync<InvalidOptionException>(() => Collect(Models.Get("llama"), Prompt, options));
        Assert.Equal(option, e.OptionName);
    }
}
