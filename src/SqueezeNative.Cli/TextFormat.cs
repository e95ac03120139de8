using System.Globalization;
using System.Text;

namespace SqueezeNative.Cli;

/// <summary>
/// Plain-text output helpers. Commands print aligned plain text rather than terminal widgets so
/// the output reads the same on a terminal, in a log file and through grep.
/// </summary>
public static class TextFormat
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>An exact count with thousands separators: 26,450,304.</summary>
    public static string Exact(long value) => value.ToString("N0", Invariant);

    /// <summary>A count in decimal units as model sizes are quoted: "26.45 M", "6.74 B".</summary>
    public static string Human(long value) => Scaled(value, ["", " K", " M", " B", " T"]);

    /// <summary>A byte size in decimal units: "52.91 MB".</summary>
    public static string Bytes(long value) => Scaled(value, [" B", " kB", " MB", " GB", " TB"]);

    private static string Scaled(long value, string[] units)
    {
        double scaled = value;
        int unit = 0;
        while (Math.Abs(scaled) >= 1000 && unit < units.Length - 1)
        {
            scaled /= 1000;
            unit++;
        }
        return unit == 0
            ? value.ToString(Invariant) + units[0]
            : scaled.ToString("F2", Invariant) + units[unit];
    }

    /// <summary>"label   value" lines with the values aligned.</summary>
    public static void WriteFields(TextWriter output, IReadOnlyList<(string Label, string Value)> fields)
    {
        int width = fields.Max(f => f.Label.Length) + 2;
        foreach (var (label, value) in fields)
            output.WriteLine(label.PadRight(width) + value);
    }

    /// <summary>
    /// A table with a header row; columns whose <paramref name="rightAligned"/> flag is set are
    /// right-aligned (numbers). Rows are indented by <paramref name="indent"/> spaces.
    /// </summary>
    public static void WriteTable(TextWriter output, string[] header, IReadOnlyList<string[]> rows, bool[] rightAligned, int indent = 2)
    {
        var widths = new int[header.Length];
        foreach (var row in rows.Prepend(header))
            for (int c = 0; c < row.Length; c++)
                widths[c] = Math.Max(widths[c], row[c].Length);

        foreach (var row in rows.Prepend(header))
        {
            var line = new StringBuilder(new string(' ', indent));
            for (int c = 0; c < row.Length; c++)
            {
                if (c > 0) line.Append("   ");
                line.Append(rightAligned[c] ? row[c].PadLeft(widths[c]) : row[c].PadRight(widths[c]));
            }
            output.WriteLine(line.ToString().TrimEnd());
        }
    }
}
