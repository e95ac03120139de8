using System.Diagnostics;
using SqueezeNative.Runtime.Tokenization;
using Xunit.Abstractions;
using static SqueezeNative.Tests.Tokenization.TokenizationTestData;

namespace SqueezeNative.Tests.Tokenization;

/// <summary>
/// The test models' tokenizers against the Hugging Face goldens in shared/models/*:
/// reference.json and wikitext2_ids_head.json were produced with transformers + tokenizers.
/// </summary>
public sealed class ReferenceTokenizationTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models => new() { "llama", "mistral", "opt" };

    [Theory]
    [MemberData(nameof(Models))]
    public void TrickyStrings_EncodeToReferenceIds_AndDecodeBack(string model)
    {
        var tokenizer = ModelTokenizer(model);
        var cases = Reference(model).GetProperty("tricky_strings").EnumerateArray().ToList();
        Assert.Equal(6, cases.Count);
        foreach (var tricky in cases)
        {
            var text = tricky.GetProperty("text").GetString()!;
            var ids = tokenizer.Encode(text);
            Assert.Equal(Ids(tricky.GetProperty("ids")), ids);
            Assert.Equal(tricky.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()), ids.Select(tokenizer.IdToToken));
            Assert.Equal(tricky.GetProperty("decoded_skip_special").GetString(), tokenizer.Decode(ids, skipSpecialTokens: true));
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Prompts_EncodeToReferencePromptIds(string model)
    {
        var tokenizer = ModelTokenizer(model);
        foreach (var prompt in Reference(model).GetProperty("prompts").EnumerateArray())
            Assert.Equal(Ids(prompt.GetProperty("prompt_ids")), tokenizer.Encode(prompt.GetProperty("prompt").GetString()!));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void WikiText2_MatchesReferenceHeadAndCount_WithinTimeBound(string model)
    {
        var tokenizer = ModelTokenizer(model);
        var head = WikiTextHead(model);
        var text = WikiText2;
        Assert.Equal(WikiText2Sha256, head.GetProperty("text_sha256").GetString());

        var stopwatch = Stopwatch.StartNew();
        var ids = tokenizer.Encode(text);
        stopwatch.Stop();
        output.WriteLine($"{model}: encoded WikiText-2 ({text.Length:N0} chars) into {ids.Length:N0} tokens in {stopwatch.Elapsed.TotalMilliseconds:F0} ms (first encode, JIT included)");

        Assert.Equal(head.GetProperty("total_tokens").GetInt32(), ids.Length);
        Assert.Equal(Reference(model).GetProperty("wikitext2").GetProperty("total_tokens").GetInt32(), ids.Length);
        Assert.Equal(Ids(head.GetProperty("first_4096_ids")), ids.Take(4096));
        Assert.Equal(head.GetProperty("bos_token_id").GetInt32(), ids[0]);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"encoding took {stopwatch.Elapsed}");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void WikiText2_DecodeOfEncode_IsTheText(string model)
    {
        var tokenizer = ModelTokenizer(model);
        var text = WikiText2;
        var ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void ReferenceContinuations_StreamIncrementally_ToTheFullDecode(string model)
    {
        var tokenizer = ModelTokenizer(model);
        foreach (var prompt in Reference(model).GetProperty("prompts").EnumerateArray())
        {
            var newIds = Ids(prompt.GetProperty("greedy_fp32_new_ids"));
            var full = tokenizer.Decode(newIds, skipSpecialTokens: true);
            Assert.Equal(prompt.GetProperty("greedy_fp32_text").GetString(), full);

            var decoder = new IncrementalDecoder(tokenizer, skipSpecialTokens: true);
            var streamed = string.Concat(newIds.Select(decoder.Add)) + decoder.Flush();
            Assert.Equal(full, streamed);

            // The prompt and its continuation as one stream (BOS included) equals their joint decode.
            var all = Ids(prompt.GetProperty("prompt_ids")).Concat(newIds).ToArray();
            var jointDecoder = new IncrementalDecoder(tokenizer);
            Assert.Equal(tokenizer.Decode(all), string.Concat(all.Select(jointDecoder.Add)) + jointDecoder.Flush());
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void SpecialTokenIds_ComeFromTheModelConfigs(string model)
    {
        var tokenizer = ModelTokenizer(model);
        var expectedBos = model == "opt" ? 2 : 1;   // OPT starts sequences with </s>
        Assert.Equal(expectedBos, tokenizer.BosTokenId);
        Assert.Equal([2], tokenizer.EosTokenIds);
        Assert.Equal(model == "opt" ? 50265 : 32000, tokenizer.VocabSize);
        Assert.Equal(expectedBos, tokenizer.Encode("x")[0]);
        Assert.DoesNotContain(expectedBos, tokenizer.Encode("x", addSpecialTokens: false));
    }

    [Fact]
    public void LlamaChunkedMerging_EqualsWholeSequenceMerging_OnWikiText2()
    {
        // LLaMA has no pre-tokenizer: its BPE runs over the whole normalized text as one word.
        // The fast path merges "▁word" chunks independently; it must equal the one-word merge.
        var tokenizer = ModelTokenizer("llama");
        Assert.True(tokenizer.Model.CutsWordsIntoChunks);
        var normalized = tokenizer.Normalize(WikiText2[..300_000]);
        var chunked = new List<int>();
        var whole = new List<int>();
        tokenizer.Model.Tokenize(normalized, chunked);
        tokenizer.Model.TokenizeWithoutChunks(normalized, whole);
        Assert.Equal(whole, chunked);
        Assert.Equal(Ids(WikiTextHead("llama").GetProperty("first_4096_ids")).Skip(1), chunked.Take(4095));
    }

    [Fact]
    public void ByteLevelModel_DoesNotCutWordsIntoChunks()
    {
        Assert.False(ModelTokenizer("opt").Model.CutsWordsIntoChunks);
    }
}
