using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// `squeeze bench quantize --synthetic CONFIG_DIR [--device cpu|cuda] [--wbits 3|4] [--repeat N] [--sparsity P]`:
/// the exact weighted k-means (sn_kmeans_rows) of every linear of ONE decoder layer of that shape,
/// on random weights and random positive Fisher sensitivities. Each matrix is timed from upload to
/// download (upload + op + download, the median of --repeat runs); the layer's total × the number
/// of layers estimates the k-means of the whole model. On CUDA the CPU op also runs on a sample of
/// each matrix's rows and the largest LUT difference is printed (a built-in check). With --sparsity,
/// the dense-and-sparse split of each matrix (managed, host CPU) is timed first and its removed
/// values are excluded from the k-means, as in the quantizer. With --split-only (needs --sparsity),
/// only that split is timed, on --threads host threads (0 = one per core), and no native library
/// or GPU is touched.
/// </summary>
internal static class BenchKMeans
{
    public static Command Create()
    {
        var synthetic = new Option<string>("--synthetic") { Description = "Folder with a config.json (e.g. ../shared/configs/llama-2-7b): the layer shape.", Required = true };
        var device = ModelOptions.DeviceOption();
        var threads = ModelOptions.ThreadsOption();
        var wbits = new Option<int>("--wbits") { Description = "Bits per weight: 3 or 4.", DefaultValueFactory = _ => 4 };
        var repeat = new Option<int>("--repeat") { Description = "Repetitions per matrix (the median is reported).", DefaultValueFactory = _ => 3 };
        var checkRows = new Option<int>("--check-rows") { Description = "On cuda: rows per matrix also run on the CPU op to compare LUTs (0 = no check).", DefaultValueFactory = _ => 16 };
        var sparsity = new Option<double>("--sparsity")
        {
            Description = "Percent of each matrix moved to the sparse part first (0 = dense only): the dense-and-sparse split (managed, on the host CPU, 0.05 % sensitive) is timed too, and the k-means excludes the removed values as the quantizer's does.",
            DefaultValueFactory = _ => 0.0,
        };
        var splitOnly = new Option<bool>("--split-only")
        {
            Description = "Time only the dense-and-sparse split (managed, host CPU, on --threads threads; needs --sparsity); no k-means, no native library.",
        };
        var command = new Command("quantize", "Time the exact k-means (sn_kmeans_rows) of one decoder layer's linears; estimate the whole model.")
        {
            synthetic, device, threads, wbits, repeat, checkRows, sparsity, splitOnly,
        };
        command.SetAction(parse => CliCommon.Run(parse, loggers =>
        {
            int bits = parse.GetValue(wbits), reps = parse.GetValue(repeat), check = parse.GetValue(checkRows);
            if (bits is not (3 or 4)) throw new InvalidOptionException("--wbits", $"must be 3 or 4; got {bits}");
            if (reps < 1) throw new InvalidOptionException("--repeat", "must be at least 1");
            if (check < 0) throw new InvalidOptionException("--check-rows", "must be >= 0");
            var split = DenseSparseOptions.Create(parse.GetValue(sparsity));   // validates --sparsity
            var dir = parse.GetValue(synthetic)!;
            var config = ModelConfig.Load(Path.Combine(dir, "config.json"));
            if (parse.GetValue(splitOnly))
            {
                if (split.IsDenseOnly) throw new InvalidOptionException("--split-only", "needs a --sparsity above 0");
                return TimeSplit(parse.InvocationConfiguration.Output, config, dir, split, parse.GetValue(threads), reps);
            }
            var kind = ModelOptions.ParseDevice(parse.GetValue(device)!);
            using var ctx = NativeContext.Create(kind, parse.GetValue(threads), logger: loggers.CreateLogger("bench"));
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"machine: {ctx.DeviceName}; host {BenchCommand.MachineDescription()}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model: {config.ModelType} from {dir}, {config.NumLayers} layers, hidden {config.HiddenSize}, intermediate {config.IntermediateSize}; exact k-means, {bits}-bit, random weights and Fisher; median of {reps} (upload + op + download)"));

            using var cpu = ctx.Device == DeviceKind.Cuda && check > 0 ? NativeContext.Create(DeviceKind.Cpu, parse.GetValue(threads)) : null;
            double layerMs = 0, layerSplitMs = 0, worstDifference = 0;
            var seed = 1;
            foreach (var (name, rows, cols) in LayerLinears(config))
            {
                var (values, fisher) = RandomMatrix(rows, cols, seed++);
                byte[]? excluded = null;
                var splitLine = "";
                if (!split.IsDenseOnly)
                {
                    var (mask, splitTimes) = TimedSplits(values, fisher, rows, cols, split, name, parse.GetValue(threads), reps);
                    var splitMedian = BenchCommand.Median(splitTimes);
                    layerSplitMs += splitMedian;
                    excluded = Array.ConvertAll(mask.Removed, removed => removed ? (byte)1 : (byte)0);
                    splitLine = string.Create(CultureInfo.InvariantCulture,
                        $"  split {splitMedian,8:F1} ms ({mask.SensitiveCount + mask.OutlierCount} removed)");
                }
                var times = new List<double>();
                float[] lut = [];
                for (var r = 0; r < reps; r++)
                {
                    var clock = Stopwatch.StartNew();
                    lut = Run(ctx, values, fisher, excluded, rows, cols, bits);
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                var median = BenchCommand.Median(times);
                layerMs += median;
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"{name,-10} [{rows,6} x {cols,6}]  {median,10:F1} ms  ({median * 1000 / rows:F1} µs/row; min {times.Min():F1}, max {times.Max():F1})") + splitLine;
                if (cpu is not null)
                {
                    var difference = CompareWithCpu(cpu, values, fisher, excluded, rows, cols, bits, lut, check);
                    worstDifference = Math.Max(worstDifference, difference);
                    line += string.Create(CultureInfo.InvariantCulture, $"  max |LUT − CPU| / row max = {difference:E2}");
                }
                output.WriteLine(line);
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"one layer: {layerMs / 1000:F3} s; × {config.NumLayers} layers = {layerMs * config.NumLayers / 1000:F1} s for the model's k-means"));
            if (!split.IsDenseOnly)
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"dense-and-sparse split ({split.SparsityPercent} %, host CPU, each matrix on its own): one layer {layerSplitMs / 1000:F3} s; × {config.NumLayers} layers = {layerSplitMs * config.NumLayers / 1000:F1} s"));
            if (cpu is not null)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"check against the CPU op on {check} rows per matrix: largest LUT difference {worstDifference:E2} of the row's largest |entry| ({(worstDifference <= 1e-6 ? "ok" : "ABOVE 1e-6")})"));
                if (worstDifference > 1e-6) return CliCommon.ExitError;
            }
            return CliCommon.ExitOk;
        }));
        return command;
    }

    /// <summary>--split-only: the median of --repeat splits of each linear of one layer, and the layer's total × layers.</summary>
    private static int TimeSplit(TextWriter output, ModelConfig config, string dir, DenseSparseOptions split, int threads, int reps)
    {
        output.WriteLine($"machine: host {BenchCommand.MachineDescription()}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model: {config.ModelType} from {dir}, {config.NumLayers} layers, hidden {config.HiddenSize}, intermediate {config.IntermediateSize}; dense-and-sparse split only ({split.SparsityPercent} %, {split.SensitivePercent} % sensitive), {(threads > 0 ? threads.ToString(CultureInfo.InvariantCulture) : "all")} threads, random weights and Fisher; median of {reps}"));
        double layerMs = 0;
        var seed = 1;
        foreach (var (name, rows, cols) in LayerLinears(config))
        {
            var (values, fisher) = RandomMatrix(rows, cols, seed++);
            var (mask, times) = TimedSplits(values, fisher, rows, cols, split, name, threads, reps);
            var median = BenchCommand.Median(times);
            layerMs += median;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-10} [{rows,6} x {cols,6}]  split {median,8:F1} ms  ({median * 1e6 / values.Length:F2} ns/entry; min {times.Min():F1}, max {times.Max():F1}; {mask.RemovedCount} removed, r = {mask.Range:G6})"));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"dense-and-sparse split, each matrix on its own: one layer {layerMs / 1000:F3} s; × {config.NumLayers} layers = {layerMs * config.NumLayers / 1000:F1} s"));
        return CliCommon.ExitOk;
    }

    /// <summary>--repeat splits of one matrix: the (last) mask and each split's milliseconds.</summary>
    private static (DenseSparseMask Mask, List<double> Times) TimedSplits(float[] values, float[] fisher, int rows, int cols,
        DenseSparseOptions split, string name, int threads, int reps)
    {
        var times = new List<double>();
        DenseSparseMask mask = null!;
        for (var r = 0; r < reps; r++)
        {
            var clock = Stopwatch.StartNew();
            mask = DenseSparseSplit.SplitMatrix(values, fisher, rows, cols, split, name, threads);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return (mask, times);
    }

    /// <summary>The quantizable linears of one decoder layer, as (name, rows = out features, cols = in features).</summary>
    private static IEnumerable<(string Name, int Rows, int Cols)> LayerLinears(ModelConfig config)
    {
        int h = config.HiddenSize, i = config.IntermediateSize;
        if (config.ModelType == "opt")
        {
            return [("q_proj", h, h), ("k_proj", h, h), ("v_proj", h, h), ("out_proj", h, h), ("fc1", i, h), ("fc2", h, i)];
        }
        return
        [
            ("q_proj", config.QDim, h), ("k_proj", config.KvDim, h), ("v_proj", config.KvDim, h), ("o_proj", h, config.QDim),
            ("gate_proj", i, h), ("up_proj", i, h), ("down_proj", h, i),
        ];
    }

    /// <summary>Heavy-tailed weights (as LLM weights are) and Fisher values over six orders of magnitude, all positive.</summary>
    private static (float[] Values, float[] Fisher) RandomMatrix(int rows, int cols, int seed)
    {
        var random = new Random(seed);
        var values = new float[(long)rows * cols];
        var fisher = new float[values.Length];
        for (long i = 0; i < values.Length; i++)
        {
            var u = random.NextDouble() * 2 - 1;
            values[i] = (float)(0.04 * u * u * u + 0.01 * u);
            fisher[i] = (float)Math.Pow(10, -9 + 6 * random.NextDouble());
        }
        return (values, fisher);
    }

    /// <summary>Upload, sn_kmeans_rows, download (the codes too, as a quantizer would); returns the LUT.</summary>
    private static float[] Run(NativeContext ctx, ReadOnlySpan<float> values, ReadOnlySpan<float> fisher, byte[]? excluded,
        int rows, int cols, int bits)
    {
        using var v = ctx.FromHost(NativeDType.F32, values, rows, cols);
        using var f = ctx.FromHost(NativeDType.F32, fisher, rows, cols);
        using var x = excluded is null ? null : ctx.FromHost(NativeDType.U8, (ReadOnlySpan<byte>)excluded, rows, cols);
        using var lut = ctx.Tensor(NativeDType.F32, rows, 1 << bits);
        using var codes = ctx.Tensor(NativeDType.U8, rows, cols);
        ctx.KMeansRows(v, f, x, bits, halfPrecisionLut: false, lut, codes);
        var lutHost = new float[rows << bits];
        var codesHost = new byte[(long)rows * cols];
        lut.Download<float>(lutHost);
        codes.Download<byte>(codesHost);
        return lutHost;
    }

    /// <summary>The CPU op on `count` rows spread over the matrix: the largest |LUT difference| over the row's largest |entry|.</summary>
    private static double CompareWithCpu(NativeContext cpu, float[] values, float[] fisher, byte[]? excluded, int rows, int cols, int bits,
        float[] lut, int count)
    {
        count = Math.Min(count, rows);
        var k = 1 << bits;
        var sampleRows = Enumerable.Range(0, count).Select(s => (int)((long)s * rows / count)).ToArray();
        var sampleValues = new float[(long)count * cols];
        var sampleFisher = new float[sampleValues.Length];
        var sampleExcluded = excluded is null ? null : new byte[sampleValues.Length];
        for (var s = 0; s < count; s++)
        {
            Array.Copy(values, (long)sampleRows[s] * cols, sampleValues, (long)s * cols, cols);
            Array.Copy(fisher, (long)sampleRows[s] * cols, sampleFisher, (long)s * cols, cols);
            if (excluded is not null) Array.Copy(excluded, (long)sampleRows[s] * cols, sampleExcluded!, (long)s * cols, cols);
        }
        var expected = Run(cpu, sampleValues, sampleFisher, sampleExcluded, count, cols, bits);
        var worst = 0.0;
        for (var s = 0; s < count; s++)
        {
            double scale = 1e-30, difference = 0;
            for (var j = 0; j < k; j++)
            {
                scale = Math.Max(scale, Math.Abs(expected[s * k + j]));
                difference = Math.Max(difference, Math.Abs(expected[s * k + j] - lut[sampleRows[s] * k + j]));
            }
            worst = Math.Max(worst, difference / scale);
        }
        return worst;
    }
}
