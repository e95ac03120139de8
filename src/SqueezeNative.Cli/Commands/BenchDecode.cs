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
/// `squeeze bench decode (MODEL | --synthetic CONFIG_DIR [--wbits 3|4 [--sparsity P]])`: prefill
/// and decode speed of a model, with and without the recorded decode graph, ops per token, peak
/// memory, and the memory-bound floor (bytes read per token ÷ copy bandwidth measured in the same
/// run). With --wbits, a random SqueezeLLM-quantized model of the config's shape and then the fp16
/// one, one after the other on the same context, and their ratio.
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
        var dtype = new Option<string>("--dtype") { Description = "Weight dtype of a synthetic (unquantized) model: fp16 or bf16.", DefaultValueFactory = _ => "fp16" };
        var wbits = new Option<int?>("--wbits") { Description = "With --synthetic: also a random SqueezeLLM model of this many bits (3 or 4), compared with the unquantized one." };
        var sparsity = new Option<double?>("--sparsity") { Description = "With --wbits: sparse entries in percent of the weights, e.g. 0.45 (default 0)." };
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens (prefill).", DefaultValueFactory = _ => 128 };
        var tokens = new Option<int>("--tokens") { Description = "Decode steps per repetition.", DefaultValueFactory = _ => 128 };
        var repeat = new Option<int>("--repeat") { Description = "Repetitions; medians are reported.", DefaultValueFactory = _ => 5 };
        var context = new Option<int?>("--context") { Description = "KV-cache capacity in tokens (default: prompt + tokens)." };

        var command = new Command("decode", "Decode speed, graph vs no graph, peak memory and % of the bandwidth floor.")
        {
            model, synthetic, device, threads, dtype, wbits, sparsity, prompt, tokens, repeat, context,
        };
        command.SetAction(parse => CliCommon.Run(parse, loggers =>
        {
            var run = new RunSettings(parse.GetValue(prompt), parse.GetValue(tokens), parse.GetValue(repeat), parse.GetValue(context));
            if (run.Prompt < 1) throw new InvalidOptionException("--prompt", "must be at least 1");
            if (run.Tokens < 2) throw new InvalidOptionException("--tokens", "must be at least 2");
            if (run.Repeat < 1) throw new InvalidOptionException("--repeat", "must be at least 1");
            if (run.Context is { } cap && cap < run.Prompt + run.Tokens)
                throw new InvalidOptionException("--context", $"must hold prompt + tokens ({run.Prompt + run.Tokens})");
            var log = loggers.CreateLogger("bench");
            var modelDir = parse.GetValue(model);
            var syntheticDir = parse.GetValue(synthetic);
            if ((modelDir is null) == (syntheticDir is null))
                throw new InvalidOptionException("--synthetic", "give either a model folder or --synthetic CONFIG_DIR (not both)");
            var (weightDType, dtypeName) = parse.GetValue(dtype) switch
            {
                "fp16" => (NativeDType.F16, "fp16"),
                "bf16" => (NativeDType.BF16, "bf16"),
                var other => throw new InvalidOptionException("--dtype", $"unknown dtype '{other}' (fp16, bf16)"),
            };
            var bits = parse.GetValue(wbits);
            if (bits is not null && syntheticDir is null)
                throw new InvalidOptionException("--wbits", "goes with --synthetic (a quantized folder is benchmarked as it is)");
            if (bits is not (null or 3 or 4)) throw new InvalidOptionException("--wbits", $"must be 3 or 4, got {bits}");
            var sparse = parse.GetValue(sparsity);
            if (sparse is not null && bits is null) throw new InvalidOptionException("--sparsity", "goes with --wbits");
            if (sparse is { } pct && !(pct >= 0 && pct < 100))
                throw new InvalidOptionException("--sparsity", $"is a percentage in [0, 100), got {pct.ToString(CultureInfo.InvariantCulture)}");
            var config = syntheticDir is null ? null : ModelConfig.Load(Path.Combine(syntheticDir, "config.json"));

            // What to measure, in order; each model is made, measured and freed before the next.
            var models = new List<(string Label, Func<NativeContext, DecoderModel> Make)>();
            if (bits is { } b)
                models.Add(($"synthetic {config!.ModelType} from {syntheticDir}, squeezellm {b}-bit, " +
                             string.Create(CultureInfo.InvariantCulture, $"{sparse ?? 0} % sparse"),
                    ctx => DecoderModel.SyntheticQuantized(config, ctx, b, sparse ?? 0, seed: 1)));
            if (config is not null)
                models.Add(($"synthetic {config.ModelType} from {syntheticDir}, {dtypeName}", ctx => DecoderModel.Synthetic(config, ctx, seed: 1, weightDType)));
            else
                models.Add((modelDir!, ctx => LoadReal(modelDir!, ctx)));

            var kind = ModelOptions.ParseDevice(parse.GetValue(device)!);
            using var ctx = NativeContext.Create(kind, parse.GetValue(threads), 0, log);
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"machine: {ctx.DeviceName}; host {BenchCommand.MachineDescription()}");
            output.WriteLine($"run: prompt {run.Prompt} tokens, {run.Tokens} decode steps, {run.Repeat} repetitions (+1 warm-up)");
            double copyGBs = MeasureCopyBandwidth(ctx);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"copy bandwidth (same run): {copyGBs:F0} GB/s"));

            var results = new List<DecodeResult>();
            foreach (var (label, make) in models)
            {
                output.WriteLine();
                ctx.ResetPeakMemory();
                DecodeResult result;
                using (var decoder = make(ctx))
                    result = Measure(decoder, ctx, run);
                results.Add(result);
                Print(output, label, result, run, copyGBs);
            }
            if (results.Count == 2)
            {
                var (q, fp) = (results[0], results[1]);
                output.WriteLine();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ratio {dtypeName}/quantized decode ms/token: {fp.DecodeMs / q.DecodeMs:F2} ({dtypeName} {fp.DecodeMs:F3} ms = {1000 / fp.DecodeMs:F1} tokens/s, quantized {q.DecodeMs:F3} ms = {1000 / q.DecodeMs:F1} tokens/s)"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ratio {dtypeName}/quantized bytes per token: {fp.BytesPerToken / q.BytesPerToken:F2}; prefill tokens/s quantized/{dtypeName}: {q.PrefillTokensPerSecond / fp.PrefillTokensPerSecond:F2}"));
            }
            return CliCommon.ExitOk;
        }));
        return command;
    }

    private sealed record RunSettings(int Prompt, int Tokens, int Repeat, int? Context);

    /// <summary>Medians of one model's run, and what it reads per token.</summary>
    private sealed record DecodeResult(ModelConfig Config, long WeightBytes, int Capacity, double PrefillTokensPerSecond, double DecodeMs,
        double NoGraphDecodeMs, long OpsPerToken, double BytesPerToken, SqueezeNative.Bindings.Interop.SnMemoryInfo Memory);

    private static DecodeResult Measure(DecoderModel decoder, NativeContext ctx, RunSettings run)
    {
        int capacity = run.Context ?? run.Prompt + run.Tokens;
        if (capacity > decoder.ContextLength)
            throw new InvalidOptionException(run.Context is null ? "--prompt" : "--context",
                $"{capacity} tokens exceed the model's context of {decoder.ContextLength}");
        using var session = decoder.CreateSession(capacity, maxChunk: run.Prompt);
        var ids = DecodeTiming.PromptIds(run.Prompt, decoder.VocabSize);

        (double prefill, double decode) Run(bool graph)
        {
            session.UseGraph = graph;
            var t = DecodeTiming.Measure(session, ids, run.Tokens, run.Repeat, decoder.VocabSize);
            return (BenchCommand.Median(t.PrefillTokensPerSecond), BenchCommand.Median(t.DecodeMsPerToken));
        }

        var withGraph = Run(graph: true);
        long ops = session.DecodeOpsPerToken ?? 0;
        var noGraph = Run(graph: false);

        // Bytes one decode step must read: every weight once (the embedding only one row, but
        // tied heads read the whole table), plus the KV cache up to the mean position.
        var c = decoder.Config;
        double meanPos = run.Prompt + run.Tokens / 2.0;
        int kvBytesPerElem = ctx.ActivationDType == NativeDType.F32 ? 4 : 2;
        double kvBytes = 2.0 * c.NumLayers * meanPos * c.KvDim * kvBytesPerElem;
        double weightBytes = decoder.Weights.WeightBytes;
        if (!ReferenceEquals(decoder.Weights.LmHead, decoder.Weights.Embed))
            weightBytes -= decoder.Weights.Embed.ByteLength;   // untied: only one embedding row is read
        return new DecodeResult(c, decoder.Weights.WeightBytes, capacity, withGraph.prefill, withGraph.decode, noGraph.decode, ops,
            weightBytes + kvBytes, ctx.Memory());
    }

    private static void Print(TextWriter output, string label, DecodeResult r, RunSettings run, double copyGBs)
    {
        var c = r.Config;
        double floorMs = r.BytesPerToken / (copyGBs * 1e9) * 1e3;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model: {label} — {c.NumLayers} layers, hidden {c.HiddenSize}, heads {c.NumHeads}/{c.NumKvHeads}, inter {c.IntermediateSize}, vocab {c.VocabSize}; weights {r.WeightBytes / 1e9:F3} GB; KV capacity {r.Capacity}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prefill: {r.PrefillTokensPerSecond:F0} tokens/s (median)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"decode with graph:    {r.DecodeMs:F3} ms/token = {1000 / r.DecodeMs:F1} tokens/s (median of {run.Repeat}), {r.OpsPerToken} ops (kernel launches) per token"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"decode without graph: {r.NoGraphDecodeMs:F3} ms/token = {1000 / r.NoGraphDecodeMs:F1} tokens/s (median of {run.Repeat}); graph speed-up {r.NoGraphDecodeMs / r.DecodeMs:F2}x"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"floor: {r.BytesPerToken / 1e9:F3} GB read per token / {copyGBs:F0} GB/s = {floorMs:F3} ms; with graph at {floorMs / r.DecodeMs * 100:F1} % of the floor"));
        output.WriteLine(BenchCommand.PeakMemoryLine("loading included", r.Memory));
    }

    private static DecoderModel LoadReal(string dir, NativeContext ctx)
    {
        using var md = ModelDirectory.Open(dir);
        return DecoderModel.OnContext(md, ctx);
    }

    /// <summary>
    /// Device copy bandwidth, counting bytes read + written: median of timed sn_copy calls of
    /// <paramref name="cudaBytes"/> (large against any L2, so it measures memory, not cache; the
    /// CPU backend copies 32 MiB, enough for its caches and quick in tests).
    /// </summary>
    internal static double MeasureCopyBandwidth(NativeContext ctx, long cudaBytes = 256L << 20)
    {
        long elements = (ctx.Device == DeviceKind.Cuda ? cudaBytes : 32L << 20) / 2;   // F16
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
