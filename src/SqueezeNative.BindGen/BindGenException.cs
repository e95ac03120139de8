namespace SqueezeNative.BindGen;

/// <summary>
/// The header cannot be turned into bindings: it is missing, does not parse, or declares
/// something the bindings cannot represent. The message names the file, line and declaration.
/// </summary>
public sealed class BindGenException(string message) : Exception(message);
