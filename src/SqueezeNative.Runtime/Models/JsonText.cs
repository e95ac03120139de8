using System.Text.Json;

namespace SqueezeNative.Runtime.Models;

/// <summary>How JSON values are quoted in error messages about config.json, safetensors headers and indexes.</summary>
internal static class JsonText
{
    /// <summary>The kind of a value with its article, e.g. "an array", "a string".</summary>
    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    /// <summary>Raw JSON cut short: a corrupt file can hold megabytes in one value.</summary>
    public static string Abbreviate(string raw) => raw.Length <= 40 ? raw : raw[..37] + "...";
}
