using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// <c>squeeze inspect &lt;model-dir&gt;</c>: what a model folder holds — architecture, dimensions,
/// traits, parameter count, dtype, size, and the linears SqueezeLLM would quantize. Works on
/// config-only folders too, from the shapes config.json implies.
/// </summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var modelDir = new Argument<string>("model-dir")
        {
            Description = "A Hugging Face model folder (config.json, and model.safetensors or a sharded index).",
        };
        var command = new Command("inspect", "Show a model's architecture, shapes, parameter count and quantizable linears.");
        command.Arguments.Add(modelDir);
        command.SetAction(parseResult => CliCommon.Run(parseResult, loggerFactory =>
            Execute(parseResult.GetRequiredValue(modelDir), parseResult.InvocationConfiguration.Output, loggerFactory)));
        return command;
    }

    internal static int Execute(string path, TextWriter output, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger("inspect");
        using var model = ModelDirectory.Open(path);
        logger.LogDebug("opened {Path}: model_type {ModelType}, weights {Weights}", path, model.Config.ModelType, model.WeightsPath ?? "none");
        Write(model, output);
        return CliCommon.ExitOk;
    }

    internal static void Write(ModelDirectory model, TextWriter output)
    {
        var config = model.Config;
        var info = model.Architecture.Info;
        var specs = model.DescribeTensors();

        var fields = new List<(string, string)>
        {
            ("model", model.Path),
            ("architecture", config.ArchitectureClass.Length > 0 ? $"{config.ModelType} ({config.ArchitectureClass})" : config.ModelType),
            ("layers", config.NumLayers.ToString(CultureInfo.InvariantCulture)),
            ("hidden size", config.HiddenSize.ToString(CultureInfo.InvariantCulture)),
            ("heads", $"{config.NumHeads} query, {config.NumKvHeads} key/value"),
            ("head dim", config.HeadDim.ToString(CultureInfo.InvariantCulture)),
            ("intermediate", config.IntermediateSize.ToString(CultureInfo.InvariantCulture)),
            ("vocab", config.VocabSize.ToString(CultureInfo.InvariantCulture)),
            ("max positions", config.MaxPositions.ToString(CultureInfo.InvariantCulture)),
            ("attention", DescribeAttention(info, config)),
            ("positions", DescribePositions(info, config)),
            ("norm", DescribeNorm(info, config)),
            ("mlp", $"{(info.Mlp == MlpKind.Gated ? "gated (gate, up, down)" : "two-layer (fc1, fc2)")}, {config.HiddenAct}"),
            ("embeddings", config.TieWordEmbeddings ? "tied (lm_head shares embed_tokens)" : "separate lm_head"),
            ("biases", DescribeBiases(info, config)),
        };

        long parameters = model.ParameterCount;
        if (model.HasWeights)
        {
            var weightsName = Path.GetFileName(model.WeightsPath!);
            int tensorCount = model.Weights!.Tensors.Count;
            fields.Add(("parameters", $"{TextFormat.Exact(parameters)} ({TextFormat.Human(parameters)}) in {tensorCount} tensors"));
            fields.Add(("dtype", $"{string.Join(", ", model.CheckpointDTypes.Select(d => d.ToSafetensorsName()))} (config.json: {config.Dtype})"));
            var shards = model.Checkpoint is ShardedSafetensors sharded ? $", {sharded.Shards.Count} shards" : "";
            fields.Add(("weights", $"{weightsName}{shards}, {TextFormat.Bytes(model.WeightBytes)}"));
            var unused = model.UnusedTensorNames;
            if (unused.Count > 0)
                fields.Add(("unused tensors", $"{unused.Count} not used by {info.ModelType} (e.g. {unused[0]})"));
        }
        else
        {
            fields.Add(("parameters", $"{TextFormat.Exact(parameters)} ({TextFormat.Human(parameters)}), implied by config.json"));
            fields.Add(("dtype", $"{config.Dtype} (config.json)"));
            fields.Add(("weights", "not present (config only)"));
        }
        fields.Add(("size on disk", $"{TextFormat.Bytes(model.SizeOnDiskBytes)} ({TextFormat.Exact(model.SizeOnDiskBytes)} bytes, folder)"));
        TextFormat.WriteFields(output, fields);

        WriteQuantizableLinears(output, specs, config.NumLayers, parameters);
    }

    /// <summary>One row per kind of quantizable linear (e.g. self_attn.q_proj), with its shape and count.</summary>
    private static void WriteQuantizableLinears(TextWriter output, IReadOnlyList<TensorSpec> specs, int layers, long totalParameters)
    {
        var linears = specs.Where(s => s.Quantizable).ToList();
        output.WriteLine();
        if (linears.Count == 0)
        {
            output.WriteLine("quantizable linears: none");
            return;
        }

        var groups = linears
            .GroupBy(s => (Name: LayerRelativeName(s), Shape: string.Join(" x ", s.Shape)))
            .Select(g => (g.Key.Name, g.Key.Shape, PerMatrix: g.First().ElementCount, Count: g.Count()))
            .ToList();
        long quantizable = linears.Sum(s => s.ElementCount);
        var share = (100.0 * quantizable / totalParameters).ToString("F1", CultureInfo.InvariantCulture);
        output.WriteLine(
            $"quantizable linears: {linears.Count} matrices over {layers} layers, {TextFormat.Exact(quantizable)} parameters ({share} % of the model)");

        var rows = groups.Select(g => new[]
        {
            g.Name, g.Shape, TextFormat.Exact(g.PerMatrix), $"x {g.Count}", TextFormat.Exact(g.PerMatrix * g.Count),
        }).ToList();
        TextFormat.WriteTable(output,
            ["linear", "shape [out x in]", "parameters", "count", "total"],
            rows,
            [false, false, true, true, true]);
    }

    /// <summary>"model.layers.3.self_attn.q_proj.weight" → "self_attn.q_proj".</summary>
    private static string LayerRelativeName(TensorSpec spec)
    {
        var name = spec.Name;
        if (spec.Layer is { } layer)
        {
            var marker = $".{layer}.";
            int at = name.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) name = name[(at + marker.Length)..];
        }
        return name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^".weight".Length] : name;
    }

    private static string DescribeAttention(ArchitectureInfo info, ModelConfig config)
    {
        var parts = new List<string>();
        if (config.NumKvHeads < config.NumHeads)
            parts.Add($"GQA ({config.NumHeads / config.NumKvHeads} query heads per key/value head)");
        else
            parts.Add("multi-head");
        if (info.SlidingWindow && config.SlidingWindow is { } window)
            parts.Add($"sliding window {window} tokens");
        return string.Join(", ", parts);
    }

    private static string DescribePositions(ArchitectureInfo info, ModelConfig config) => info.Positional switch
    {
        PositionalKind.Rope => $"RoPE, theta {config.RopeTheta.ToString(CultureInfo.InvariantCulture)}",
        PositionalKind.Learned => $"learned table of {config.MaxPositions + info.PositionOffset} rows (offset {info.PositionOffset})",
        _ => info.Positional.ToString(),
    };

    private static string DescribeNorm(ArchitectureInfo info, ModelConfig config)
    {
        var kind = info.Norm == NormKind.RmsNorm ? "RMSNorm" : "LayerNorm";
        var placement = config.DoLayerNormBefore ? "pre-norm" : "post-norm";
        return $"{kind}, {placement}, eps {config.NormEps.ToString("0.###e+00", CultureInfo.InvariantCulture)}";
    }

    private static string DescribeBiases(ArchitectureInfo info, ModelConfig config)
    {
        var sites = new List<string>();
        if (info.Biases.HasFlag(BiasSites.AttentionProjections) && config.AttentionBias) sites.Add("attention");
        if (info.Biases.HasFlag(BiasSites.MlpProjections) && config.MlpBias) sites.Add("MLP");
        if (info.Biases.HasFlag(BiasSites.Norms) && config.LayerNormElementwiseAffine) sites.Add("norms");
        return sites.Count == 0 ? "none" : string.Join(", ", sites);
    }
}
