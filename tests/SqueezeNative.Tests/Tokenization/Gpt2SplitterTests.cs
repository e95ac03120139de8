using System.Text.RegularExpressions;
using SqueezeNative.Runtime.Tokenization;

namespace SqueezeNative.Tests.Tokenization;

/// <summary>
/// The hand-written GPT-2 pattern matcher against the regex it replaces. .NET Regex matches UTF-16
/// code units, so the comparison uses BMP text, where the two must agree exactly.
/// </summary>
public sealed class Gpt2SplitterTests
{
    private static readonly Regex Gpt2Pattern = new(
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);

    private static List<string> Scanner(string text)
    {
        var matches = new List<(int Start, int Length)>();
        Gpt2Splitter.Split(text, matches);
        return matches.Select(m => text.Substring(m.Start, m.Length)).ToList();
    }

    private static List<string> Reference(string text) => Gpt2Pattern.Matches(text).Select(m => m.Value).ToList();

    [Fact]
    public void AgreesWithTheRegex_OnWikiText2()
    {
        var text = TokenizationTestData.WikiText2;
        Assert.Equal(Reference(text), Scanner(text));
    }

    [Fact]
    public void AgreesWithTheRegex_OnRandomTextOfTrickyCharacters()
    {
        // Characters from every class the pattern distinguishes, including the apostrophe cases
        // and whitespace that .NET and Unicode agree on.
        const string alphabet = "aZé'strevmld 0১½\t\n\r\u00a0\u3000\u2028!?-_,.\"ßΩ東";
        var random = new Random(12345);
        for (var round = 0; round < 2000; round++)
        {
            var chars = new char[random.Next(1, 40)];
            for (var i = 0; i < chars.Length; i++)
                chars[i] = alphabet[random.Next(alphabet.Length)];
            var text = new string(chars);
            Assert.Equal(Reference(text), Scanner(text));
        }
    }

    [Theory]
    [InlineData("𝐀𝐁 x", new[] { "𝐀𝐁", " x" })]               // letters outside the BMP are letters
    [InlineData("a  b", new[] { "a", " ", " b" })]               // a space run leaves one space for the word
    [InlineData("a \n b", new[] { "a", " \n", " b" })]
    [InlineData("x\u001cy", new[] { "x", "\u001c", "y" })]       // U+001C is not White_Space
    [InlineData("end  ", new[] { "end", "  " })]
    [InlineData("it's", new[] { "it", "'s" })]
    public void SplitsLikeHuggingFace(string text, string[] expected)
    {
        Assert.Equal(expected, Scanner(text));
    }
}
