using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// `squeeze bench kernels`: sn_lut_matmul alone, per weight shape N×K, bit width, sparsity and
/// rows M, against the memory roofline and against cuBLAS fp16 on the same shapes, all measured in
/// one run (DESIGN.md, Performance: copy bandwidth and the fp16 baseline always in the same run).
/// <para>
/// Method: a graph of L launches that rotate over C copies of the weights, with C·(weight bytes) ≥
/// 3 × a 50 MB L2 so each launch reads its weights from DRAM, as in a model, where no layer's
/// weights are still cached when they are read again a token later; the graph is replayed (several
/// times per sample, so one synchronize is small beside the sample) and timed with a Stopwatch
/// around sn_context_synchronize; the median over repeats. The cuBLAS baseline is the same
/// product with fp16 weights [N, K] on a second context made with SN_CONTEXT_FLAG_DENSE_CUBLAS.
/// </para>
/// </summary>
internal static class BenchKernels
{
    public const string DefaultShapes = "4096x4096,11008x4096,4096x11008,14336x4096,4096x14336,32000x4096";

    /// <summary>An H100's L2. Three times it in weight copies leaves none of them cached when read again.</summary>
    private const long L2Bytes = 50_000_000;
    /// <summary>Fewest launches per recorded graph on CUDA: replays of short graphs would time the gaps between them.</summary>
    private const int MinLaunchesCuda = 256;
    /// <summary>
    /// The CPU backend runs this command end to end (tests, machines without a GPU) but is no
    /// roofline target: a few copies and launches keep it quick.
    /// </summary>
    private const int MaxCopiesCpu = 16, MinLaunchesCpu = 16;
    /// <summary>A timed sample replays the graph until it lasts at least this long.</summary>
    private const double MinSampleSeconds = 0.002;

