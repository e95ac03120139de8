using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Sensitivity;
using Xunit.Abstractions;

namespace SqueezeNative.Tests.Sensitivity;

/// <summary>
/// The Fisher pass on the trained test checkpoints (../shared/models): gradients against finite
/// differences on real text (llama), every architecture from a model folder, and the time of a
/// calibration pass on this CPU.
/// </summary>
[Collection("Models")]
public sealed class CheckpointFisherTests(ITestOutputHelper output)
{
    /// <summary>The first tokens of the tokenized WikiText-2 test text (BOS first).</summary>
    private static int[] WikiTextIds(int count)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Model("llama"), "wikitext2_ids_head.json")));
        return doc.RootElement.GetProperty("first_4096_ids").EnumerateArray().Take(count).Select(e => e.GetInt32()).ToArray();
    }

    /// <summary>
    /// One window of 64 tokens, the checkpoint converted to F32. Checked entries: per linear of
    /// layers 0 and 7 the largest |gradient|, and for layer 0 also one random entry with |g| ≥ 2e-3. Below that
    /// floor the F32 rounding of the loss (≈ 3e-7 near a loss of 3–5) over steps of h = 1e-2
    /// is no longer small against g. Tolerance: relative error 2e-2 (the trained model's
    /// gradients are smaller than a random tiny model's, so the same rounding weighs more);
    /// the measured errors are printed.
    /// </summary>
    [Fact]
    public void SampledWeightGradientsMatchFiniteDifferencesOnRealText()
    {
        const int tokens = 64;
        var window = WikiTextIds(tokens);
        using var context = NativeContext.Create(DeviceKind.Cpu);
        using var dir = ModelDirectory.Open(TestPaths.Model("llama"));
        using var weights = DecoderWeights.Create(dir.Weights!, context, new F32CheckpointSource());
        var fisher = new FisherSensitivity();
        var recorder = new GradientRecorder();
        recorder.Attach(fisher);

        var result = fisher.Compute(weights, [window]);

        using var session = new InferenceSession(weights, context, capacity: tokens, maxChunk: tokens);
        double loss = FiniteDifferences.InferenceLoss(session, window);
        Assert.Equal(loss, result.WindowLosses[0], 1e-5 * loss);
        var rng = new Random(3);
        double worst = 0;
        int checkedEntries = 0;
        var linears = LayerLinears.Resolve(weights);
        foreach (var (layer, random) in new[] { (0, 1), (7, 0) })
        {
            foreach (var linear in linears[layer].All)
            {
                var g = recorder.Gradients[linear.Spec.Name];
                var f = result[linear.Spec.Name].Values;
                double gMax = g.Max(Math.Abs);
                for (int i = 0; i < g.Length; i++)
                    Assert.True(Math.Abs(Math.Sqrt(f[i]) - Math.Abs(g[i])) <= 1e-3 * Math.Abs(g[i]) + 1e-5 * gMax, $"{linear}: F[{i}] = {f[i]}, g² = {g[i] * g[i]}");
                var original = linear.Weight.ToArray();
                foreach (var index in FiniteDifferences.SampleEntries(g, largest: 1, random, floor: 2e-3, rng))
                {
                    var fd = FiniteDifferences.Derivative(linear.Weight, original, index, h: 1e-2,
                        () => FiniteDifferences.InferenceLoss(session, window));
                    double error = Math.Abs(fd.Value - g[index]) / Math.Abs(g[index]);
                    worst = Math.Max(worst, error);
                    checkedEntries++;
                    output.WriteLine($"{linear.Spec.Name}[{index / linear.InFeatures}, {index % linear.InFeatures}]: backward {g[index]:E5}, finite difference {fd.Value:E5}, relative error {error:E2}");
                    Assert.True(error < 2e-2, $"{linear} entry {index}: backward {g[index]:E6}, finite difference {fd.Value:E6} (relative error {error:E2})");
                }
            }
        }
        output.WriteLine($"loss {loss:F5}; {checkedEntries} entries; worst relative error {worst:E2}");
        Assert.True(checkedEntries >= 18, $"only {checkedEntries} entries had a gradient above the floor");
    }

    /// <summary>
    /// Every test checkpoint through the pipeline's entry (a model folder, fp16 weights as
    /// stored): the pass's loss is the inference forward's, and every quantizable linear gets a
    /// finite, non-negative, non-zero Fisher matrix.
    /// </summary>
    [Theory]
    [InlineData("llama", 48)]
    [InlineData("mistral", 48)]
    [InlineData("opt", 48)]
    public void EveryCheckpointGivesFiniteFisherMatricesAndTheInferenceLoss(string name, int tokens)
    {
        var rng = new Random(17);
        var windows = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, tokens).Select(_ => rng.Next(3, 1000)).ToArray()).ToArray();
        using var dir = ModelDirectory.Open(TestPaths.Model(name));

        var result = new FisherSensitivity().Compute(dir, windows, DeviceKind.Cpu, threads: 0);

        Assert.Equal(dir.Weights!.QuantizableLinears.Select(q => q.Name), result.Matrices.Select(m => m.Name));
        foreach (var linear in dir.Weights.QuantizableLinears)
        {
            var values = result.Sensitivity(linear)!;
            Assert.All(values, v => Assert.True(float.IsFinite(v) && v >= 0, $"{linear}: {v}"));
            Assert.True(values.Max() > 0, $"{linear}: the Fisher matrix is zero");
        }
        using var session = Inference.Models.Get(name).CreateSession(capacity: tokens);
        for (int w = 0; w < windows.Length; w++)
        {
            double expected = FiniteDifferences.InferenceLoss(session, windows[w]);
            Assert.Equal(expected, result.WindowLosses[w], 1e-4 * expected);
        }
    }

    /// <summary>
    /// Prints (does not assert) the time of 4 windows of 512 tokens through the fp16 checkpoint as
    /// loaded for quantization, and the estimate for the reference's 100 × 512 calibration.
    /// </summary>
    [Fact]
    public void TimingOfFourWindowsOf512()
    {
        var ids = WikiTextIds(4096);
        var windows = Enumerable.Range(0, 4).Select(i => ids.AsSpan(i * 512, 512).ToArray()).ToArray();
        using var dir = ModelDirectory.Open(TestPaths.Model("llama"));
        using var model = DecoderModel.Load(dir, DeviceKind.Cpu, threads: 0, deviceOrdinal: 0, NullLogger.Instance);
        var fisher = new FisherSensitivity();
        fisher.Compute(model, [windows[0][..64]]);   // warm-up: JIT and first-touch of the weights

        var clock = Stopwatch.StartNew();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var result = fisher.Compute(model, windows);
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;

        Assert.All(result.WindowLosses, l => Assert.InRange(l, 0.5, 10));
        // Wall time is only meaningful on an idle machine: the load average and the process's CPU
        // time (÷ cores = the wall time it would take with the cores to itself) come with it.
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        output.WriteLine($"llama (26.5 M params, 8 layers), CPU, {Environment.ProcessorCount} cores, load average {load}: " +
            $"4 windows of 512 in {seconds:F2} s wall, {cpuSeconds:F2} s CPU " +
            $"({seconds / 4:F2} s per window); 100 × 512 estimated {seconds * 25:F0} s at this load, " +
            $"{cpuSeconds * 25 / Environment.ProcessorCount:F0} s with the cores to itself; mean loss {result.WindowLosses.Average():F4}");
    }
}
