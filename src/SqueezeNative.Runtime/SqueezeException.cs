namespace SqueezeNative.Runtime;

/// <summary>
/// Base of every error SqueezeNative reports on purpose: bad input files, invalid options,
/// native failures. The CLI prints <see cref="Exception.Message"/> and exits non-zero; anything
/// that is not a <see cref="SqueezeException"/> is a bug.
/// </summary>
public class SqueezeException : Exception
{
    public SqueezeException(string message) : base(message) { }
    public SqueezeException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// A model folder, checkpoint or tokenizer file is missing, malformed or contradicts config.json.
/// The message always names the file and, where one is involved, the tensor.
/// </summary>
public class ModelFormatException : SqueezeException
{
    /// <summary>The file at fault (absolute or as given by the user), if any.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor at fault, if any.</summary>
    public string? TensorName { get; }

    public ModelFormatException(string message, string? filePath = null, string? tensorName = null, Exception? inner = null)
        : base(Compose(message, filePath, tensorName), inner ?? new Exception(message))
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    private static string Compose(string message, string? filePath, string? tensorName)
    {
        var where = (filePath, tensorName) switch
        {
            (not null, not null) => $"{filePath}: tensor '{tensorName}': ",
            (not null, null) => $"{filePath}: ",
            (null, not null) => $"tensor '{tensorName}': ",
            _ => "",
        };
        return where + message;
    }
}

/// <summary>An option or argument given by the caller is invalid; the message names it.</summary>
public class InvalidOptionException : SqueezeException
{
    /// <summary>The option as the user spells it, e.g. "--seqlen" or "temperature".</summary>
    public string OptionName { get; }

    public InvalidOptionException(string optionName, string message)
        : base($"{optionName}: {message}")
    {
        OptionName = optionName;
    }
}