    public static Command Create()
    {
        var device = ModelOptions.DeviceOption();
        device.DefaultValueFactory = _ => "cuda";
        var threads = ModelOptions.ThreadsOption();
        var shapes = new Option<string>("--shapes") { Description = "Weight shapes N×K (N outputs, K inputs, K a multiple of 32), comma-separated.", DefaultValueFactory = _ => DefaultShapes };
        var bits = new Option<string>("--bits") { Description = "Code widths, comma-separated (3, 4).", DefaultValueFactory = _ => "3,4" };
        var sparsity = new Option<string>("--sparsity") { Description = "Sparse entries in percent of the weights, comma-separated.", DefaultValueFactory = _ => "0,0.05,0.45" };
        var rows = new Option<string>("--m") { Description = "Rows of x (tokens per product), comma-separated.", DefaultValueFactory = _ => "1,2,4,8,16,128" };
        var repeats = new Option<int>("--repeats") { Description = "Timed samples per measurement; the median is reported.", DefaultValueFactory = _ => 20 };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        var chart = new Option<string?>("--chart") { Description = "Also draw the results as an SVG image to this file." };

        var command = new Command("kernels", "sn_lut_matmul per shape, bits, sparsity and M: µs, GB/s, % of copy bandwidth, speed-up over cuBLAS fp16.")
        {
            device, threads, shapes, bits, sparsity, rows, repeats, json, chart,
        };
        command.SetAction(parse => CliCommon.Run(parse, loggers =>
        {
            var settings = new KernelBenchSettings(
                ParseList("--shapes", parse.GetValue(shapes)!, ParseShape),
                ParseList("--bits", parse.GetValue(bits)!, s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var b) && b is 3 or 4 ? b : throw new FormatException("expected 3 or 4")),
                ParseList("--sparsity", parse.GetValue(sparsity)!, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) && p >= 0 && p < 100 ? p : throw new FormatException("expected a percentage in [0, 100), e.g. 0.45")),
                ParseList("--m", parse.GetValue(rows)!, s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var m) && m >= 1 ? m : throw new FormatException("expected a whole number >= 1")),
                parse.GetValue(repeats));
            if (settings.Repeats < 1) throw new InvalidOptionException("--repeats", "must be at least 1");
            var jsonPath = parse.GetValue(json);
            var chartPath = parse.GetValue(chart);
            CheckWritable("--json", jsonPath);
            CheckWritable("--chart", chartPath);

            var log = loggers.CreateLogger("bench");
            var kind = ModelOptions.ParseDevice(parse.GetValue(device)!);
            using var ctx = NativeContext.Create(kind, parse.GetValue(threads), 0, log);
            // The CPU ignores the cuBLAS flag, and a second CPU context would add a second worker
            // pool competing for the same cores: the CPU baseline runs on the same context.
            using var ownBaseline = ctx.Device == DeviceKind.Cuda
                ? NativeContext.Create(ctx.Device, parse.GetValue(threads), 0, log, NativeContextFlags.DenseCublas)
                : null;
            var cublas = ownBaseline ?? ctx;
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"machine: {ctx.DeviceName}; host {BenchCommand.MachineDescription()}");
            double copyGBs = BenchDecode.MeasureCopyBandwidth(ctx, cudaBytes: 1L << 30);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"copy bandwidth (same run, sn_copy of {(ctx.Device == DeviceKind.Cuda ? "1 GiB" : "32 MiB")}, read + write): {copyGBs:F0} GB/s"));
            output.WriteLine(ctx.Device == DeviceKind.Cuda
                ? string.Create(CultureInfo.InvariantCulture, $"method: graphs of launches rotating over weight copies of ≥ {3 * L2Bytes / 1e6:F0} MB in all (3 × L2), median of {settings.Repeats} samples; baseline sn_matmul with fp16 weights on a cuBLAS context")
                : string.Create(CultureInfo.InvariantCulture, $"method: graphs of launches rotating over at most {MaxCopiesCpu} weight copies (small shapes stay in cache: a smoke run, not a roofline), median of {settings.Repeats} samples; baseline sn_matmul with fp16 weights"));

            var report = Run(ctx, cublas, settings, copyGBs, log);
            output.WriteLine();
            KernelReport.WriteTable(output, report);
            if (jsonPath is not null)
            {
                AtomicFile.WriteAllText(jsonPath, KernelReport.ToJson(report));
                output.WriteLine($"wrote {jsonPath}");
            }
            if (chartPath is not null)
            {
                AtomicFile.WriteAllText(chartPath, KernelReport.ToSvg(report));
                output.WriteLine($"wrote {chartPath}");
            }
            return CliCommon.ExitOk;
        }));
        return command;
    }

    /// <summary>Every measurement of the run: the dense baselines first per shape, then each bit width and sparsity.</summary>
    internal static KernelBenchReport Run(NativeContext ctx, NativeContext cublas, KernelBenchSettings settings, double copyGBs, ILogger log)
    {
        var lut = new List<LutKernelResult>();
        var dense = new List<DenseKernelResult>();
        int activationBytes = ctx.ActivationDType == NativeDType.F32 ? 4 : 2;
        foreach (var (n, k) in settings.Shapes)
        {
            log.LogInformation("{N}x{K}: cuBLAS fp16", n, k);
            foreach (var (m, us, copies, launches) in TimeDense(cublas, n, k, settings))
            {
                double bytes = 2.0 * n * k + (double)m * (k + n) * activationBytes;
                dense.Add(new DenseKernelResult(n, k, m, us, bytes / (us * 1e3), copies, launches));
            }
            foreach (var b in settings.Bits)
            {
                foreach (var s in settings.Sparsity)
                {
                    log.LogInformation("{N}x{K}: {Bits}-bit, {Sparsity} % sparse", n, k, b, s);
                    var weights = SyntheticLut.Generate(n, k, b, s, seed: n ^ (k << 8) ^ b);
                    // What the kernel must move besides x and out (squeeze_native.h's checkpoint layout sizes).
                    double weightBytes = (double)n * k * b / 8 + (double)n * (1 << b) * 2
                        + (weights.HasSparse ? weights.NonZeros * 6.0 + (n + 1.0) * 4 : 0);
                    foreach (var (m, us, copies, launches) in TimeLut(ctx, weights, weightBytes, settings))
                    {
                        double bytes = weightBytes + (double)m * (k + n) * activationBytes;
                        double gbs = bytes / (us * 1e3);
                        double cublasUs = dense.Single(d => d.N == n && d.K == k && d.M == m).Microseconds;
                        lut.Add(new LutKernelResult(n, k, b, s, weights.NonZeros, m, us, bytes, gbs, gbs / copyGBs * 100, cublasUs,
                            cublasUs / us, copies, launches));
                    }
                }
            }
        }
        return new KernelBenchReport(ctx.DeviceName, cublas.DeviceName, BenchCommand.MachineDescription(), copyGBs, settings, lut, dense);
    }

    private static (int Copies, int Launches) Plan(NativeContext ctx, double bytesPerCopy)
    {
        int copies = (int)Math.Clamp(Math.Ceiling(3 * L2Bytes / bytesPerCopy), 1, ctx.Device == DeviceKind.Cuda ? 4096 : MaxCopiesCpu);
        int minLaunches = ctx.Device == DeviceKind.Cuda ? MinLaunchesCuda : MinLaunchesCpu;
        return (copies, copies * (int)Math.Ceiling((double)minLaunches / copies));
    }

    private static IEnumerable<(int M, double Us, int Copies, int Launches)> TimeLut(NativeContext ctx, LutHostWeights weights,
        double weightBytes, KernelBenchSettings settings)
    {
        var (count, launches) = Plan(ctx, weightBytes);
        var copies = new List<LutLinear>(count);
        try
        {
            for (int i = 0; i < count; i++) copies.Add(LutLinear.Create(ctx, weights, bias: null));
            foreach (var m in settings.Rows)
                yield return (m, TimeRotation(ctx, copies, m, launches, settings.Repeats), count, launches);
        }
        finally
        {
            foreach (var c in copies) c.Dispose();
        }
    }

    private static IEnumerable<(int M, double Us, int Copies, int Launches)> TimeDense(NativeContext ctx, int n, int k, KernelBenchSettings settings)
    {
        var (count, launches) = Plan(ctx, 2.0 * n * k);
        var copies = new List<DenseLinear>(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                var w = ctx.Tensor(NativeDType.F16, n, k);
                copies.Add(new DenseLinear(w, null));
                ctx.FillRandom(w, (ulong)i + 1, MathF.Sqrt(3f / k));
            }
            foreach (var m in settings.Rows)
                yield return (m, TimeRotation(ctx, copies, m, launches, settings.Repeats), count, launches);
        }
        finally
        {
            foreach (var c in copies) c.Weight.Dispose();
        }
    }

    /// <summary>Median µs of one product x[m, K]·Wᵀ over <paramref name="launches"/> launches rotating over <paramref name="copies"/>.</summary>
    private static double TimeRotation<T>(NativeContext ctx, IReadOnlyList<T> copies, int m, int launches, int repeats) where T : ILinear
    {
        using var x = ctx.Tensor(ctx.ActivationDType, m, copies[0].InFeatures);
        using var y = ctx.Tensor(ctx.ActivationDType, m, copies[0].OutFeatures);
        ctx.FillRandom(x, 11, 1f);
        using var graph = ctx.Capture(() =>
        {
            for (int i = 0; i < launches; i++) copies[i % copies.Count].Forward(ctx, x, y);
        });
        graph.Launch();   // warm-up (first replay uploads the graph on CUDA)
        ctx.Synchronize();
        var clock = Stopwatch.StartNew();
        graph.Launch();
        ctx.Synchronize();
        int replays = (int)Math.Clamp(Math.Ceiling(MinSampleSeconds / Math.Max(clock.Elapsed.TotalSeconds, 1e-7)), 1, 10_000);
        var samples = new List<double>(repeats);
        for (int r = 0; r < repeats; r++)
        {
            clock.Restart();
            for (int i = 0; i < replays; i++) graph.Launch();
            ctx.Synchronize();
            samples.Add(clock.Elapsed.TotalSeconds * 1e6 / ((double)replays * launches));
        }
        return BenchCommand.Median(samples);
    }

    private static (int N, int K) ParseShape(string text)
    {
        var parts = text.Split('x', 'X', '×');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var k))
            throw new FormatException("expected N×K (outputs × inputs), e.g. 11008x4096");
        if (n < 1) throw new FormatException("N must be at least 1");
        if (k < 32 || k % 32 != 0) throw new FormatException("K must be a positive multiple of 32 (codes are packed 32 inputs at a time)");
        return (n, k);
    }

    /// <summary>A comma-separated list, each item parsed; a bad item is an error naming the option and the item.</summary>
    internal static IReadOnlyList<T> ParseList<T>(string option, string text, Func<string, T> parse)
    {
        var items = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) throw new InvalidOptionException(option, "needs at least one value");
        var values = new List<T>(items.Length);
        foreach (var item in items)
        {
            try
            {
                var value = parse(item);
                if (!values.Contains(value)) values.Add(value);
            }
            catch (FormatException e)
            {
                throw new InvalidOptionException(option, $"'{item}': {e.Message}");
            }
        }
        return values;
    }

    /// <summary>Fails before hours of measurement, not after, when an output file cannot be written.</summary>
    private static void CheckWritable(string option, string? path)
    {
        if (path is null) return;
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is null || !Directory.Exists(folder))
            throw new InvalidOptionException(option, $"the folder of {path} does not exist");
        if (Directory.Exists(path)) throw new InvalidOptionException(option, $"{path} is a folder");
    }
}

