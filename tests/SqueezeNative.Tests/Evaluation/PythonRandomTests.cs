using System.Numerics;
using SqueezeNative.Runtime.Evaluation;

namespace SqueezeNative.Tests.Evaluation;

/// <summary>
/// Expected values come from CPython 3.11's random module; each literal names the python3 line
/// that printed it.
/// </summary>
public sealed class PythonRandomTests
{
    public static TheoryData<string, long[]> RandIntSequences => new()
    {
        // python3 -c "import random; random.seed(0); print([random.randint(0, 1999) for _ in range(20)])"
        { "0", [1729, 788, 1552, 1823, 861, 82, 530, 1977, 1047, 995, 829, 1880, 1605, 1699, 621, 1982, 976, 733, 1194, 1826] },
        // python3 -c "import random; random.seed(1234); print([random.randint(0, 1999) for _ in range(20)])"
        { "1234", [1979, 1593, 902, 239, 15, 185, 1865, 1930, 1923, 1652, 1192, 71, 1375, 1419, 171, 201, 1569, 726, 484, 35] },
        // python3 -c "import random; random.seed(2**40); print([random.randint(0, 1999) for _ in range(20)])"
        { "1099511627776", [212, 723, 1373, 134, 873, 99, 794, 817, 1283, 1147, 159, 1466, 1385, 804, 1409, 1125, 654, 771, 1540, 1481] },
        // python3 -c "import random; random.seed(-7); print([random.randint(0, 1999) for _ in range(20)])"
        { "-7", [663, 1941, 308, 808, 1333, 98, 148, 1681, 1097, 192, 748, 1193, 118, 1863, 1039, 439, 76, 176, 888, 856] },
        // python3 -c "import random; random.seed(2**64+5); print([random.randint(0, 1999) for _ in range(20)])"
        { "18446744073709551621", [1045, 1471, 1801, 1161, 1054, 205, 1546, 710, 1472, 136, 643, 1186, 1403, 1729, 1317, 1149, 89, 790, 1850, 819] },
    };

    [Theory]
    [MemberData(nameof(RandIntSequences))]
    public void RandInt_MatchesCPython(string seed, long[] expected)
    {
        var random = new PythonRandom(BigInteger.Parse(seed));
        var actual = expected.Select(_ => random.RandInt(0, 1999)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void GetRandBits_MatchesCPythonForShortAndMultiWordWidths()
    {
        // python3 -c "import random; random.seed(0); print([random.getrandbits(5) for _ in range(3)],
        //   [random.getrandbits(32) for _ in range(3)], [random.getrandbits(40) for _ in range(3)],
        //   [random.getrandbits(64) for _ in range(3)])"
        var random = new PythonRandom(0);
        Assert.Equal([27UL, 12, 24], Draw(random, 5, 3));
        Assert.Equal([3823568514UL, 1806341205, 173879092], Draw(random, 32, 3));
        Assert.Equal([1061968961082UL, 534771852898, 1011056493432], Draw(random, 40, 3));
        Assert.Equal([15308084094301570617UL, 17852758786694309641, 6604845167042249220], Draw(random, 64, 3));

        // Same line with random.seed(1234).
        random.Seed(1234);
        Assert.Equal([30UL, 24, 14], Draw(random, 5, 3));
        Assert.Equal([501869158UL, 32175636, 389311301], Draw(random, 32, 3));
        Assert.Equal([1038999730288UL, 888797392593, 36860386777], Draw(random, 40, 3));
        Assert.Equal([12785206268196001170UL, 1815566295097997766, 6541872259009091638], Draw(random, 64, 3));

        // Same line with random.seed(2**40) (a two-word key).
        random.Seed(1L << 40);
        Assert.Equal([3UL, 11, 21], Draw(random, 5, 3));
        Assert.Equal([282029048UL, 1832466665, 208659080], Draw(random, 32, 3));
        Assert.Equal([439751955173UL, 616871061218, 786313539586], Draw(random, 40, 3));
        Assert.Equal([7245975088162347058UL, 10139881716763477281, 6950753779324597727], Draw(random, 64, 3));
    }

    private static ulong[] Draw(PythonRandom random, int bits, int count) =>
        Enumerable.Range(0, count).Select(_ => random.GetRandBits(bits)).ToArray();

    [Fact]
    public void GetRandBitsBig_MatchesCPythonBeyond64Bits()
    {
        // python3 -c "import random; random.seed(0); print(random.getrandbits(100), random.getrandbits(0))"
        var random = new PythonRandom(0);
        Assert.Equal(BigInteger.Parse("1169245609517217401678349469645"), random.GetRandBitsBig(100));
        Assert.Equal(BigInteger.Zero, random.GetRandBitsBig(0));
        // python3 -c "import random; random.seed(-7); print(random.getrandbits(100))"
        Assert.Equal(BigInteger.Parse("487320478161116480663150048312"), new PythonRandom(-7).GetRandBitsBig(100));
    }

    public static TheoryData<string, long[], long[], long, double[]> MixedSequences => new()
    {
        // python3 -c "import random; random.seed(S); print([random.randint(0, 10**6) for _ in range(5)],
        //   [random.randint(-5, 5) for _ in range(5)], random.randint(0, 2**62), random.randint(7, 7));
        //   random.seed(S); print([random.random() for _ in range(4)])"   for S = 0, 1234, 2**40
        { "0", [885440, 403958, 794772, 933488, 441001], [-5, -1, 3, 2, 1], 2797566070375923040,
          [0.8444218515250481, 0.7579544029403025, 0.420571580830845, 0.25891675029296335] },
        { "1234", [815965, 462141, 122526, 7855, 95046], [4, -5, 5, -4, -4], 3270936131150551094,
          [0.9664535356921388, 0.4407325991753527, 0.007491470058587191, 0.9109759624491242] },
        { "1099511627776", [108673, 370381, 703128, 68854, 447379], [-5, 1, 1, 5, 3], 3622987543386986546,
          [0.1036394562812375, 0.6705558677439764, 0.4266543913526999, 0.38773077278691204] },
    };

    [Theory]
    [MemberData(nameof(MixedSequences))]
    public void RandIntRangesAndRandom_MatchCPython(string seed, long[] millions, long[] small, long huge, double[] floats)
    {
        var random = new PythonRandom(BigInteger.Parse(seed));
        Assert.Equal(millions, millions.Select(_ => random.RandInt(0, 1_000_000)).ToArray());
        Assert.Equal(small, small.Select(_ => random.RandInt(-5, 5)).ToArray());
        Assert.Equal(huge, random.RandInt(0, 1L << 62));
        Assert.Equal(7, random.RandInt(7, 7));

        random.Seed(BigInteger.Parse(seed));
        // Exact: the 53-bit construction must give the very same doubles.
        Assert.Equal(floats, floats.Select(_ => random.Random()).ToArray());
    }

    [Fact]
    public void ReseedingRestartsTheSequence()
    {
        var random = new PythonRandom(0);
        var first = random.RandInt(0, 1999);
        random.RandInt(0, 1999);
        random.Seed(0);
        Assert.Equal(first, random.RandInt(0, 1999));
        Assert.Equal(1729, first);
    }

    [Fact]
    public void EmptyRangeThrowsLikePython()
    {
        var random = new PythonRandom(0);
        Assert.Throws<ArgumentException>(() => random.RandInt(0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => random.RandBelow(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => random.GetRandBits(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => random.GetRandBits(65));
    }
}
