using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// `squeeze bench decode (MODEL | --synthetic CONFIG_DIR)`: prefill and decode speed of a model,
/// with and without the recorded decode graph, ops per token, peak memory, and the memory-bound
/// floor (bytes read per token ÷ copy bandwidth measured in the same run).
/// </summary>
internal static class BenchDecode
{
    public static Command Create()
    {
        var model = new Argument<string?>("model") { Description = "Model folder (omit with --synthetic).", Arity = ArgumentArity.ZeroOrOne };
        var synthetic = new Option<string?>("--synthetic") { Description = "Folder with a config.json: benchmark a random-weight model of exactly that shape (no weights read)." };
        var device = ModelOptions.DeviceOption();
        device.DefaultValueFactory = _ => "cuda";
        var threads = ModelOptions.ThreadsOption();
        var dtype = new Option<string>("--dtype") { Description = "Weight dtype of a synthetic model: fp16 or bf16.", DefaultValueFactory = _ => "fp16" };
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens (prefill).", DefaultValueFactory = _ => 128 };
        var tokens = new Option<int>("--tokens") { Description = "Decode steps per repetition.", DefaultValueFactory = _ => 128 };
        var repeat = new Option<int>("--repeat") { Description = "Repetitions; medians are reported.", DefaultValueFactory = _ => 5 };
        var context = new Option<int?>("--context") { Description = "KV-cache capacity in tokens (default: prompt + tokens)." };

        var command = new Command("decode", "Decode speed, graph vs no graph, peak memory and % of the bandwidth floor.")
        {
            model, synthetic, device, threads, dtype, prompt, tokens, repeat, context,
        };
        command.SetAction(parse => CliCommon.Run(parse, loggers =>
        {
            int p = parse.GetValue(prompt), n = parse.GetValue(tokens), reps = parse.GetValue(repeat);
            if (p < 1) throw new InvalidOptionException("--prompt", "must be at least 1");
            if (n < 2) throw new InvalidOptionException("--tokens", "must be at least 2");
            if (reps < 1) throw new InvalidOptionException("--repeat", "must be at least 1");
            var log = loggers.CreateLogger("bench");
            var modelDir = parse.GetValue(model);
            var syntheticDir = parse.GetValue(synthetic);
            if ((modelDir is null) == (syntheticDir is null))
                throw new InvalidOptionException("--synthetic", "give either a model folder or --synthetic CONFIG_DIR (not both)");
            var weightDType = parse.GetValue(dtype) switch
            {
                "fp16" => NativeDType.F16,
                "bf16" => NativeDType.BF16,
                var other => throw new InvalidOptionException("--dtype", $"unknown dtype '{other}' (fp16, bf16)"),
            };

            var kind = ModelOptions.ParseDevice(parse.GetValue(device)!);
            using var ctx = NativeContext.Create(kind, parse.GetValue(threads), 0, log);
            using var decoder = syntheticDir is not null
                ? DecoderModel.Synthetic(ModelConfig.Load(Path.Combine(syntheticDir, "config.json")), ctx, seed: 1, weightDType)
                : LoadReal(modelDir!, ctx);
            int capacity = parse.GetValue(context) ?? p + n;
            if (capacity < p + n) throw new InvalidOptionException("--context", $"must hold prompt + tokens ({p + n})");
            if (capacity > decoder.ContextLength)
                throw new InvalidOptionException("--context", $"{capacity} tokens exceed the model's context of {decoder.ContextLength}");

            var output = parse.InvocationConfiguration.Output;
            var c = decoder.Config;
            output.WriteLine($"machine: {ctx.DeviceName}; host {BenchCommand.MachineDescription()}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model: {(syntheticDir is not null ? $"synthetic {c.ModelType} from {syntheticDir}" : modelDir)} — {c.NumLayers} layers, hidden {c.HiddenSize}, heads {c.NumHeads}/{c.NumKvHeads}, inter {c.IntermediateSize}, vocab {c.VocabSize}; weights {decoder.Weights.WeightBytes / 1e9:F3} GB ({parse.GetValue(dtype)})"));
            output.WriteLine($"run: prompt {p} tokens, {n} decode steps, {reps} repetitions (+1 warm-up), KV capacity {capacity}");

            double copyGBs = MeasureCopyBandwidth(ctx);
            ctx.ResetPeakMemory();
            using var session = decoder.CreateSession(capacity, maxChunk: p);
            var ids = DecodeTiming.PromptIds(p, decoder.VocabSize);

            (double prefill, double decode) Run(bool graph)
            {
                session.UseGraph = graph;
                var t = DecodeTiming.Measure(session, ids, n, reps, decoder.VocabSize);
                return (BenchCommand.Median(t.PrefillTokensPerSecond), BenchCommand.Median(t.DecodeMsPerToken));
            }

            var withGraph = Run(graph: true);
            long ops = session.DecodeOpsPerToken ?? 0;
            var noGraph = Run(graph: false);
            var mem = ctx.Memory();

            // Bytes one decode step must read: every weight once (the embedding only one row, but
            // tied heads read the whole table), plus the KV cache up to the mean position.
            double meanPos = p + n / 2.0;
            int kvBytesPerElem = ctx.ActivationDType == NativeDType.F32 ? 4 : 2;
            double kvBytes = 2.0 * c.NumLayers * meanPos * c.KvDim * kvBytesPerElem;
            double weightBytes = decoder.Weights.WeightBytes;
            if (!ReferenceEquals(decoder.Weights.LmHead, decoder.Weights.Embed))
                weightBytes -= decoder.Weights.Embed.ByteLength;   // untied: only one embedding row is read
            double floorMs = (weightBytes + kvBytes) / (copyGBs * 1e9) * 1e3;

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"copy bandwidth (same run): {copyGBs:F0} GB/s"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prefill: {withGraph.prefill:F0} tokens/s (median)"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"decode with graph:    {withGraph.decode:F3} ms/token = {1000 / withGraph.decode:F1} tokens/s (median of {reps}), {ops} ops (kernel launches) per token"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"decode without graph: {noGraph.decode:F3} ms/token = {1000 / noGraph.decode:F1} tokens/s (median of {reps}); graph speed-up {noGraph.decode / withGraph.decode:F2}x"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"floor: {(weightBytes + kvBytes) / 1e9:F3} GB read per token / {copyGBs:F0} GB/s = {floorMs:F3} ms; with graph at {floorMs / withGraph.decode * 100:F1} % of the floor"));
            // Both units: GB (10^9, as weight sizes are usually quoted) and GiB (2^30, as GPUs report).
            static string Size(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:F3} GB = {bytes / (1L << 30):F3} GiB");
            var deviceUse = mem.DeviceTotalBytes > 0
                ? $"; device in use now (CUDA context and cuBLAS workspace included) {Size(mem.DeviceTotalBytes - mem.DeviceFreeBytes)} of {Size(mem.DeviceTotalBytes)}"
                : "";
            output.WriteLine($"peak memory: tensors {Size(mem.PeakAllocatedBytes)}" + deviceUse);
            return CliCommon.ExitOk;
        }));
        return command;
    }

    private static DecoderModel LoadReal(string dir, NativeContext ctx)
    {
        using var md = ModelDirectory.Open(dir);
        return DecoderModel.OnContext(md, ctx);
    }

    /// <summary>
    /// Device copy bandwidth, counting bytes read + written: median of timed 256 MiB sn_copy calls
    /// (large against any L2, so it measures memory, not cache).
    /// </summary>
    internal static double MeasureCopyBandwidth(NativeContext ctx)
    {
        long elements = ctx.Device == DeviceKind.Cuda ? 128L << 20 : 16L << 20;   // F16: 256 MiB on the GPU
        using var a = ctx.Tensor(NativeDType.F16, elements);
        using var b = ctx.Tensor(NativeDType.F16, elements);
        ctx.FillRandom(a, 3, 1f);
        var rates = new List<double>();
        for (int i = 0; i < 12; i++)
        {
            ctx.Synchronize();
            var clock = Stopwatch.StartNew();
            ctx.Copy(a, b);
            ctx.Synchronize();
            if (i >= 2) rates.Add(2.0 * elements * 2 / clock.Elapsed.TotalSeconds / 1e9);
        }
        return BenchCommand.Median(rates);
    }
}
