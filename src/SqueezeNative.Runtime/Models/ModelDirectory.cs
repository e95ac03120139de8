using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;

namespace SqueezeNative.Runtime.Models;

/// <summary>
/// A Hugging Face model folder: config.json plus, optionally, safetensors weights
/// (<c>model.safetensors</c> or a sharded checkpoint with <c>model.safetensors.index.json</c>).
/// Opening it parses the config, resolves the architecture and, when weights are present, maps
/// and validates every tensor against the config. A folder with only config.json is accepted
/// (<see cref="HasWeights"/> is false): shapes and parameter counts come from the config alone.
/// A quantized folder (<c>quant_config.json</c>, or <c>*.qweight</c> tensors) is read through
/// <see cref="QuantizedTensorSource"/>: each quantized linear appears as its logical weight.
/// Disposing releases the memory mappings behind the weights.
/// </summary>
public sealed class ModelDirectory : IDisposable
{
    public const string SingleFileWeights = "model.safetensors";

    private ModelDirectory(string path, ModelConfig config, IArchitecture architecture, ITensorSource? checkpoint,
        IModelWeights? weights, string? weightsPath, long sizeOnDisk, long weightBytes)
    {
        Path = path;
        Config = config;
        Architecture = architecture;
        Checkpoint = checkpoint;
        Weights = weights;
        WeightsPath = weightsPath;
        SizeOnDiskBytes = sizeOnDisk;
        WeightBytes = weightBytes;
    }

    /// <summary>The folder, as given by the caller.</summary>
    public string Path { get; }

    public ModelConfig Config { get; }

    public IArchitecture Architecture { get; }

    /// <summary>The raw tensors of the checkpoint; null for a config-only folder.</summary>
    public ITensorSource? Checkpoint { get; }

    /// <summary>The validated, typed weights; null for a config-only folder.</summary>
    public IModelWeights? Weights { get; }

    public bool HasWeights => Weights is not null;

    /// <summary>True for a folder written by <c>squeeze quantize</c>.</summary>
    public bool IsQuantized => Checkpoint is QuantizedTensorSource;

    /// <summary>model.safetensors or model.safetensors.index.json; null for a config-only folder.</summary>
    public string? WeightsPath { get; }

    /// <summary>Bytes of all files directly in the folder.</summary>
    public long SizeOnDiskBytes { get; }

    /// <summary>Bytes of the safetensors files (all shards); 0 for a config-only folder.</summary>
    public long WeightBytes { get; }

    /// <summary>Every tensor the config implies (available with or without weights).</summary>
    public IReadOnlyList<TensorSpec> DescribeTensors() => Architecture.DescribeTensors(Config);

    /// <summary>
    /// Parameter count: of the tensors present when there are weights, else of the tensors the
    /// config implies. A tied LM head counts once, as in the checkpoint.
    /// </summary>
    public long ParameterCount => Weights is not null
        ? Weights.Tensors.Sum(t => t.ElementCount)
        : DescribeTensors().Sum(t => t.ElementCount);

    /// <summary>The distinct dtypes of the weight tensors, most common first; empty without weights.</summary>
    public IReadOnlyList<TensorDType> CheckpointDTypes => Weights is null
        ? []
        : Weights.Tensors.GroupBy(t => t.DType).OrderByDescending(g => g.Sum(t => t.ElementCount)).Select(g => g.Key).ToList();

    /// <summary>Tensors the checkpoint holds that the architecture does not use (e.g. rotary caches of old exports).</summary>
    public IReadOnlyList<string> UnusedTensorNames
    {
        get
        {
            if (Checkpoint is null || Weights is null) return [];
            var used = Weights.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            return Checkpoint.Names.Where(n => !used.Contains(n)).ToList();
        }
    }

