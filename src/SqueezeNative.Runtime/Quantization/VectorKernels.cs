using System.Numerics;
using System.Runtime.InteropServices;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>The few dense loops GPTQ needs, SIMD over <see cref="Vector{T}"/>.</summary>
internal static class VectorKernels
{
    /// <summary>Σ a_i b_i.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var n = a.Length;
        var i = 0;
        var sum = 0.0;
        if (Vector.IsHardwareAccelerated && n >= Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector<double>>(b[..n]);
            var acc = Vector<double>.Zero;
            for (var v = 0; v < va.Length; v++)
                acc += va[v] * vb[v];
            sum = Vector.Sum(acc);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < n; i++)
            sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y += alpha · x.</summary>
    public static void AddScaled(Span<double> y, ReadOnlySpan<double> x, double alpha)
    {
        var n = y.Length;
        var i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<double>.Count)
        {
            var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
            var vx = MemoryMarshal.Cast<double, Vector<double>>(x[..n]);
            var va = new Vector<double>(alpha);
            for (var v = 0; v < vy.Length; v++)
                vy[v] += va * vx[v];
            i = vy.Length * Vector<double>.Count;
        }
        for (; i < n; i++)
            y[i] += alpha * x[i];
    }

    /// <summary>y −= alpha · x.</summary>
    public static void SubtractScaled(Span<float> y, ReadOnlySpan<float> x, float alpha)
    {
        var n = y.Length;
        var i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vy = MemoryMarshal.Cast<float, Vector<float>>(y);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x[..n]);
            var va = new Vector<float>(alpha);
            for (var v = 0; v < vy.Length; v++)
                vy[v] -= va * vx[v];
            i = vy.Length * Vector<float>.Count;
        }
        for (; i < n; i++)
            y[i] -= alpha * x[i];
    }
}
