using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// A decoder's weights on a native context, and sessions to run it: the part of a model that
/// needs no tokenizer (real checkpoints through <see cref="LanguageModel"/>, synthetic models of
/// a real config's shape for benchmarks).
/// </summary>
public sealed class DecoderModel : IDisposable
{
    public ModelConfig Config { get; }
    public ArchitectureInfo Architecture { get; }
    public NativeContext Context { get; }
    public DecoderWeights Weights { get; }
    /// <summary>The model's context length (max_position_embeddings).</summary>
    public int ContextLength => Config.MaxPositions;
    public int VocabSize => (int)Weights.LmHead.Shape[0];

    private DecoderModel(ModelConfig config, ArchitectureInfo architecture, NativeContext context, DecoderWeights weights)
    {
        Config = config; Architecture = architecture; Context = context; Weights = weights;
    }

    /// <summary>Puts a model folder's checkpoint on a new context for <paramref name="device"/>.</summary>
    public static DecoderModel Load(ModelDirectory dir, DeviceKind device, int threads, int deviceOrdinal, ILogger log)
    {
        if (dir.Weights is null)
            throw new ModelFormatException("the folder has a config.json but no weights (model.safetensors or model.safetensors.index.json)", dir.Path);
        return Create(dir.Config, dir.Architecture, dir.Weights, WeightSource.Checkpoint, device, threads, deviceOrdinal, log);
    }

    /// <summary>
    /// A model of exactly <paramref name="config"/>'s shape with seeded random weights made on the
    /// device (no files): for benchmarks at real sizes, e.g. ../shared/configs/llama-2-7b.
    /// </summary>
    public static DecoderModel Synthetic(ModelConfig config, NativeContext context, ulong seed = 1, NativeDType dtype = NativeDType.F16)
    {
        var arch = ArchitectureRegistry.Resolve(config);
        using var source = new SyntheticTensorSource(arch, config);
        var typed = arch.LoadWeights(source, config);
        var weights = DecoderWeights.Create(typed, context, WeightSource.Synthetic(seed, dtype));
        return new DecoderModel(config, arch.Info, context, weights) { _ownsContext = false };
    }

    /// <summary>
    /// A SqueezeLLM-quantized model of exactly <paramref name="config"/>'s shape with random codes,
    /// LUTs and a sparse part of <paramref name="sparsityPercent"/> % (<see cref="SyntheticLut"/>),
    /// embeddings, norms and the LM head as in <see cref="Synthetic"/>: the bytes a real quantized
    /// checkpoint of that model puts on the device, and the same load path (repack, stacking).
    /// </summary>
    public static DecoderModel SyntheticQuantized(ModelConfig config, NativeContext context, int bits, double sparsityPercent, ulong seed = 1)
    {
        var arch = ArchitectureRegistry.Resolve(config);
        using var source = Quantization.Checkpoint.QuantizedTensorSource.Open(
            SyntheticLut.CheckpointOf(arch, config, bits, sparsityPercent, (int)seed), Quantization.QuantizationMethod.SqueezeLlm, bits);
        var typed = arch.LoadWeights(source, config);
        var weights = DecoderWeights.Create(typed, context, WeightSource.Synthetic(seed));
        return new DecoderModel(config, arch.Info, context, weights) { _ownsContext = false };
    }

    /// <summary>Puts a checkpoint on an existing context (the caller keeps owning the context).</summary>
    public static DecoderModel OnContext(ModelDirectory dir, NativeContext context)
    {
        if (dir.Weights is null)
            throw new ModelFormatException("the folder has a config.json but no weights", dir.Path);
        var weights = DecoderWeights.Create(dir.Weights, context, WeightSource.Checkpoint);
        return new DecoderModel(dir.Config, dir.Architecture.Info, context, weights) { _ownsContext = false };
    }

    private bool _ownsContext = true;

    private static DecoderModel Create(ModelConfig config, IArchitecture arch, IModelWeights typed, WeightSource source,
        DeviceKind device, int threads, int deviceOrdinal, ILogger log)
    {
        var context = NativeContext.Create(device, threads, deviceOrdinal, log);
        try
        {
            return new DecoderModel(config, arch.Info, context, DecoderWeights.Create(typed, context, source));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>A fresh KV cache for up to <paramref name="capacity"/> tokens (default: the context length).</summary>
    public InferenceSession CreateSession(int? capacity = null, int? maxChunk = null)
    {
        int cap = capacity ?? ContextLength;
        if (cap < 1 || cap > ContextLength)
            throw new InvalidOptionException("capacity", $"must be in 1..{ContextLength} (the model's context), got {cap}");
        return new InferenceSession(Weights, Context, cap, maxChunk ?? cap);
    }

    public void Dispose()
    {
        Weights.Dispose();
        if (_ownsContext) Context.Dispose();
    }
}
