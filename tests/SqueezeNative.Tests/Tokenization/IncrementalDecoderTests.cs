using SqueezeNative.Runtime.Tokenization;
using static SqueezeNative.Tests.Tokenization.TokenizationTestData;

namespace SqueezeNative.Tests.Tokenization;

/// <summary>Streaming decode: never half a character, and the stream adds up to the full decode.</summary>
public sealed class IncrementalDecoderTests
{
    public static TheoryData<string> Models => new() { "llama", "opt" };

    [Theory]
    [MemberData(nameof(Models))]
    public void MultiByteCharacters_AreHeldUntilComplete(string model)
    {
        var tokenizer = ModelTokenizer(model);
        const string text = "I ❤️ 🦙 llamas 👍🏽! 東京 Ωμέγα";
        var ids = tokenizer.Encode(text, addSpecialTokens: false);
        var decoder = new IncrementalDecoder(tokenizer);
        var pieces = ids.Select(decoder.Add).ToList();
        pieces.Add(decoder.Flush());

        Assert.Equal(text, string.Concat(pieces));
        Assert.All(pieces, piece => Assert.DoesNotContain('\uFFFD', piece));
        Assert.All(pieces.Where(p => p.Length > 0), piece =>
        {
            Assert.False(char.IsHighSurrogate(piece[^1]), "a piece ends in half a surrogate pair");
            Assert.False(char.IsLowSurrogate(piece[0]), "a piece starts with half a surrogate pair");
        });
        // Some id decoded to nothing on its own: a byte-fallback or partial UTF-8 token was held back.
        Assert.Contains("", pieces.Take(ids.Length));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void StreamingWikiText2Head_EqualsTheFullDecode(string model)
    {
        var tokenizer = ModelTokenizer(model);
        var ids = Ids(WikiTextHead(model).GetProperty("first_4096_ids"));
        var decoder = new IncrementalDecoder(tokenizer, skipSpecialTokens: true);
        var streamed = string.Concat(ids.Select(decoder.Add)) + decoder.Flush();
        Assert.Equal(tokenizer.Decode(ids, skipSpecialTokens: true), streamed);
        Assert.StartsWith("\n\n = Robert Boulter = \n", streamed);
    }

    [Fact]
    public void IncompleteTail_IsReturnedByFlush()
    {
        var tokenizer = ModelTokenizer("llama");
        var decoder = new IncrementalDecoder(tokenizer);
        Assert.Equal("Hello", decoder.Add(15043));
        Assert.Equal("", decoder.Add(243));   // <0xF0>: the first byte of a 4-byte character
        Assert.Equal("", decoder.Add(162));   // <0x9F>
        Assert.Equal(tokenizer.Decode([15043, 243, 162])[5..], decoder.Flush());
        Assert.Equal("", decoder.Flush());
    }
}
