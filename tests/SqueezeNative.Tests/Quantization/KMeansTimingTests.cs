using System.Diagnostics;
using SqueezeNative.Runtime.Quantization;
using Xunit.Abstractions;

namespace SqueezeNative.Tests.Quantization;

/// <summary>Prints (does not assert) how long each k-means method takes on a LLaMA-7B-sized row block.</summary>
public class KMeansTimingTests(ITestOutputHelper output)
{
    [Fact]
    public void Exact_versus_Lloyd_timing_for_256_rows_of_4096()
    {
        const int rows = 256, cols = 4096;
        var rng = new Random(9000);
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var fisher = QuantizationTestData.Fisher(rng, rows * cols);
        // Warm up the JIT on a small problem so the timings are of the algorithms.
        WeightedKMeans1D.Quantize(w.AsSpan(0, 4 * cols), fisher.AsSpan(0, 4 * cols), 4, cols, 3, KMeansMethod.Exact, 0);
        WeightedKMeans1D.Quantize(w.AsSpan(0, 4 * cols), fisher.AsSpan(0, 4 * cols), 4, cols, 3, KMeansMethod.Lloyd, 0);

        output.WriteLine($"{rows} rows x {cols} columns, Fisher-weighted, {Environment.ProcessorCount} threads");
        foreach (var bits in new[] { 3, 4 })
        {
            foreach (var method in new[] { KMeansMethod.Lloyd, KMeansMethod.Exact })
            {
                var clock = Stopwatch.StartNew();
                var q = WeightedKMeans1D.Quantize(w, fisher, rows, cols, bits, method, seed: 0);
                var seconds = clock.Elapsed.TotalSeconds;
                double error = 0;
                for (var r = 0; r < rows; r++)
                    error += WeightedKMeans1D.WeightedSquaredError(w.AsSpan(r * cols, cols), fisher.AsSpan(r * cols, cols),
                        q.RowLut(r), q.Codes.AsSpan(r * cols, cols));
                output.WriteLine($"{bits}-bit {method,-5}: {seconds * 1000,8:F1} ms ({seconds * 1e6 / rows,7:F1} us/row), Fisher-weighted error {error:E4}");
            }
        }
    }
}
