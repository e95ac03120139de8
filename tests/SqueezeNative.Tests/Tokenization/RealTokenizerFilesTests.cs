using SqueezeNative.Runtime.Tokenization;
using static SqueezeNative.Tests.Tokenization.TokenizationTestData;

namespace SqueezeNative.Tests.Tokenization;

/// <summary>
/// The published tokenizer files in shared/configs: the real LLaMA-2 tokenizer.json (its special
/// tokens are "normalized", unlike the test models') and OPT's GPT-2 vocab.json + merges.txt.
/// The test models use the same vocabularies, so their goldens apply.
/// </summary>
public sealed class RealTokenizerFilesTests
{
    public static TheoryData<string, string> RealFolders => new()
    {
        { "llama-2-13b", "llama" },
        { "opt-1.3b", "opt" },
    };

    [Theory]
    [MemberData(nameof(RealFolders))]
    public void RealFiles_GiveTheTestModelIds_OnTrickyStringsAndWikiText2(string configFolder, string model)
    {
        var real = Tokenizer(TestPaths.Config(configFolder));
        var head = WikiTextHead(model);
        foreach (var tricky in head.GetProperty("tricky_strings").EnumerateArray())
        {
            var ids = real.Encode(tricky.GetProperty("text").GetString()!);
            Assert.Equal(Ids(tricky.GetProperty("ids")), ids);
            Assert.Equal(tricky.GetProperty("decoded_skip_special").GetString(), real.Decode(ids, skipSpecialTokens: true));
        }
        var wikiIds = real.Encode(WikiText2);
        Assert.Equal(head.GetProperty("total_tokens").GetInt32(), wikiIds.Length);
        Assert.Equal(Ids(head.GetProperty("first_4096_ids")), wikiIds.Take(4096));
    }

    [Fact]
    public void OptVocabAndMerges_LoadAsByteLevelBpe_WithEosAsBos()
    {
        var opt = Tokenizer(TestPaths.Config("opt-1.3b"));
        Assert.EndsWith("vocab.json", opt.SourcePath);
        Assert.Equal(50265, opt.VocabSize);
        Assert.Equal(2, opt.BosTokenId);
        Assert.Equal("</s>", opt.IdToToken(2));
        Assert.Equal([2], opt.EosTokenIds);
        Assert.Equal([2, 31414, 232], opt.Encode("Hello world"));
        Assert.True(opt.IsSpecialToken(2));
        Assert.True(opt.IsSpecialToken(1));   // <pad>
    }

    [Fact]
    public void Llama2TokenizerJson_TakesBosEosFlagsFromTokenizerConfig()
    {
        var llama2 = Tokenizer(TestPaths.Config("llama-2-13b"));
        Assert.Equal(1, llama2.BosTokenId);
        Assert.Equal([2], llama2.EosTokenIds);
        Assert.Equal([1, 15043, 3186], llama2.Encode("Hello world"));
        Assert.Equal([15043, 3186], llama2.Encode("Hello world", addSpecialTokens: false));
    }

    [Fact]
    public void ConfigsWithoutTokenizerFiles_AreRejectedWithTheFolderNamed()
    {
        var folder = TestPaths.Config("llama-2-7b");
        var error = Assert.Throws<SqueezeNative.Runtime.ModelFormatException>(() => TokenizerLoader.Load(folder));
        Assert.Equal(folder, error.FilePath);
        Assert.Contains("tokenizer.json", error.Message);
    }
}
