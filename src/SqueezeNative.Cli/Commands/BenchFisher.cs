using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Sensitivity;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// `squeeze bench fisher --synthetic CONFIG_DIR [--device cpu|cuda] [--windows N] [--seqlen T]
/// [--fisher-layers N] [--seed S] [--threads N]`: the Fisher sensitivity pass of `squeeze quantize`
/// (forward + backward of every window, squared weight gradients accumulated on the device, then
/// the accumulators downloaded to host float[]) over a random fp16 model of the config's exact
/// shape and N random token windows. Prints the time per window pass, the download of the Fisher
/// matrices, the whole pass, the mean loss (about ln(vocab) for random weights) and peak memory;
/// checks that every Fisher value is finite and non-negative.
/// </summary>
internal static class BenchFisher
{
    public static Command Create()
    {
        var synthetic = new Option<string>("--synthetic") { Description = "Folder with a config.json (e.g. ../shared/configs/llama-2-7b): the model shape.", Required = true };
        var device = ModelOptions.DeviceOption();
        var threads = ModelOptions.ThreadsOption();
        var windows = new Option<int>("--windows") { Description = "Calibration windows (random token ids).", DefaultValueFactory = _ => 100 };
        var seqlen = new Option<int>("--seqlen") { Description = "Tokens per window (2 .. the config's max positions).", DefaultValueFactory = _ => 512 };
        var fisherLayers = QuantizeCommand.FisherLayersOption();
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights and token windows.", DefaultValueFactory = _ => 1 };
        var compareCpu = new Option<bool>("--compare-cpu")
        {
            Description = "Also run the pass on a CPU context over the same weights (sn_fill_random gives every backend the same bits) and windows, and compare the Fisher matrices: ‖F − F_cpu‖ / ‖F_cpu‖ per matrix (fails above 5 %). For small shapes: the CPU pass is slow.",
        };
        var command = new Command("fisher", "Time the Fisher sensitivity pass (forward + backward per window, download of the matrices) on a random model.")
        {
            synthetic, device, threads, windows, seqlen, fisherLayers, seed, compareCpu,
        };
        command.SetAction(parse => CliCommon.Run(parse, loggers =>
        {
            int n = parse.GetValue(windows), tokens = parse.GetValue(seqlen), perGroup = parse.GetValue(fisherLayers), s = parse.GetValue(seed);
            if (n < 1) throw new InvalidOptionException("--windows", $"must be at least 1; got {n.ToString(CultureInfo.InvariantCulture)}");
            if (tokens < 2) throw new InvalidOptionException("--seqlen", $"must be at least 2 tokens; got {tokens.ToString(CultureInfo.InvariantCulture)}");
            QuantizeCommand.ValidateFisherLayers(perGroup);
            var dir = parse.GetValue(synthetic)!;
            var config = ModelConfig.Load(Path.Combine(dir, "config.json"));
            if (tokens > config.MaxPositions)
                throw new InvalidOptionException("--seqlen", $"{tokens} tokens exceed the model's context of {config.MaxPositions}");
            var quantizable = ArchitectureRegistry.Resolve(config).DescribeTensors(config).Where(t => t.Quantizable).ToList();
            long weights = quantizable.Sum(t => t.ElementCount);
            int layers = config.NumLayers;
            int groupSize = perGroup == 0 ? Math.Max(layers, 1) : Math.Min(perGroup, Math.Max(layers, 1));
            int groups = (layers + groupSize - 1) / groupSize;
            long residentWeights = quantizable.Where(t => (t.Layer ?? 0) < groupSize).Sum(t => t.ElementCount);

            var log = loggers.CreateLogger("bench");
            var kind = ModelOptions.ParseDevice(parse.GetValue(device)!);
            using var ctx = NativeContext.Create(kind, parse.GetValue(threads), 0, log);
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"machine: {ctx.DeviceName}; host {BenchCommand.MachineDescription()}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model: synthetic {config.ModelType} from {dir}, fp16, {layers} layers, hidden {config.HiddenSize}, intermediate {config.IntermediateSize}, vocab {config.VocabSize}; " +
                $"{weights:N0} quantizable weights in {quantizable.Count} matrices, F32 accumulators {BenchCommand.Size(4.0 * weights)} " +
                $"({groups} group(s) of {groupSize} layers: {BenchCommand.Size(4.0 * residentWeights)} resident at once)"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run: {n} windows of {tokens} random tokens (seed {s}), {groups * n} window passes (forward + backward)"));

            ctx.ResetPeakMemory();
            using var model = DecoderModel.Synthetic(config, ctx, unchecked((ulong)s), NativeDType.F16);
            var rng = new Random(s);
            var ids = new int[n][];
            for (int w = 0; w < n; w++)
            {
                ids[w] = new int[tokens];
                for (int t = 0; t < tokens; t++) ids[w][t] = rng.Next(config.VocabSize);
            }

            // Each progress call ends one window pass. The context is synchronised there so that a
            // pass's backward, which the next forward would otherwise overlap with its launches, is
            // counted in its own pass, and the download timed from the last call holds only the
            // download (device to host float[], the accumulators freed).
            var passMs = new List<double>(groups * n);
            double downloadSeconds = 0, loss = double.NaN;
            long matrices = 0, values = 0, bad = 0;
            bool compare = parse.GetValue(compareCpu);
            var kept = new List<FisherMatrix>();
            var lap = new Stopwatch();
            Action<int, int> onPass = (_, _) =>
            {
                ctx.Synchronize();
                passMs.Add(lap.Elapsed.TotalMilliseconds);
                lap.Restart();
            };
            var fisher = new FisherSensitivity(new FisherOptions { MaxResidentLayers = perGroup }, log);
            var total = Stopwatch.StartNew();
            lap.Start();
            foreach (var result in fisher.ComputeByLayerGroups(model.Weights, ids, onPass))
            {
                downloadSeconds += lap.Elapsed.TotalSeconds;
                // The check is not part of the pass: the clocks stop for it.
                total.Stop();
                if (double.IsNaN(loss)) loss = result.WindowLosses.Average();
                foreach (var m in result.Matrices)
                {
                    matrices++;
                    values += m.Values.LongLength;
                    foreach (var v in m.Values)
                    {
                        if (!(v >= 0 && float.IsFinite(v))) bad++;
                    }
                    if (compare) kept.Add(m);
                }
                // Nothing keeps the result past the next group (as in the pipeline, the groups are never all in host memory at once).
                total.Start();
                lap.Restart();
            }
            total.Stop();
            var memory = ctx.Memory();

            double median = BenchCommand.Median(passMs);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"window pass: {median:F1} ms median (min {passMs.Min():F1}, max {passMs.Max():F1} over {passMs.Count}; the first of each group includes allocating its accumulators, the very first the pass's buffers)"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"download: {downloadSeconds:F2} s for {matrices} Fisher matrices, {BenchCommand.Size(4.0 * values)} to host float[]"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mean loss {loss:F4} over the {n} windows (ln(vocab) = {Math.Log(config.VocabSize):F4}: random weights predict about uniformly)"));
            output.WriteLine(BenchCommand.PeakMemoryLine("model, activations, accumulators", memory));
            var ok = bad == 0 && matrices == quantizable.Count && double.IsFinite(loss);
            if (compare) ok &= CompareWithCpu(output, config, s, ids, kept, parse.GetValue(threads), log);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"check: {matrices} of {quantizable.Count} matrices, {bad} values negative or not finite ({(ok ? "ok" : "FAILED")})"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fisher pass: {n} windows × {tokens} tokens in {total.Elapsed.TotalSeconds:F2} s ({median:F1} ms/window median), download {downloadSeconds:F2} s"));
            return ok ? CliCommon.ExitOk : CliCommon.ExitError;
        }));
        return command;
    }

