using System.Text;
using SqueezeNative.Runtime.Inference;

namespace SqueezeNative.Tests.Inference;

/// <summary>
/// The CPU decoder against the Hugging Face reference (reference.json: fp32 eager forward of the
/// fp16 weights): prompt ids, last-position logits, greedy continuations with the KV cache.
/// </summary>
[Collection("Models")]
public sealed class ReferenceForwardTests
{
    public static TheoryData<string, int> Prompts()
    {
        var data = new TheoryData<string, int>();
        foreach (var model in new[] { "llama", "mistral", "opt" })
            for (int i = 0; i < 3; i++) data.Add(model, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public void PromptIdsMatchReference(string model, int prompt)
    {
        var p = Models.Reference(model).GetProperty("prompts")[prompt];
        Assert.Equal(Models.Ints(p.GetProperty("prompt_ids")), Models.Get(model).EncodePrompt(p.GetProperty("prompt").GetString()!));
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public void LastPositionTop20LogitsWithin1e3Relative(string model, int prompt)
    {
        var p = Models.Reference(model).GetProperty("prompts")[prompt];
        var lm = Models.Get(model);
        using var session = lm.CreateSession();
        var logitsTensor = session.Forward(Models.Ints(p.GetProperty("prompt_ids")), allPositions: false);
        var logits = logitsTensor.ToArray();

        var top = p.GetProperty("last_logits_fp32_top20");
        var ids = Models.Ints(top.GetProperty("ids"));
        var values = top.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        for (int i = 0; i < ids.Length; i++)
        {
            double expected = values[i], actual = logits[ids[i]];
            Assert.True(Math.Abs(actual - expected) <= 1e-3 * Math.Abs(expected),
                $"{model} prompt {prompt}: logit of id {ids[i]} is {actual}, reference {expected}");
        }
        // The 20 largest of ours are the reference's 20, in the same order.
        var ourTop = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Take(20).ToArray();
        Assert.Equal(ids, ourTop);

        double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
        double lse = max + Math.Log(sum), expectedLse = p.GetProperty("last_logits_fp32_logsumexp").GetDouble();
        Assert.True(Math.Abs(lse - expectedLse) <= 1e-3 * Math.Abs(expectedLse), $"logsumexp {lse} vs {expectedLse}");
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public void GreedyContinuationEqualsReference(string model, int prompt)
    {
        var p = Models.Reference(model).GetProperty("prompts")[prompt];
        var expected = Models.Ints(p.GetProperty("greedy_fp32_new_ids"));
        var lm = Models.Get(model);
        // HF generate(max_new_tokens=32) stops at EOS too; ours does the same by default.
        var ids = lm.GenerateIds(Models.Ints(p.GetProperty("prompt_ids")), new GenerationOptions { MaxNewTokens = 32 });
        Assert.Equal(expected, ids);
    }

    /// <summary>
    /// A recorded decode step of a gated model is 8 ops per layer — norm, q|k|v, RoPE + cache writes
    /// (sn_rope_kv_write), attention, o (+ residual), norm, gate|up with SwiGLU (sn_matmul_swiglu),
    /// down (+ residual) — plus the embedding, the final norm and the LM head. On CUDA each op is one
    /// kernel launch at T = 1, so this is the launch count of the decode graph.
    /// </summary>
    [Theory]
    [InlineData("llama")]
    [InlineData("mistral")]
    public void DecodeStepIsEightOpsPerGatedLayer(string model)
    {
        var lm = Models.Get(model);
        using var session = lm.CreateSession(capacity: 16);
        session.Forward([1, 2, 3], allPositions: false);
        session.Forward([4], allPositions: false);
        Assert.Equal(3 + 8 * lm.Config.NumLayers, session.DecodeOpsPerToken);
    }

    [Fact]
    public async Task StreamedTextEqualsReferenceGreedyText()
    {
        var p = Models.Reference("llama").GetProperty("prompts")[0];
        var lm = Models.Get("llama");
        var prompt = p.GetProperty("prompt").GetString()!;
        var text = new StringBuilder(prompt);
        int pieces = 0;
        await foreach (var piece in lm.GenerateAsync(prompt, new GenerationOptions { MaxNewTokens = 32 }))
        {
            text.Append(piece);
            pieces++;
        }
        // prompt + stream reads as the decode of prompt + reference ids (the continuation keeps
        // its leading space, which reference.json's text of the new ids alone strips).
        int[] all = [.. Models.Ints(p.GetProperty("prompt_ids")), .. Models.Ints(p.GetProperty("greedy_fp32_new_ids"))];
        Assert.Equal(lm.Tokenizer.Decode(all, skipSpecialTokens: true), text.ToString());
        Assert.EndsWith(p.GetProperty("greedy_fp32_text").GetString()!, text.ToString());
        Assert.True(pieces > 10, $"expected a stream of pieces, got {pieces}");
    }
}
