namespace SqueezeNative.Tests.Quantization;

/// <summary>Seeded random matrices for the quantization tests.</summary>
internal static class QuantizationTestData
{
    public static double NextGaussian(this Random rng)
    {
        // Box–Muller; 1 − NextDouble() is in (0, 1], so the log is finite.
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public static float[] Gaussian(Random rng, int count, double std = 1.0)
    {
        var result = new float[count];
        for (var i = 0; i < count; i++)
            result[i] = (float)(rng.NextGaussian() * std);
        return result;
    }

    /// <summary>Weights like an LLM's: Gaussian bulk plus a few large values.</summary>
    public static float[] WeightsWithOutliers(Random rng, int count, double std = 0.02, double outlierShare = 0.01)
    {
        var result = new float[count];
        for (var i = 0; i < count; i++)
        {
            var v = rng.NextGaussian() * std;
            if (rng.NextDouble() < outlierShare)
                v *= 8;
            result[i] = (float)v;
        }
        return result;
    }

    /// <summary>Sensitivities like squared gradients: positive, spread over several orders of magnitude.</summary>
    public static float[] Fisher(Random rng, int count)
    {
        var result = new float[count];
        for (var i = 0; i < count; i++)
            result[i] = (float)Math.Exp(2.5 * rng.NextGaussian() - 10);
        return result;
    }
}