    /// <summary>
    /// The same pass on a CPU context (same synthetic weights, same windows): prints each matrix's
    /// relative L2 difference and the worst; false when a matrix differs by more than 5 % (the
    /// CUDA pass's TF32 products put it near 1e-3; a wrong gradient puts it near 1).
    /// </summary>
    private static bool CompareWithCpu(TextWriter output, ModelConfig config, int seed, int[][] ids, List<FisherMatrix> device,
        int threads, Microsoft.Extensions.Logging.ILogger log)
    {
        using var cpu = NativeContext.Create(DeviceKind.Cpu, threads, 0, log);
        using var model = DecoderModel.Synthetic(config, cpu, unchecked((ulong)seed), NativeDType.F16);
        var clock = Stopwatch.StartNew();
        var reference = new FisherSensitivity(new FisherOptions(), log).Compute(model, ids).Matrices.ToDictionary(m => m.Name);
        double worst = 0;
        string worstName = "";
        var differences = new List<double>();
        foreach (var m in device)
        {
            var r = reference[m.Name].Values;
            double error = 0, norm = 0;
            for (long i = 0; i < r.LongLength; i++)
            {
                double d = (double)m.Values[i] - r[i];
                error += d * d;
                norm += (double)r[i] * r[i];
            }
            var relative = norm > 0 ? Math.Sqrt(error / norm) : (error > 0 ? double.PositiveInfinity : 0);
            differences.Add(relative);
            if (worstName.Length == 0 || !(relative <= worst)) { worst = relative; worstName = m.Name; }   // NaN counts as worst
        }
        var ok = differences.Count == reference.Count && worst <= 0.05;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"against the CPU pass ({clock.Elapsed.TotalSeconds:F1} s, same weights and windows): ‖F − F_cpu‖ / ‖F_cpu‖ median {BenchCommand.Median(differences):E2}, worst {worst:E2} ({worstName}) over {differences.Count} matrices ({(ok ? "ok" : "ABOVE 5 %")})"));
        return ok;
    }


}
