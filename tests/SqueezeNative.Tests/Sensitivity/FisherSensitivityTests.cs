using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Sensitivity;
using Xunit.Abstractions;

namespace SqueezeNative.Tests.Sensitivity;

/// <summary>
/// The Fisher pass on tiny random F32 models of every architecture variant: its weight gradients
/// against central finite differences of the inference forward's loss, its accumulation over
/// windows and layer groups, its names and its input checks.
/// </summary>
public sealed class FisherSensitivityTests(ITestOutputHelper output)
{
    private const int WindowTokens = 12;

    public static TheoryData<string> Variants() => new(TinyConfigs.Variants);

    private sealed class TinyModel : IDisposable
    {
        public readonly NativeContext Context;
        public readonly DecoderModel Model;

        public TinyModel(string variant, ulong seed = 7)
        {
            Context = NativeContext.Create(DeviceKind.Cpu);
            try { Model = DecoderModel.Synthetic(TinyConfigs.Get(variant), Context, seed, NativeDType.F32); }
            catch { Context.Dispose(); throw; }
        }

        public void Dispose()
        {
            Model.Dispose();
            Context.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void WeightGradientsMatchFiniteDifferencesOfTheInferenceLoss(string variant)
    {
        using var tiny = new TinyModel(variant);
        var window = TinyConfigs.RandomWindow(seed: 11, WindowTokens, tiny.Model.VocabSize);
        var fisher = new FisherSensitivity();
        var recorder = new GradientRecorder();
        recorder.Attach(fisher);

        var result = fisher.Compute(tiny.Model, [window]);

        using var session = tiny.Model.CreateSession(capacity: WindowTokens);
        double inferenceLoss = FiniteDifferences.InferenceLoss(session, window);
        Assert.Equal(inferenceLoss, result.WindowLosses[0], 1e-5 * inferenceLoss);

        var rng = new Random(5);
        int checkedEntries = 0, kinked = 0;
        double worst = 0;
        foreach (var linear in LayerLinears.Resolve(tiny.Model.Weights).SelectMany(l => l.All))
        {
            var g = recorder.Gradients[linear.Spec.Name];
            var f = result[linear.Spec.Name].Values;
            // One window: the accumulated Fisher is the square of the gradient the probe saw.
            double gMax = g.Max(Math.Abs);
            for (int i = 0; i < g.Length; i++)
                Assert.True(Math.Abs(Math.Sqrt(f[i]) - Math.Abs(g[i])) <= 1e-3 * Math.Abs(g[i]) + 1e-5 * gMax, $"{linear}: F[{i}] = {f[i]}, g² = {g[i] * g[i]}");

            var original = linear.Weight.ToArray();
            foreach (var index in FiniteDifferences.SampleEntries(g, largest: 2, random: 2, floor: 5e-3, rng))
            {
                var fd = FiniteDifferences.Derivative(linear.Weight, original, index, h: 1e-2,
                    () => FiniteDifferences.InferenceLoss(session, window));
                if (!fd.Smooth)
                {
                    kinked++;
                    output.WriteLine($"{linear} entry {index}: a ReLU kink within ±2h (D(h) {fd.Step1:E4}, D(2h) {fd.Step2:E4}), not compared");
                    continue;
                }
                double error = Math.Abs(fd.Value - g[index]) / Math.Abs(g[index]);
                worst = Math.Max(worst, error);
                checkedEntries++;
                Assert.True(error < 1e-2, $"{variant} {linear} entry {index}: backward {g[index]:E6}, finite difference {fd.Value:E6} (relative error {error:E2})");
            }
        }
        output.WriteLine($"{variant}: {checkedEntries} entries, worst relative error {worst:E2}, {kinked} skipped at ReLU kinks, loss {inferenceLoss:F5}");
        Assert.True(checkedEntries >= 40, $"only {checkedEntries} entries had a gradient above the floor and no kink");
        // SiLU models are smooth everywhere: every sampled entry must be compared.
        if (tiny.Model.Architecture.Activation != ActivationKind.ReLU) Assert.Equal(0, kinked);
    }

    [Theory]
    [InlineData("llama-gqa-bias-tied")]
    [InlineData("opt")]
    public void FisherOfTwoWindowsIsTheSumOfSingleWindowFishers(string variant)
    {
        using var tiny = new TinyModel(variant);
        var a = TinyConfigs.RandomWindow(seed: 1, WindowTokens, tiny.Model.VocabSize);
        var b = TinyConfigs.RandomWindow(seed: 2, WindowTokens, tiny.Model.VocabSize);
        var fisher = new FisherSensitivity();

        var both = fisher.Compute(tiny.Model, [a, b]);
        var onlyA = fisher.Compute(tiny.Model, [a]);
        var onlyB = fisher.Compute(tiny.Model, [b]);

        Assert.Equal([onlyA.WindowLosses[0], onlyB.WindowLosses[0]], both.WindowLosses);
        foreach (var m in both.Matrices)
        {
            float[] fa = onlyA[m.Name].Values, fb = onlyB[m.Name].Values;
            Assert.True(fa.Any(v => v > 0) && fb.Any(v => v > 0), $"{m.Name}: a window left the Fisher at zero");
            for (int i = 0; i < m.Values.Length; i++)
            {
                double sum = (double)fa[i] + fb[i];
                Assert.True(Math.Abs(m.Values[i] - sum) <= 1e-5 * sum + 1e-30, $"{m.Name}[{i}]: {m.Values[i]} vs {fa[i]} + {fb[i]}");
            }
        }
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("opt-post-norm")]
    public void LayerGroupsGiveTheFisherOfTheWholeModel(string variant)
    {
        using var tiny = new TinyModel(variant);
        var windows = new[] { TinyConfigs.RandomWindow(3, WindowTokens, 50), TinyConfigs.RandomWindow(4, WindowTokens, 50) };
        var whole = new FisherSensitivity().Compute(tiny.Model, windows);
        var progress = new List<(int, int)>();

        var groups = new FisherSensitivity(new FisherOptions { MaxResidentLayers = 1 })
            .ComputeByLayerGroups(tiny.Model.Weights, windows, (done, total) => progress.Add((done, total))).ToList();

        Assert.Equal(2, groups.Count);
        Assert.All(groups[0].Matrices, m => Assert.Equal(0, m.Layer));
        Assert.All(groups[1].Matrices, m => Assert.Equal(1, m.Layer));
        Assert.Equal([(1, 4), (2, 4), (3, 4), (4, 4)], progress);
        var combined = FisherResult.Combine(groups);
        Assert.Equal(whole.Matrices.Select(m => m.Name), combined.Matrices.Select(m => m.Name));
        foreach (var m in whole.Matrices)
        {
            var g = combined[m.Name].Values;
            for (int i = 0; i < g.Length; i++)
                Assert.True(Math.Abs(g[i] - m.Values[i]) <= 1e-5 * m.Values[i] + 1e-30, $"{m.Name}[{i}]: {g[i]} vs {m.Values[i]}");
        }
    }

    [Theory]
    [InlineData("mistral-sliding")]
    [InlineData("opt")]
    public void MatricesAreTheArchitecturesQuantizableLinears(string variant)
    {
        using var tiny = new TinyModel(variant);
        var config = tiny.Model.Config;
        var arch = ArchitectureRegistry.Resolve(config);
        using var source = new SyntheticTensorSource(arch, config);
        var quantizable = arch.LoadWeights(source, config).QuantizableLinears;

        var result = new FisherSensitivity().Compute(tiny.Model, [TinyConfigs.RandomWindow(9, WindowTokens, 50)]);

        Assert.Equal(quantizable.Select(q => q.Name), result.Matrices.Select(m => m.Name));
        Assert.Equal(quantizable.Select(q => q.Role), result.Matrices.Select(m => m.Role));
        foreach (var linear in quantizable)
        {
            var values = result.Sensitivity(linear);
            Assert.NotNull(values);
            Assert.Equal(linear.OutFeatures * linear.InFeatures, values.Length);
            Assert.All(values, v => Assert.True(v >= 0 && float.IsFinite(v)));
            Assert.Contains(values, v => v > 0);
        }
        Assert.Null(new FisherResult([], []).Sensitivity(quantizable[0]));
    }

    [Fact]
    public void BadWindowsAreRejectedNamingTheOption()
    {
        using var tiny = new TinyModel("llama");
        var fisher = new FisherSensitivity();
        var ok = TinyConfigs.RandomWindow(1, WindowTokens, 50);

        Assert.Equal("--nsamples", Assert.Throws<InvalidOptionException>(() => fisher.Compute(tiny.Model, [])).OptionName);
        var uneven = Assert.Throws<InvalidOptionException>(() => fisher.Compute(tiny.Model, [ok, ok[..5]]));
        Assert.Equal("--seqlen", uneven.OptionName);
        Assert.Contains("window 1 has 5", uneven.Message);
        Assert.Equal("--seqlen", Assert.Throws<InvalidOptionException>(() => fisher.Compute(tiny.Model, [[3]])).OptionName);
        Assert.Equal("--seqlen", Assert.Throws<InvalidOptionException>(() => fisher.Compute(tiny.Model, [new int[65]])).OptionName);
        var badId = Assert.Throws<InvalidOptionException>(() => fisher.Compute(tiny.Model, [[1, 2, 50]]));
        Assert.Contains("position 2: token id 50", badId.Message);
        Assert.Equal("maxResidentLayers",
            Assert.Throws<InvalidOptionException>(() => new FisherSensitivity(new FisherOptions { MaxResidentLayers = -1 }).Compute(tiny.Model, [ok])).OptionName);

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => fisher.Compute(tiny.Model, [ok], cancellationToken: cancelled.Token));
    }
}
