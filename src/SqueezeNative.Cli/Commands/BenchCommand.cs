using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Inference;

namespace SqueezeNative.Cli.Commands;

/// <summary>`squeeze bench …`: benchmarks. Each prints the machine and medians of repeated runs.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks (speed figures live here, never in tests).");
        bench.Subcommands.Add(CpuDecode());
        bench.Subcommands.Add(BenchDecode.Create());
        bench.Subcommands.Add(BenchKernels.Create());
        bench.Subcommands.Add(BenchKMeans.Create());
        bench.Subcommands.Add(BenchFisher.Create());
        return bench;
    }

    /// <summary>Prefill and decode throughput of a real model on the CPU backend.</summary>
    private static Command CpuDecode()
    {
        var model = ModelOptions.ModelArgument();
        var threads = ModelOptions.ThreadsOption();
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens for the prefill measurement.", DefaultValueFactory = _ => 128 };
        var tokens = new Option<int>("--tokens") { Description = "Decode steps per repetition.", DefaultValueFactory = _ => 64 };
        var repeat = new Option<int>("--repeat") { Description = "Repetitions (the median is reported).", DefaultValueFactory = _ => 5 };
        var command = new Command("cpu-decode", "Prefill tokens/s and decode tokens/s on the CPU backend.") { model, threads, prompt, tokens, repeat };
        command.SetAction(parse => CliCommon.Run(parse, loggers =>
        {
            int p = parse.GetValue(prompt), n = parse.GetValue(tokens), reps = parse.GetValue(repeat);
            if (p < 1) throw new Runtime.InvalidOptionException("--prompt", "must be at least 1");
            if (n < 2) throw new Runtime.InvalidOptionException("--tokens", "must be at least 2");
            if (reps < 1) throw new Runtime.InvalidOptionException("--repeat", "must be at least 1");
            using var lm = ModelOptions.Load(parse.GetValue(model)!, "cpu", parse.GetValue(threads), loggers);
            if (p + n > lm.ContextLength) throw new Runtime.InvalidOptionException("--prompt", $"prompt + tokens exceed the context of {lm.ContextLength}");
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"machine: {MachineDescription()}");
            output.WriteLine($"model: {lm.Path} ({lm.Architecture.ModelType}, {lm.Config.NumLayers} layers, hidden {lm.Config.HiddenSize}), prompt {p} tokens, {n} decode steps, {reps} repetitions");

            using var session = lm.CreateSession(p + n);
            var timing = DecodeTiming.Measure(session, DecodeTiming.PromptIds(p, lm.VocabSize), n, reps, lm.VocabSize);
            var prefill = timing.PrefillTokensPerSecond;
            var decode = timing.DecodeMsPerToken.Select(ms => 1000 / ms).ToList();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"prefill: {Median(prefill):F1} tokens/s (median of {reps}; min {prefill.Min():F1}, max {prefill.Max():F1})"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"decode:  {Median(decode):F1} tokens/s = {1000 / Median(decode):F2} ms/token (median of {reps}; min {decode.Min():F1}, max {decode.Max():F1})"));
            return CliCommon.ExitOk;
        }));
        return command;
    }

    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }

    /// <summary>Bytes in both units: GB (10^9, as weight sizes are usually quoted) and GiB (2^30, as GPUs report).</summary>
    internal static string Size(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:F3} GB = {bytes / (1L << 30):F3} GiB");

    /// <summary>The benchmarks' peak-memory line: peak tensor bytes, and on a device what is in use now.</summary>
    internal static string PeakMemoryLine(string what, Bindings.Interop.SnMemoryInfo memory)
    {
        var deviceUse = memory.DeviceTotalBytes > 0
            ? $"; device in use now (CUDA context and cuBLAS workspace included) {Size(memory.DeviceTotalBytes - memory.DeviceFreeBytes)} of {Size(memory.DeviceTotalBytes)}"
            : "";
        return $"peak memory ({what}): tensors {Size(memory.PeakAllocatedBytes)}" + deviceUse;
    }

    /// <summary>CPU model and core count (from /proc/cpuinfo where available).</summary>
    internal static string MachineDescription()
    {
        string cpu = RuntimeInformation.ProcessArchitecture.ToString();
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) cpu = line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"{cpu}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}";
    }
}
