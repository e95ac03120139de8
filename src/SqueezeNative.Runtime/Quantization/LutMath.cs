namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// Nearest-entry lookups in a sorted look-up table, with one tie rule everywhere: a value exactly
/// halfway between two entries takes the lower index. The quantizers, the dense/sparse split
/// (Q(0)) and the tests all go through here, so a code always decodes to the nearest LUT entry
/// and Q(0) is the same entry the dense code of a removed weight points at.
/// </summary>
public static class LutMath
{
    /// <summary>Index of the entry of <paramref name="lut"/> (sorted ascending) nearest to <paramref name="value"/>.</summary>
    public static int NearestIndex(ReadOnlySpan<float> lut, float value)
    {
        // lut[j] is nearer than lut[j+1] iff value <= their midpoint; the midpoint of two floats
        // is exact in double, so this is the exact nearest entry, not an approximation.
        var index = 0;
        while (index + 1 < lut.Length && value > 0.5 * ((double)lut[index] + lut[index + 1]))
            index++;
        return index;
    }

    /// <summary>Q(0): the entry of a sorted LUT nearest to zero, i.e. what a zeroed weight decodes to.</summary>
    public static float NearestToZero(ReadOnlySpan<float> lut) => lut[NearestIndex(lut, 0f)];

    /// <summary>
    /// Codes for one row: each value gets the index of its nearest LUT entry; a position marked in
    /// <paramref name="excluded"/> (empty = none) is coded as if its value were 0, so it decodes to Q(0).
    /// <paramref name="midpoints"/> is scratch of at least lut.Length − 1 elements.
    /// </summary>
    internal static void AssignCodes(ReadOnlySpan<float> values, ReadOnlySpan<bool> excluded, ReadOnlySpan<float> lut,
        Span<byte> codes, Span<double> midpoints)
    {
        var mids = midpoints[..(lut.Length - 1)];
        for (var j = 0; j < mids.Length; j++)
            mids[j] = 0.5 * ((double)lut[j] + lut[j + 1]);
        var zeroCode = (byte)CountBelow(mids, 0.0);
        for (var i = 0; i < values.Length; i++)
            codes[i] = !excluded.IsEmpty && excluded[i] ? zeroCode : (byte)CountBelow(mids, values[i]);
    }

    /// <summary>Number of (ascending) midpoints strictly below x = the nearest-entry index, ties low.</summary>
    private static int CountBelow(ReadOnlySpan<double> mids, double x)
    {
        int lo = 0, hi = mids.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (mids[mid] < x)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    /// <summary>Rounds to the nearest fp16 value (what the checkpoint stores) and back to float.</summary>
    public static float RoundToHalf(float value) => (float)(Half)value;
}
