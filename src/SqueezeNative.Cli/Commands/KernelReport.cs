using System.Globalization;
using System.Security;
using System.Text;
using System.Text.Json;

namespace SqueezeNative.Cli.Commands;

/// <summary>The results of `squeeze bench kernels` as a text table, JSON and an SVG chart.</summary>
internal static class KernelReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private static string F(double value, int decimals) => value.ToString("F" + decimals, Invariant);

    public static void WriteTable(TextWriter output, KernelBenchReport report)
    {
        string[] header = ["N×K", "bits", "sparse %", "nnz", "M", "µs", "GB/s", "% copy", "cuBLAS µs", "speed-up", "sparse ×"];
        var rows = report.Lut.Select(r => new[]
        {
            $"{r.N}x{r.K}", r.Bits.ToString(Invariant), r.SparsityPercent.ToString(Invariant), r.NonZeros.ToString(Invariant),
            r.M.ToString(Invariant), F(r.Microseconds, 2), F(r.GBs, 1), F(r.PercentOfCopy, 1), F(r.CublasMicroseconds, 2),
            F(r.Speedup, 2) + "x", report.SparseOverhead(r) is { } o ? F(o, 2) : "-",
        }).ToList();
        TextFormat.WriteTable(output, header, rows, [false, true, true, true, true, true, true, true, true, true, true], indent: 0);
        output.WriteLine("µs: median per product; GB/s: codes + LUT + sparse part + x + out moved per µs; % copy: of the copy bandwidth above;");
        output.WriteLine("speed-up: cuBLAS fp16 µs ÷ µs at the same shape and M; sparse ×: µs ÷ µs at 0 % sparse.");
    }

    public static string ToJson(KernelBenchReport report)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, NewLine = "\n" }))
        {
            json.WriteStartObject();
            json.WriteString("device", report.Device);
            json.WriteString("baseline_device", report.BaselineDevice);
            json.WriteString("host", report.Host);
            json.WriteNumber("copy_bandwidth_gbs", report.CopyGBs);
            json.WriteNumber("repeats", report.Settings.Repeats);
            json.WriteStartArray("lut_matmul");
            foreach (var r in report.Lut)
            {
                json.WriteStartObject();
                json.WriteNumber("n", r.N);
                json.WriteNumber("k", r.K);
                json.WriteNumber("bits", r.Bits);
                json.WriteNumber("sparsity_percent", r.SparsityPercent);
                json.WriteNumber("nnz", r.NonZeros);
                json.WriteNumber("m", r.M);
                json.WriteNumber("us", r.Microseconds);
                json.WriteNumber("bytes", r.Bytes);
                json.WriteNumber("gbs", r.GBs);
                json.WriteNumber("percent_of_copy", r.PercentOfCopy);
                json.WriteNumber("cublas_us", r.CublasMicroseconds);
                json.WriteNumber("speedup_vs_cublas", r.Speedup);
                if (report.SparseOverhead(r) is { } overhead) json.WriteNumber("sparse_overhead", overhead);
                else json.WriteNull("sparse_overhead");
                json.WriteNumber("weight_copies", r.Copies);
                json.WriteNumber("launches_per_graph", r.Launches);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("cublas_fp16");
            foreach (var d in report.Dense)
            {
                json.WriteStartObject();
                json.WriteNumber("n", d.N);
                json.WriteNumber("k", d.K);
                json.WriteNumber("m", d.M);
                json.WriteNumber("us", d.Microseconds);
                json.WriteNumber("gbs", d.GBs);
                json.WriteNumber("percent_of_copy", d.GBs / report.CopyGBs * 100);
                json.WriteNumber("weight_copies", d.Copies);
                json.WriteNumber("launches_per_graph", d.Launches);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"];
    private const string BaselineColor = "#7f7f7f";

    /// <summary>
    /// Two panels: grouped bars of % of copy bandwidth per shape at the smallest M (M = 1 by
    /// default), one bar per bit width and sparsity plus cuBLAS fp16; then one small chart per
    /// shape of µs against M at the lowest sparsity, a line per bit width and one for cuBLAS.
    /// </summary>
    public static string ToSvg(KernelBenchReport report)
    {
        const double width = 1000, barTop = 70, barBottom = 330, left = 70, right = 980;
        var shapes = report.Settings.Shapes;
        var series = report.Settings.Bits.SelectMany(b => report.Settings.Sparsity.Select(s => (Bits: b, Sparsity: s))).ToList();
        string Color(int i) => Palette[i % Palette.Length];
        int m1 = report.Settings.Rows.Min();
        double lowSparsity = report.Settings.Sparsity.Min();
        const int columns = 3;
        const double cellWidth = (right - left) / columns, cellHeight = 230, gridTop = barBottom + 120;
        int gridRows = (shapes.Count + columns - 1) / columns;
        double height = gridTop + gridRows * cellHeight + 20;

        var svg = new StringBuilder();
        svg.Append(Invariant, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{F(height, 0)}\" viewBox=\"0 0 {width} {F(height, 0)}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        Text(svg, left, 22, $"sn_lut_matmul on {report.Device}", 15, "start", bold: true);
        Text(svg, left, 42, $"% of copy bandwidth ({F(report.CopyGBs, 0)} GB/s, same run) at M = {m1}; cuBLAS fp16 on the same shapes", 12, "start");

        // Panel 1: grouped bars.
        double maxPercent = report.Lut.Where(r => r.M == m1).Select(r => r.PercentOfCopy)
            .Concat(report.Dense.Where(d => d.M == m1).Select(d => d.GBs / report.CopyGBs * 100)).DefaultIfEmpty(0).Max();
        double yMax = AxisTop(Math.Max(100, maxPercent));
        YAxis(svg, left, right, barTop, barBottom, yMax, "%");
        double groupWidth = (right - left) / shapes.Count;
        double barWidth = groupWidth * 0.8 / (series.Count + 1);
        for (int g = 0; g < shapes.Count; g++)
        {
            var (n, k) = shapes[g];
            double x0 = left + g * groupWidth + groupWidth * 0.1;
            for (int i = 0; i <= series.Count; i++)
            {
                double? value = i < series.Count
                    ? report.Lut.FirstOrDefault(r => r.N == n && r.K == k && r.M == m1 && r.Bits == series[i].Bits && r.SparsityPercent == series[i].Sparsity)?.PercentOfCopy
                    : report.Dense.FirstOrDefault(d => d.N == n && d.K == k && d.M == m1) is { } d ? d.GBs / report.CopyGBs * 100 : null;
                if (value is not { } v) continue;
                double h = (barBottom - barTop) * v / yMax;
                svg.Append(Invariant, $"<rect x=\"{F(x0 + i * barWidth, 1)}\" y=\"{F(barBottom - h, 1)}\" width=\"{F(barWidth * 0.9, 1)}\" height=\"{F(h, 1)}\" fill=\"{(i < series.Count ? Color(i) : BaselineColor)}\"><title>{F(v, 1)} %</title></rect>\n");
            }
            Text(svg, left + (g + 0.5) * groupWidth, barBottom + 16, $"{n}×{k}", 12, "middle");
        }
        double legendY = barBottom + 40, legendX = left;
        for (int i = 0; i <= series.Count; i++)
        {
            string label = i < series.Count ? $"{series[i].Bits}-bit, {series[i].Sparsity.ToString(Invariant)} % sparse" : "cuBLAS fp16";
            svg.Append(Invariant, $"<rect x=\"{F(legendX, 1)}\" y=\"{F(legendY - 10, 1)}\" width=\"12\" height=\"12\" fill=\"{(i < series.Count ? Color(i) : BaselineColor)}\"/>\n");
            Text(svg, legendX + 16, legendY, label, 12, "start");
            legendX += 30 + 7 * label.Length;
            if (legendX > right - 150 && i < series.Count) { legendX = left; legendY += 18; }
        }

        // Panel 2: µs against M, one small chart per shape.
        Text(svg, left, gridTop - 36, $"µs per product against M (rows of x), {lowSparsity.ToString(Invariant)} % sparse; grey dashed: cuBLAS fp16", 13, "start", bold: true);
        var rowsM = report.Settings.Rows.Order().ToList();
        for (int g = 0; g < shapes.Count; g++)
        {
            var (n, k) = shapes[g];
            double cx = left + (g % columns) * cellWidth, cy = gridTop + (g / columns) * cellHeight;
            double pl = cx + 45, pr = cx + cellWidth - 15, pt = cy + 20, pb = cy + cellHeight - 50;
            var lines = report.Settings.Bits.Select(b => (Color: Color(series.IndexOf((b, lowSparsity))), Dashed: false,
                    Points: rowsM.Select(m => report.Lut.FirstOrDefault(r => r.N == n && r.K == k && r.M == m && r.Bits == b && r.SparsityPercent == lowSparsity)?.Microseconds).ToList()))
                .Append((Color: BaselineColor, Dashed: true,
                    Points: rowsM.Select(m => report.Dense.FirstOrDefault(d => d.N == n && d.K == k && d.M == m)?.Microseconds).ToList()))
                .ToList();
            double top = AxisTop(lines.SelectMany(l => l.Points).Where(p => p is not null).Select(p => p!.Value).DefaultIfEmpty(1).Max());
            Text(svg, (pl + pr) / 2, cy + 10, $"{n}×{k}", 12, "middle", bold: true);
            Text(svg, pl - 6, pt - 8, "µs", 11, "end");
            YAxis(svg, pl, pr, pt, pb, top, "");
            double X(int i) => rowsM.Count == 1 ? (pl + pr) / 2 : pl + 10 + i * (pr - pl - 20) / (rowsM.Count - 1);
            for (int i = 0; i < rowsM.Count; i++)
                Text(svg, X(i), pb + 15, rowsM[i].ToString(Invariant), 11, "middle");
            Text(svg, (pl + pr) / 2, pb + 32, "M", 11, "middle");
            foreach (var line in lines)
            {
                var points = line.Points.Select((p, i) => p is { } v ? $"{F(X(i), 1)},{F(pb - (pb - pt) * v / top, 1)}" : null).Where(p => p is not null).ToList();
                if (points.Count == 0) continue;
                svg.Append(Invariant, $"<polyline fill=\"none\" stroke=\"{line.Color}\" stroke-width=\"2\"{(line.Dashed ? " stroke-dasharray=\"5,3\"" : "")} points=\"{string.Join(' ', points)}\"/>\n");
                foreach (var p in points)
                {
                    var xy = p!.Split(',');
                    svg.Append(Invariant, $"<circle cx=\"{xy[0]}\" cy=\"{xy[1]}\" r=\"2.5\" fill=\"{line.Color}\"/>\n");
                }
            }
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Gridlines and labels at round steps up to <paramref name="max"/> (an <see cref="AxisTop"/>).</summary>
    private static void YAxis(StringBuilder svg, double left, double right, double top, double bottom, double max, string unit)
    {
        int steps = AxisSteps(max);
        for (int i = 0; i <= steps; i++)
        {
            double y = bottom - (bottom - top) * i / steps;
            svg.Append(Invariant, $"<line x1=\"{F(left, 1)}\" y1=\"{F(y, 1)}\" x2=\"{F(right, 1)}\" y2=\"{F(y, 1)}\" stroke=\"{(i == 0 ? "#333" : "#ddd")}\"/>\n");
            Text(svg, left - 6, y + 4, (max * i / steps).ToString("0.##", Invariant) + unit, 11, "end");
        }
    }

    private static void Text(StringBuilder svg, double x, double y, string text, int size, string anchor, bool bold = false) =>
        svg.Append(Invariant, $"<text x=\"{F(x, 1)}\" y=\"{F(y, 1)}\" font-size=\"{size}\" text-anchor=\"{anchor}\"{(bold ? " font-weight=\"bold\"" : "")}>{SecurityElement.Escape(text)}</text>\n");

    // Axis tops as mantissa × 10^k, each with a step count that gives round tick values.
    private static readonly (double Mantissa, int Steps)[] AxisTops =
        [(1, 5), (1.2, 4), (1.5, 5), (2, 4), (2.5, 5), (3, 6), (4, 4), (5, 5), (6, 6), (8, 4), (10, 5)];

    /// <summary>The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k) at or above <paramref name="value"/>: a readable axis top.</summary>
    internal static double AxisTop(double value)
    {
        if (!(value > 0)) return 1;
        double scale = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var (mantissa, _) in AxisTops)
            if (mantissa * scale >= value * (1 - 1e-12)) return mantissa * scale;
        return 10 * scale;
    }

    private static int AxisSteps(double top)
    {
        double mantissa = top / Math.Pow(10, Math.Floor(Math.Log10(top) + 1e-12));
        foreach (var (m, steps) in AxisTops)
            if (Math.Abs(m - mantissa) < 1e-9) return steps;
        return 4;
    }
}
