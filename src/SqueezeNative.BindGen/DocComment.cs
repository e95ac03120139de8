namespace SqueezeNative.BindGen;

/// <summary>Turns a raw C doc comment (<c>/** ... */</c> or <c>///</c> lines) into plain text lines.</summary>
public static class DocComment
{
    /// <summary>The comment's text without comment markers, or null when there is none.</summary>
    public static string? Clean(string? raw)
    {
        if (string.IsNullOrWhiteSpace(raw))
            return null;
        var text = raw.Replace("\r\n", "\n").Trim();
        IEnumerable<string> lines;
        if (text.StartsWith("/**", StringComparison.Ordinal) || text.StartsWith("/*!", StringComparison.Ordinal))
        {
            var body = text[3..];
            if (body.EndsWith("*/", StringComparison.Ordinal))
                body = body[..^2];
            lines = body.Split('\n').Select(StripLeadingStar);
        }
        else
        {
            lines = text.Split('\n').Select(line => StripMarker(line.TrimStart(), "///"));
        }

        var kept = lines.Select(line => line.TrimEnd()).ToList();
        while (kept.Count > 0 && kept[0].Length == 0)
            kept.RemoveAt(0);
        while (kept.Count > 0 && kept[^1].Length == 0)
            kept.RemoveAt(kept.Count - 1);
        return kept.Count == 0 ? null : string.Join('\n', kept);
    }

    // " * text" -> "text", " *   indented" -> "  indented" (relative indentation is kept: it is
    // how the header aligns formulas and shape tables).
    private static string StripLeadingStar(string line)
    {
        var trimmed = line.TrimStart();
        if (trimmed.StartsWith('*'))
            return StripMarker(trimmed, "*");
        return trimmed;
    }

    private static string StripMarker(string line, string marker)
    {
        if (!line.StartsWith(marker, StringComparison.Ordinal))
            return line;
        var rest = line[marker.Length..];
        return rest.StartsWith(' ') ? rest[1..] : rest;
    }
}
