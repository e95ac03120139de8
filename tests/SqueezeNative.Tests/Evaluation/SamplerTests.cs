using System.Security.Cryptography;
using System.Text;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Evaluation;

namespace SqueezeNative.Tests.Evaluation;

/// <summary>
/// The expected values come from this Python oracle (CPython 3.11), the GPTQ get_c4 loop verbatim
/// with fake tokenizers:
/// <code>
/// def sample(docs, tok, seqlen, n, seed=0):
///     random.seed(seed); idx=[]; starts=[]; wins=[]
///     for _ in range(n):
///         while True:
///             i = random.randint(0, len(docs) - 1)
///             ids = tok(docs[i])
///             if len(ids) >= seqlen: break
///         s = random.randint(0, len(ids) - seqlen - 1)
///         idx.append(i); starts.append(s); wins.append(ids[s:s+seqlen])
///     return idx, starts, wins
/// </code>
/// </summary>
public sealed class SamplerTests
{
    // docs = [" ".join(str(i*1000+j) for j in range((i*5) % 40)) for i in range(30)]
    private static readonly string[] SyntheticDocuments = Enumerable.Range(0, 30)
        .Select(i => string.Join(" ", Enumerable.Range(0, i * 5 % 40).Select(j => (i * 1000 + j).ToString())))
        .ToArray();

    // tok = lambda t: [1] + [int(w) for w in t.split()]   (1 plays BOS)
    private static int[] NumberTokenizer(string text) =>
        [1, .. text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];

    // tok = lambda t: [1] + [len(w.encode('utf-8')) for w in t.split()]
    private static int[] WordByteLengthTokenizer(string text) =>
        [1, .. PythonText.Split(text).Select(Encoding.UTF8.GetByteCount)];

    [Fact]
    public void C4Sampler_SyntheticDocumentsMatchPython()
    {
        // print(sample(docs, tok, 10, 12))
        var sample = C4Sampler.Sample(SyntheticDocuments, NumberTokenizer, seqlen: 10, sampleCount: 12);
        Assert.Equal([27, 28, 15, 29, 15, 18, 4, 4, 19, 29, 3, 2], sample.DocumentIndices);
        Assert.Equal([3, 6, 12, 9, 11, 0, 4, 1, 2, 4, 5, 0], sample.Starts);
        Assert.Equal([27002, 27003, 27004, 27005, 27006, 27007, 27008, 27009, 27010, 27011], sample.Windows[0]);
        Assert.Equal([1, 2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008], sample.Windows[11]);
        Assert.All(sample.Windows, window => Assert.Equal(10, window.Length));
    }

    [Fact]
    public void C4Sampler_FewerSamplesArePrefixOfTheFullSample()
    {
        var full = C4Sampler.Sample(SyntheticDocuments, NumberTokenizer, seqlen: 10, sampleCount: 12);
        var prefix = C4Sampler.Sample(SyntheticDocuments, NumberTokenizer, seqlen: 10, sampleCount: 5);
        Assert.Equal(full.DocumentIndices.Take(5), prefix.DocumentIndices);
        Assert.Equal(full.Starts.Take(5), prefix.Starts);
    }

