using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Architectures;

/// <summary>
/// The checks the generated loaders run on every tensor, kept here so that every architecture
/// reports a bad checkpoint with the same wording. Called by generated code only.
/// </summary>
public static class TensorValidation
{
    /// <summary>
    /// Checks a shape evaluated from config.json. A non-positive dimension means the config is
    /// inconsistent (e.g. num_attention_heads = 0), so the config file is at fault, not a tensor.
    /// </summary>
    /// <param name="shapeText">The shape as the description spells it, e.g. "[QDim, HiddenSize]".</param>
    public static long[] ExpectedShape(ModelConfig config, string tensorName, string shapeText, params long[] dimensions)
    {
        foreach (var dimension in dimensions)
        {
            if (dimension <= 0)
                throw new ModelFormatException(
                    $"expected shape {shapeText} evaluates to [{string.Join(", ", dimensions)}]; every dimension must be positive, check config.json",
                    ConfigFile(config), tensorName);
        }
        return dimensions;
    }

    /// <summary>Integer division inside a shape expression, with a config error instead of a crash on 0.</summary>
    public static long Divide(long numerator, long denominator, string expression, ModelConfig config)
    {
        if (denominator == 0)
            throw new ModelFormatException($"shape expression '{expression}' divides by zero with the values of config.json", ConfigFile(config));
        return numerator / denominator;
    }

    /// <summary>config.NumLayers, checked to be positive before arrays are sized with it.</summary>
    public static int LayerCount(ModelConfig config)
    {
        if (config.NumLayers <= 0)
            throw new ModelFormatException($"num_hidden_layers is {config.NumLayers}; a decoder needs at least one layer", ConfigFile(config));
        return config.NumLayers;
    }

    /// <summary>
    /// Finds <paramref name="name"/> in <paramref name="source"/> and checks that it is a
    /// floating-point tensor of the expected shape.
    /// </summary>
    /// <remarks>
    /// F16, BF16 and F32 are all accepted whatever config.json's dtype says: checkpoints in the
    /// wild disagree with their config (e.g. float32 configs over float16 files) and transformers
    /// itself casts on load. Integer or boolean data under a weight name is never a usable model.
    /// </remarks>
    public static TensorRef Require(ITensorSource source, ModelConfig config, string name, long[] expectedShape, string shapeText)
    {
        if (!source.TryGetTensor(name, out var tensor))
            throw new ModelFormatException(
                $"required tensor is missing (expected shape {shapeText} = [{string.Join(", ", expectedShape)}] for model_type '{config.ModelType}')",
                source.Location, name);

        if (tensor.DType is not (TensorDType.F16 or TensorDType.BF16 or TensorDType.F32))
            throw new ModelFormatException(
                $"dtype {tensor.DType} is not a floating-point weight type (expected F16, BF16 or F32; config.json says {config.Dtype})",
                tensor.FilePath, name);

        if (!tensor.Shape.AsSpan().SequenceEqual(expectedShape))
            throw new ModelFormatException(
                $"shape [{string.Join(", ", tensor.Shape)}] does not match config.json{ConfigSuffix(config)}: expected {shapeText} = [{string.Join(", ", expectedShape)}]",
                tensor.FilePath, name);

        return tensor;
    }

    private static string? ConfigFile(ModelConfig config) => config.SourcePath.Length > 0 ? config.SourcePath : null;

    private static string ConfigSuffix(ModelConfig config) => config.SourcePath.Length > 0 ? $" ({config.SourcePath})" : "";
}