    /// <summary>
    /// Opens the model folder at <paramref name="path"/>. Throws <see cref="ModelFormatException"/>
    /// naming the folder, file and tensor at fault.
    /// </summary>
    public static ModelDirectory Open(string path)
    {
        if (File.Exists(path))
            throw new ModelFormatException($"not a model directory: {path} (a file; pass the folder holding {ModelConfig.FileName})");
        if (!Directory.Exists(path))
            throw new ModelFormatException($"not a model directory: {path} (no such folder)");
        var configPath = System.IO.Path.Combine(path, ModelConfig.FileName);
        if (!File.Exists(configPath))
            throw new ModelFormatException($"not a model directory: {path} (no {ModelConfig.FileName})");

        var config = ModelConfig.Load(configPath);
        var architecture = ArchitectureRegistry.Find(config.ModelType)
            ?? throw new ModelFormatException($"no architecture is registered for model_type '{config.ModelType}'", configPath);

        var (checkpoint, weightsPath) = OpenCheckpoint(path);
        try
        {
            var weights = checkpoint is null ? null : architecture.LoadWeights(checkpoint, config);
            long weightBytes = (checkpoint is QuantizedTensorSource quantized ? quantized.Inner : checkpoint) switch
            {
                SafetensorsFile file => file.FileLength,
                ShardedSafetensors sharded => sharded.Shards.Sum(s => s.FileLength),
                _ => 0,
            };
            return new ModelDirectory(path, config, architecture, checkpoint, weights, weightsPath, FolderSize(path), weightBytes);
        }
        catch
        {
            checkpoint?.Dispose();
            throw;
        }
    }

    private static (ITensorSource? Checkpoint, string? Path) OpenCheckpoint(string folder)
    {
        var (stored, path) = OpenStoredCheckpoint(folder);
        if (stored is null)
            return (null, null);
        var quantConfig = System.IO.Path.Combine(folder, QuantizedCheckpointFormat.QuantConfigFileName);
        var hasQuantConfig = File.Exists(quantConfig);
        if (!hasQuantConfig && !QuantizedTensorSource.HoldsQuantizedLinears(stored))
            return (stored, path);
        QuantizationMethod method = QuantizationMethod.SqueezeLlm;
        int? wbits = null;
        if (hasQuantConfig)
        {
            try
            {
                (method, var bits) = QuantConfig.ReadEssentials(quantConfig);
                wbits = bits;
            }
            catch
            {
                stored.Dispose();
                throw;
            }
        }
        return (QuantizedTensorSource.Open(stored, method, wbits), path);
    }

    private static (ITensorSource? Checkpoint, string? Path) OpenStoredCheckpoint(string folder)
    {
        var single = System.IO.Path.Combine(folder, SingleFileWeights);
        if (File.Exists(single))
            return (SafetensorsFile.Open(single), single);

        var index = System.IO.Path.Combine(folder, ShardedSafetensors.IndexFileName);
        if (File.Exists(index))
            return (ShardedSafetensors.Open(index), index);

        // Weights in a form we do not read must not pass for a config-only folder.
        var safetensors = Directory.GetFiles(folder, "*.safetensors");
        if (safetensors.Length > 0)
            throw new ModelFormatException(
                $"holds {System.IO.Path.GetFileName(safetensors[0])} but neither {SingleFileWeights} nor {ShardedSafetensors.IndexFileName}", folder);
        var pickled = Directory.GetFiles(folder, "*.bin").Concat(Directory.GetFiles(folder, "*.pt")).FirstOrDefault();
        if (pickled is not null)
            throw new ModelFormatException(
                $"weights are in PyTorch pickle format ({System.IO.Path.GetFileName(pickled)}); only safetensors is read — convert with transformers' save_pretrained(safe_serialization=True)",
                folder);
        return (null, null);
    }

    private static long FolderSize(string folder)
    {
        try
        {
            return new DirectoryInfo(folder).EnumerateFiles().Sum(f => f.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException($"cannot list the model folder ({e.Message})", folder, inner: e);
        }
    }

    public void Dispose() => Checkpoint?.Dispose();
}