    [Fact]
    public void C4Sampler_RealC4FileMatchesPython()
    {
        var documents = EvalText.C4Documents(Path.Combine(TestPaths.Shared, "data", "c4", "c4_validation_2k.jsonl"));
        var tokenizeCalls = 0;
        var sample = C4Sampler.Sample(documents, text => { tokenizeCalls++; return WordByteLengthTokenizer(text); }, seqlen: 256);

        // print(sample(docs, tok, 256, 256)) -> idx, starts; the windows' sum and sha256 of ",".join(ids)
        int[] expectedIndices =
        [
            788, 82, 1605, 1194, 577, 513, 1659, 1741, 676, 1146, 724, 1251, 1979, 906, 1648, 1720, 1454, 1368, 1253, 1695,
            1782, 391, 1645, 917, 164, 617, 596, 1668, 911, 1221, 788, 1178, 594, 387, 67, 1891, 1725, 1839, 1399, 1739,
            1833, 1008, 1624, 1254, 996, 1730, 555, 451, 1627, 872, 206, 1751, 1175, 1863, 1094, 254, 1700, 187, 1707, 44,
            378, 431, 1639, 1391, 1114, 207, 147, 125, 956, 1221, 1432, 408, 1852, 1716, 1979, 1615, 701, 513, 1222, 1363,
            965, 637, 513, 937, 687, 1114, 721, 1379, 1297, 848, 165, 684, 490, 1305, 1454, 848, 856, 1356, 95, 912,
            1812, 1236, 79, 667, 956, 822, 1545, 1253, 390, 1329, 573, 373, 974, 166, 1638, 273, 1066, 316, 1743, 86,
            1394, 644, 1921, 1863, 86, 1534, 939, 1784, 425, 1202, 18, 555, 752, 1596, 84, 335, 1194, 265, 1496, 1912,
            1071, 1711, 1860, 1722, 254, 1432, 873, 686, 1407, 1883, 1283, 769, 173, 125, 200, 593, 1391, 754, 1198, 130,
            56, 815, 424, 86, 442, 1693, 1221, 303, 1391, 1707, 19, 1445, 1675, 72, 303, 1234, 1725, 1193, 1470, 135,
            1057, 135, 83, 1728, 1765, 1639, 1779, 760, 1028, 1175, 1626, 873, 593, 1225, 1991, 1620, 1743, 41, 1038, 536,
            785, 335, 587, 113, 855, 167, 1659, 842, 1252, 791, 207, 41, 1225, 271, 215, 1124, 785, 1249, 956, 1332,
            1461, 1739, 1961, 1762, 760, 932, 1294, 91, 1065, 1596, 1038, 232, 872, 864, 319, 1620, 882, 1017, 721, 1416,
            1700, 749, 1221, 425, 419, 50, 1759, 929, 705, 57, 686, 1132, 165, 1189, 771, 484,
        ];
        int[] expectedStarts =
        [
            1, 66, 310, 27, 8, 136, 19, 175, 120, 6, 55, 163, 282, 533, 280, 204, 401, 1, 252, 10,
            257, 113, 18, 11, 327, 8, 180, 138, 93, 408, 1, 30, 94, 105, 78, 4, 41, 138, 25, 110,
            214, 338, 91, 14, 343, 48, 7, 47, 87, 509, 18, 224, 1298, 119, 154, 48, 73, 189, 59, 49,
            126, 186, 15, 46, 6, 106, 38, 128, 20, 51, 3, 8, 120, 145, 392, 346, 542, 30, 56, 179,
            174, 365, 39, 47, 189, 4, 156, 183, 67, 10, 0, 81, 28, 458, 344, 0, 197, 90, 339, 8,
            124, 0, 506, 159, 25, 213, 0, 50, 60, 12, 176, 51, 406, 5, 118, 334, 88, 71, 4, 20,
            66, 375, 72, 108, 433, 253, 3, 550, 384, 37, 70, 21, 367, 36, 138, 76, 37, 75, 15, 12,
            9, 336, 123, 175, 122, 3, 4, 188, 159, 42, 144, 81, 202, 98, 403, 7, 444, 112, 10, 718,
            67, 8, 2, 408, 159, 154, 249, 72, 660, 255, 696, 5, 20, 33, 32, 9, 194, 75, 481, 10,
            111, 28, 76, 229, 5, 38, 167, 258, 8, 185, 66, 26, 8, 213, 493, 99, 204, 0, 583, 38,
            3, 328, 342, 18, 36, 86, 11, 36, 59, 469, 60, 33, 316, 331, 716, 166, 31, 179, 172, 15,
            318, 65, 31, 48, 97, 22, 77, 20, 27, 514, 312, 74, 4636, 21, 7, 114, 351, 41, 18, 30,
            29, 9, 73, 3, 63, 119, 72, 460, 181, 106, 121, 651, 26, 19, 4, 11,
        ];
        Assert.Equal(expectedIndices, sample.DocumentIndices);
        Assert.Equal(expectedStarts, sample.Starts);
        var flat = sample.Windows.SelectMany(window => window).ToArray();
        Assert.Equal(326403, flat.Sum());
        var digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(",", flat))));
        Assert.Equal("3b93a016de12ccb25b618fe6483750f709d71911c8b46de50bf0b83fe7a16037", digest);
        // Each distinct document is tokenized once, however often it is drawn.
        Assert.True(tokenizeCalls <= documents.Count);
    }

    [Fact]
    public void C4Sampler_AllDocumentsTooShortIsAnErrorNotAHang()
    {
        var error = Assert.Throws<InvalidOptionException>(
            () => C4Sampler.Sample(SyntheticDocuments, NumberTokenizer, seqlen: 100));
        Assert.Equal("--seqlen", error.OptionName);
        Assert.Contains("no document has 100 tokens or more", error.Message);
    }

    [Fact]
    public void C4Sampler_DocumentOfExactlySeqlenTokensIsAnError()
    {
        // Python: randint(0, 10 - 10 - 1) raises ValueError, so the reference has no window here.
        string[] documents = ["1 2 3 4 5 6 7 8 9"]; // 9 words + BOS = 10 tokens
        var error = Assert.Throws<InvalidOptionException>(() => C4Sampler.Sample(documents, NumberTokenizer, seqlen: 10));
        Assert.Equal("--seqlen", error.OptionName);
        Assert.Contains("exactly 10 tokens", error.Message);
    }

    [Fact]
    public void C4Sampler_RejectsBadArguments()
    {
        Assert.Equal("--seqlen", Assert.Throws<InvalidOptionException>(() => C4Sampler.Sample(SyntheticDocuments, NumberTokenizer, 1)).OptionName);
        Assert.Equal("--limit", Assert.Throws<InvalidOptionException>(() => C4Sampler.Sample(SyntheticDocuments, NumberTokenizer, 10, sampleCount: 0)).OptionName);
        Assert.Throws<InvalidOptionException>(() => C4Sampler.Sample([], NumberTokenizer, 10));
    }

    [Fact]
    public void CalibrationSampler_MatchesGptqTrainSampling()
    {
        // python3 -c "import random; random.seed(1234); print([random.randint(0, 5000-512-1) for _ in range(10)])"
        var tokens = Enumerable.Range(0, 5000).ToArray();
        var sample = CalibrationSampler.Sample(tokens, seqlen: 512, sampleCount: 10, seed: 1234);
        Assert.Equal([3610, 957, 61, 742, 286, 687, 806, 2905, 1939, 142], sample.Starts);
        for (int i = 0; i < 10; i++)
            Assert.Equal(Enumerable.Range(sample.Starts[i], 512), sample.Windows[i]);
    }

    [Fact]
    public void CalibrationSampler_TokenizesTextOnce()
    {
        var calls = 0;
        var sample = CalibrationSampler.Sample("0 1 2 3 4 5 6 7 8 9 10 11", text => { calls++; return NumberTokenizer(text); },
                                               seqlen: 4, sampleCount: 6, seed: 0);
        Assert.Equal(1, calls);
        Assert.Equal(6, sample.Windows.Count);
        // python3 -c "import random; random.seed(0); print([random.randint(0, 13-4-1) for _ in range(6)])"
        Assert.Equal([6, 6, 0, 4, 8, 7], sample.Starts);
    }

    [Fact]
    public void CalibrationSampler_TooShortTextNamesTheOption()
    {
        // seqlen + 1 tokens is the minimum: randint(0, 0) is defined.
        // python3 -c "import random; random.seed(0); print([random.randint(0, 513-512-1) for _ in range(3)])"
        Assert.Equal([0, 0, 0], CalibrationSampler.Sample(new int[513], 512, 3, 0).Starts);

        var error = Assert.Throws<InvalidOptionException>(() => CalibrationSampler.Sample(new int[512], 512, 3, 0));
        Assert.Equal("--calib", error.OptionName);
        Assert.Contains("has 512 tokens", error.Message);
        Assert.Contains("at least 513", error.Message);
        Assert.Equal("--nsamples", Assert.Throws<InvalidOptionException>(() => CalibrationSampler.Sample(new int[600], 512, 0, 0)).OptionName);
    }
}
