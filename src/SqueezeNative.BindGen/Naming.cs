namespace SqueezeNative.BindGen;

/// <summary>
/// The one naming scheme of the generated C#:
/// top-level types keep the API prefix (sn_tensor_info → SnTensorInfo, sn_context → SnContextHandle)
/// because they share a namespace with managed types; members reached through a type drop it
/// (sn_tensor_create → NativeMethods.TensorCreate, SN_MAX_DIMS → NativeConstants.MaxDims) and
/// enumerators drop the prefix common to their enum (SN_ERR_INVALID_ARGUMENT → SnStatus.ErrInvalidArgument,
/// SN_DTYPE_F32 → SnDtype.F32).
/// </summary>
public static class Naming
{
    private static readonly HashSet<string> CSharpKeywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
        "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern",
        "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface",
        "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out", "override",
        "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short",
        "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof",
        "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
    };

    /// <summary>snake_case or SCREAMING_CASE → PascalCase: each '_'-separated part capitalised, the rest lower-cased.</summary>
    public static string Pascal(string cName)
    {
        var parts = cName.Split('_', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
            throw new BindGenException($"'{cName}' has no letters to build a C# name from.");
        return string.Concat(parts.Select(part => char.ToUpperInvariant(part[0]) + part[1..].ToLowerInvariant()));
    }

    /// <summary>snake_case → camelCase, escaped with '@' when it is a C# keyword (base → @base, out → @out).</summary>
    public static string Camel(string cName)
    {
        var pascal = Pascal(cName);
        var camel = char.ToLowerInvariant(pascal[0]) + pascal[1..];
        return CSharpKeywords.Contains(camel) ? "@" + camel : camel;
    }

    /// <summary>The API prefix with its underscore ("sn_"), when every name given starts with the same first segment; else "".</summary>
    public static string ApiPrefix(IEnumerable<string> names)
    {
        var all = names.ToList();
        if (all.Count == 0)
            return "";
        var first = all[0];
        var underscore = first.IndexOf('_');
        if (underscore <= 0)
            return "";
        var prefix = first[..(underscore + 1)];
        return all.All(name => name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && name.Length > prefix.Length)
            ? prefix
            : "";
    }

    /// <summary>Removes <paramref name="prefix"/> (case-insensitive) when present.</summary>
    public static string WithoutPrefix(string name, string prefix) =>
        prefix.Length > 0 && name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? name[prefix.Length..] : name;

    /// <summary>
    /// The longest prefix made of whole '_'-separated segments that every enumerator shares, but never
    /// so long that a name would become empty or start with a digit (SN_DTYPE_F32 keeps "F32").
    /// </summary>
    public static string CommonMemberPrefix(IReadOnlyList<string> memberNames)
    {
        var segmentLists = memberNames.Select(name => name.Split('_')).ToList();
        var shortest = segmentLists.Min(segments => segments.Length);
        var shared = 0;
        // Leave at least one segment of every name.
        while (shared < shortest - 1 && segmentLists.All(segments => segments[shared] == segmentLists[0][shared]))
            shared++;
        while (shared > 0 && segmentLists.Any(segments => segments[shared].Length == 0 || char.IsAsciiDigit(segments[shared][0])))
            shared--;
        return shared == 0 ? "" : string.Join('_', segmentLists[0][..shared]) + "_";
    }
}
