namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// A weight matrix cannot be quantized as asked: its shape does not fit the packed layout, its
/// values or sensitivities are not finite, its Hessian is not positive definite. The message
/// names the tensor whenever the caller gave its name.
/// </summary>
public sealed class QuantizationException : SqueezeException
{
    /// <summary>The tensor at fault (e.g. "model.layers.0.mlp.down_proj.weight"), if known.</summary>
    public string? TensorName { get; }

    public QuantizationException(string message, string? tensorName = null)
        : base(tensorName is null ? message : $"tensor '{tensorName}': {message}")
    {
        TensorName = tensorName;
    }
}
