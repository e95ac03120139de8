namespace SqueezeNative.Runtime.Evaluation;

/// <summary>
/// An evaluation or calibration data file is missing, unreadable or malformed. The message always
/// names the file and, where one is at fault, the line.
/// </summary>
public sealed class EvalDataException : SqueezeException
{
    /// <summary>The data file at fault, as given by the caller.</summary>
    public string FilePath { get; }

    /// <summary>1-based line number at fault, when the problem is on one line.</summary>
    public int? LineNumber { get; }

    public EvalDataException(string filePath, string message, int? lineNumber = null, Exception? inner = null)
        : base(Compose(filePath, message, lineNumber), inner ?? new Exception(message))
    {
        FilePath = filePath;
        LineNumber = lineNumber;
    }

    private static string Compose(string filePath, string message, int? lineNumber) =>
        lineNumber is int line ? $"{filePath}:{line}: {message}" : $"{filePath}: {message}";
}
