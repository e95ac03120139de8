using System.Globalization;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// Argument checks shared by the quantizers. Shape mismatches are programming errors
/// (<see cref="ArgumentException"/>); option values and data problems are the user's
/// (<see cref="InvalidOptionException"/>, <see cref="QuantizationException"/>).
/// </summary>
internal static class QuantizationArguments
{
    /// <summary>Codes are stored one per byte, so at most 8 bits; 1 bit is the smallest LUT (2 entries).</summary>
    public const int MinBits = 1;
    public const int MaxBits = 8;

    public static void CheckShape(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        if ((long)rows * cols > Array.MaxLength)
            throw new ArgumentException($"a {rows}x{cols} matrix has more elements than one array can hold");
    }

    public static void CheckLength(int length, int rows, int cols, string paramName)
    {
        if (length != rows * cols)
            throw new ArgumentException($"expected {rows}x{cols} = {rows * cols} elements, got {length}", paramName);
    }

    public static void CheckBits(int bits)
    {
        if (bits < MinBits || bits > MaxBits)
            throw new InvalidOptionException("--bits",
                $"must be between {MinBits} and {MaxBits} (one code per byte); got {bits.ToString(CultureInfo.InvariantCulture)}");
    }

    public static void CheckFinite(ReadOnlySpan<float> values, string what, string? tensorName)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
                throw new QuantizationException(
                    $"{what} at flat index {i.ToString(CultureInfo.InvariantCulture)} is {values[i].ToString(CultureInfo.InvariantCulture)}; only finite values can be quantized",
                    tensorName);
        }
    }

    /// <summary>Sensitivities are sums of squared gradients: finite and never negative.</summary>
    public static void CheckSensitivity(ReadOnlySpan<float> fisher, string? tensorName)
    {
        for (var i = 0; i < fisher.Length; i++)
        {
            if (!(fisher[i] >= 0f) || float.IsPositiveInfinity(fisher[i]))
                throw new QuantizationException(
                    $"sensitivity (Fisher) at flat index {i.ToString(CultureInfo.InvariantCulture)} is {fisher[i].ToString(CultureInfo.InvariantCulture)}; it must be finite and >= 0",
                    tensorName);
        }
    }
}