/// <summary>What a kernel benchmark measures.</summary>
internal sealed record KernelBenchSettings(IReadOnlyList<(int N, int K)> Shapes, IReadOnlyList<int> Bits, IReadOnlyList<double> Sparsity,
    IReadOnlyList<int> Rows, int Repeats);

/// <summary>One sn_lut_matmul measurement.</summary>
/// <param name="Bytes">What the product must move: codes, LUT, sparse part, x and out.</param>
/// <param name="PercentOfCopy">Effective bandwidth as a share of the copy bandwidth of the same run.</param>
/// <param name="Speedup">cuBLAS fp16 µs ÷ this µs, same shape and M.</param>
internal sealed record LutKernelResult(int N, int K, int Bits, double SparsityPercent, long NonZeros, int M, double Microseconds,
    double Bytes, double GBs, double PercentOfCopy, double CublasMicroseconds, double Speedup, int Copies, int Launches);

/// <summary>One cuBLAS fp16 measurement.</summary>
internal sealed record DenseKernelResult(int N, int K, int M, double Microseconds, double GBs, int Copies, int Launches);

internal sealed record KernelBenchReport(string Device, string BaselineDevice, string Host, double CopyGBs, KernelBenchSettings Settings,
    IReadOnlyList<LutKernelResult> Lut, IReadOnlyList<DenseKernelResult> Dense)
{
    /// <summary>µs at this sparsity ÷ µs without a sparse part (same shape, bits, M), when 0 % was measured.</summary>
    public double? SparseOverhead(LutKernelResult r) =>
        Lut.FirstOrDefault(o => o.N == r.N && o.K == r.K && o.Bits == r.Bits && o.M == r.M && o.SparsityPercent == 0) is { } zero
            ? r.Microseconds / zero.Microseconds
            : null;
}
