namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// Exact order statistics of large float arrays without sorting or copying them: a two-pass radix
/// select on order-preserving 32-bit keys (16 high bits, then 16 low bits among the elements of
/// the chosen high bin). Two streaming passes, 2 × 256 KiB of histograms. NaN must not occur.
/// </summary>
internal static class FloatSelection
{
    private const int BinCount = 1 << 16;

    /// <summary>A key whose unsigned order is the float order (−0 sorts just below +0).</summary>
    public static uint Key(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }

    public static float FromKey(uint key)
    {
        var bits = (key & 0x8000_0000u) != 0 ? key & 0x7FFF_FFFFu : ~key;
        return BitConverter.UInt32BitsToSingle(bits);
    }

    /// <summary>
    /// The key of the element of ascending rank <paramref name="rank"/> (0-based) among the
    /// elements not marked in <paramref name="skip"/> (empty = none), taken as |x| when
    /// <paramref name="absolute"/>.
    /// </summary>
    public static uint KeyAtRank(ReadOnlySpan<float> data, ReadOnlySpan<bool> skip, bool absolute, long rank)
    {
        var histogram = new long[BinCount];
        for (var i = 0; i < data.Length; i++)
        {
            if (!skip.IsEmpty && skip[i])
                continue;
            histogram[Key(absolute ? Math.Abs(data[i]) : data[i]) >> 16]++;
        }
        var high = FindBin(histogram, ref rank);

        Array.Clear(histogram);
        for (var i = 0; i < data.Length; i++)
        {
            if (!skip.IsEmpty && skip[i])
                continue;
            var key = Key(absolute ? Math.Abs(data[i]) : data[i]);
            if (key >> 16 == high)
                histogram[key & 0xFFFF]++;
        }
        var low = FindBin(histogram, ref rank);
        return (high << 16) | low;
    }

    /// <summary>The value of ascending rank <paramref name="rank"/>.</summary>
    public static float ValueAtRank(ReadOnlySpan<float> data, long rank)
        => FromKey(KeyAtRank(data, ReadOnlySpan<bool>.Empty, absolute: false, rank));

    private static uint FindBin(long[] histogram, ref long rank)
    {
        for (var bin = 0; bin < histogram.Length; bin++)
        {
            if (rank < histogram[bin])
                return (uint)bin;
            rank -= histogram[bin];
        }
        throw new ArgumentOutOfRangeException(nameof(rank), "rank is not below the number of selected elements");
    }
}
