using System.Text;

namespace SqueezeNative.Runtime;

/// <summary>
/// Small files written whole or not at all: a temporary file in the same folder, flushed, then
/// renamed over the target (checkpoint metadata, benchmark reports).
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        var fullPath = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(Encoding.UTF8.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            throw new SqueezeException($"{path}: cannot write the file ({e.Message})", e);
        }
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the original error matters more */ }
    }
}
