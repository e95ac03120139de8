using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using SqueezeNative.Runtime.Evaluation;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;
using SqueezeNative.Runtime.Quantization.Pipeline;
using SqueezeNative.Runtime.Quantization.Sensitivity;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// `squeeze quantize MODEL --out DIR [--method squeezellm|rtn|gptq] [--wbits 3|4] [--sparsity P]
/// [--sensitive P] [--kmeans exact|lloyd] [--calib FILE | --calib-dataset NAME] [--nsamples N]
/// [--seqlen L] [--seed S] [--act-order] [--device cpu|cuda] [--fisher-layers N] [--force]`: writes a quantized model folder that `eval`
/// and `generate` load like any other. A killed run resumes when started again with the same
/// settings and --out.
/// </summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = ModelOptions.ModelArgument();
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the quantized model to (must not exist unless --force).", Required = true };
        var method = new Option<string>("--method", "-m") { Description = "squeezellm, rtn or gptq.", DefaultValueFactory = _ => "squeezellm" };
        var wbits = new Option<int>("--wbits") { Description = "Bits per weight: 3 or 4.", DefaultValueFactory = _ => 4 };
        var sparsity = new Option<double>("--sparsity") { Description = "Percent of the weights kept in 16 bits as a sparse matrix (squeezellm; the paper's 0.45).", DefaultValueFactory = _ => 0 };
        var sensitive = new Option<double>("--sensitive") { Description = "Percent chosen by sensitivity, part of --sparsity.", DefaultValueFactory = _ => DenseSparseOptions.DefaultSensitivePercent };
        var sensitivity = new Option<string>("--sensitivity") { Description = "fisher (SqueezeLLM: squared gradients over the calibration windows) or uniform (no calibration pass).", DefaultValueFactory = _ => "fisher" };
        var kmeans = new Option<string>("--kmeans") { Description = "exact (optimal 1-D k-means) or lloyd (the reference's).", DefaultValueFactory = _ => "exact" };
        var calib = new Option<string?>("--calib") { Description = "Calibration text file (default: <shared>/data/calib/calib.txt)." };
        var calibDataset = new Option<string?>("--calib-dataset") { Description = "Calibrate on wikitext2, c4 or ptb from the shared data instead." };
        var nsamples = new Option<int>("--nsamples") { Description = "Calibration windows.", DefaultValueFactory = _ => QuantizationPipelineOptions.DefaultNSamples };
        var seqlen = new Option<int>("--seqlen") { Description = "Tokens per calibration window.", DefaultValueFactory = _ => QuantizationPipelineOptions.DefaultSeqLen };
        var seed = new Option<long>("--seed") { Description = "Seed of the calibration sampling (Python's random.seed).", DefaultValueFactory = _ => 0 };
        var actOrder = new Option<bool>("--act-order") { Description = "GPTQ: quantize columns by decreasing activation energy." };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists (only once the new folder is complete)." };
        var threads = ModelOptions.ThreadsOption();
        var device = new Option<string>("--device")
        {
            Description = "Where squeezellm's Fisher pass and exact k-means run: cpu (the CPU backend and the managed solver) or cuda " +
                          "(forward + backward of the calibration windows and sn_kmeans_rows on the GPU). Other methods and --kmeans lloyd need cpu.",
            DefaultValueFactory = _ => "cpu",
        };
        var fisherLayers = FisherLayersOption();
        var dataRoot = new Option<string?>("--data-root") { Description = "Shared data folder (default: $SQUEEZE_SHARED or a nearby 'shared')." };

        var command = new Command("quantize", "Quantize a model to 3 or 4 bits (SqueezeLLM, RTN or GPTQ).")
        {
            model, output, method, wbits, sparsity, sensitive, sensitivity, kmeans, calib, calibDataset, nsamples, seqlen, seed, actOrder, force,
            threads, device, fisherLayers, dataRoot,
        };
        command.SetAction((parse, ct) => CliCommon.RunAsync(parse, ct, (loggers, token) =>
        {
            int residentLayers = parse.GetValue(fisherLayers);
            ValidateFisherLayers(residentLayers);
            var datasetName = parse.GetValue(calibDataset);
            var calibFile = parse.GetValue(calib);
            // The shared folder is only needed for the default calibration text or a dataset.
            var shared = calibFile is not null && datasetName is null ? null : ModelOptions.LocateShared(parse.GetValue(dataRoot));
            var options = new QuantizationPipelineOptions
            {
                Output = parse.GetValue(output)!,
                Force = parse.GetValue(force),
                Method = QuantizationPipelineOptions.ParseMethod(parse.GetValue(method)!),
                WBits = parse.GetValue(wbits),
                SparsityPercent = parse.GetValue(sparsity),
                SensitivePercent = parse.GetValue(sensitive),
                KMeans = QuantizationPipelineOptions.ParseKMeans(parse.GetValue(kmeans)!),
                CalibrationFile = calibFile,
                CalibrationDataset = datasetName is null ? null : PerplexityDatasets.Parse(datasetName, "--calib-dataset"),
                SharedRoot = shared,
                NSamples = parse.GetValue(nsamples),
                SeqLen = parse.GetValue(seqlen),
                Seed = parse.GetValue(seed),
                ActOrder = parse.GetValue(actOrder),
                Threads = parse.GetValue(threads),
                KMeansDevice = ModelOptions.ParseDevice(parse.GetValue(device)!),
            };
            var log = loggers.CreateLogger("quantize");
            var provider = Sensitivity(parse.GetValue(sensitivity)!, options.KMeansDevice, residentLayers, log);
            var pipeline = new QuantizationPipeline(provider, log);
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Error) });

            QuantizationResult result;
            if (console.Profile.Capabilities.Interactive)
            {
                result = null!;
                console.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(progress =>
                    {
                        var bars = new Dictionary<QuantizationStage, ProgressTask>();
                        result = pipeline.Run(parse.GetValue(model)!, options, new QuantizationCallbacks
                        {
                            Progress = p =>
                            {
                                if (!bars.TryGetValue(p.Stage, out var bar))
                                    bars[p.Stage] = bar = progress.AddTask(QuantizationPipeline.StageName(p.Stage));
                                bar.MaxValue = Math.Max(1, p.Total);
                                bar.Value = p.Done;
                                if (p.Item is not null)
                                    bar.Description = $"{QuantizationPipeline.StageName(p.Stage)}: {Markup.Escape(p.Item)}";
                                if (p.Done >= p.Total) bar.StopTask();
                            },
                        }, token);
                    });
            }
            else
            {
                // Without a terminal: a log line every 10 % of a stage (the pipeline logs each layer and each stage's time).
                var lastDecile = new Dictionary<QuantizationStage, long>();
                result = pipeline.Run(parse.GetValue(model)!, options, new QuantizationCallbacks
                {
                    Progress = p =>
                    {
                        if (p.Stage == QuantizationStage.Layers || p.Total <= 0) return;
                        var decile = p.Done * 10 / p.Total;
                        if (decile > lastDecile.GetValueOrDefault(p.Stage))
                        {
                            lastDecile[p.Stage] = decile;
                            log.LogInformation("{Stage}: {Done}/{Total}", QuantizationPipeline.StageName(p.Stage), p.Done, p.Total);
                        }
                    },
                }, token);
            }

            var stdout = parse.InvocationConfiguration.Output;
            var c = result.Config;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {result.OutputPath}: {QuantConfig.MethodName(c.Method)} {c.WBits}-bit, {c.Matrices.Count} matrices, {c.AverageBitsPerWeight:F3} bits per weight, {c.Matrices.Sum(m => m.NonZeros)} sparse values"));
            stdout.WriteLine("stages: " + string.Join(", ", result.StageTimes.Select(t =>
                string.Create(CultureInfo.InvariantCulture, $"{QuantizationPipeline.StageName(t.Key)} {t.Value.TotalSeconds:F1} s"))));
            if (result.ResumedLayers > 0)
                stdout.WriteLine($"resumed after {result.ResumedLayers} layers finished by an earlier run");
            return Task.FromResult(CliCommon.ExitOk);
        }));
        return command;
    }

    /// <summary>
    /// --sensitivity: the Fisher pass runs on the --device context (the backward ops and the
    /// F32 × F16/BF16 products exist on both backends), --fisher-layers layers' accumulators at a time.
    /// </summary>
    internal static ISensitivityProvider Sensitivity(string name, DeviceKind device, int fisherLayers, ILogger log) => name switch
    {
        "fisher" => new FisherSensitivity(new FisherOptions { Device = device, MaxResidentLayers = fisherLayers }, log),
        "uniform" => UniformSensitivity.Instance,
        _ => throw new Runtime.InvalidOptionException("--sensitivity", $"unknown sensitivity '{name}' (fisher, uniform)"),
    };

    /// <summary>--fisher-layers, also taken by `squeeze bench fisher`.</summary>
    internal static Option<int> FisherLayersOption() => new("--fisher-layers")
    {
        Description = "Fisher pass: decoder layers whose accumulators are resident at once (0 = all). Accumulators are F32, 4 bytes " +
                      "per quantizable weight (26 GB for LLaMA-2-7B); with N below the layer count the calibration windows run " +
                      "once per group of N layers (a forward through the model, a backward down to the group): less memory, more time.",
        DefaultValueFactory = _ => 0,
    };

    /// <summary>Rejects a negative --fisher-layers.</summary>
    internal static void ValidateFisherLayers(int value)
    {
        if (value < 0)
            throw new Runtime.InvalidOptionException("--fisher-layers",
                $"must be >= 0 (0 = every layer at once); got {value.ToString(CultureInfo.InvariantCulture)}");
    }
}
