using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using SqueezeNative.Tests.Inference;
using SqueezeNative.Tests.Models;

namespace SqueezeNative.Tests.Cli;

/// <summary>
/// `squeeze bench kernels` and `squeeze bench decode --synthetic --wbits` run end to end on the
/// CPU backend with tiny shapes. Speeds are not asserted (tests never judge speed); what each
/// figure is computed from is.
/// </summary>
public sealed class BenchCommandTests
{
    private static (int ExitCode, string Output, string Error) Squeeze(params string[] args) => InspectCommandTests.Squeeze(args);

    [Fact]
    public void KernelsWritesTheTableJsonAndChart()
    {
        using var temp = new TempDirectory();
        var (code, stdout, stderr) = Squeeze("bench", "kernels", "--device", "cpu", "--threads", "1", "--shapes", "64x256",
            "--bits", "3,4", "--sparsity", "0,0.45", "--m", "1,2", "--repeats", "2",
            "--json", temp.File("k.json"), "--chart", temp.File("k.svg"));
        Assert.True(code == 0, stderr);
        Assert.Contains("machine: CPU", stdout);
        Assert.Matches(@"copy bandwidth \(same run.*\): \d+ GB/s", stdout);
        Assert.Matches(@"(?m)^64x256 +3 +0\.45 +74 +2 ", stdout);
        // Only the two outputs: no temporary file left behind.
        Assert.Equal(["k.json", "k.svg"], Directory.GetFiles(temp.Path).Select(f => Path.GetFileName(f)).Order().ToArray());

        using var json = JsonDocument.Parse(File.ReadAllText(temp.File("k.json")));
        var root = json.RootElement;
        double copy = root.GetProperty("copy_bandwidth_gbs").GetDouble();
        Assert.True(copy > 0);
        var lut = root.GetProperty("lut_matmul").EnumerateArray().ToList();
        Assert.Equal(8, lut.Count);   // 1 shape × 2 bit widths × 2 sparsities × 2 M
        Assert.Equal(2, root.GetProperty("cublas_fp16").GetArrayLength());
        foreach (var r in lut)
        {
            int bits = r.GetProperty("bits").GetInt32(), m = r.GetProperty("m").GetInt32();
            double sparsity = r.GetProperty("sparsity_percent").GetDouble();
            long nnz = r.GetProperty("nnz").GetInt64();
            Assert.Equal(sparsity == 0 ? 0 : (long)Math.Round(64 * 256 * 0.45 / 100), nnz);
            // Codes + LUT + CSR (6 bytes an entry + N+1 row offsets) + x [m, 256] and out [m, 64] in F32.
            double expected = 64.0 * 256 * bits / 8 + 64 * (1 << bits) * 2 + (nnz > 0 ? nnz * 6 + 65 * 4 : 0) + m * (256 + 64) * 4;
            Assert.Equal(expected, r.GetProperty("bytes").GetDouble());
            double us = r.GetProperty("us").GetDouble(), gbs = r.GetProperty("gbs").GetDouble();
            Assert.True(us > 0);
            Assert.Equal(expected / (us * 1e3), gbs, 6);
            Assert.Equal(gbs / copy * 100, r.GetProperty("percent_of_copy").GetDouble(), 6);
            Assert.Equal(r.GetProperty("cublas_us").GetDouble() / us, r.GetProperty("speedup_vs_cublas").GetDouble(), 6);
            var zero = lut.Single(o => o.GetProperty("bits").GetInt32() == bits && o.GetProperty("m").GetInt32() == m
                && o.GetProperty("sparsity_percent").GetDouble() == 0);
            Assert.Equal(us / zero.GetProperty("us").GetDouble(), r.GetProperty("sparse_overhead").GetDouble(), 6);
        }

        var svg = XDocument.Parse(File.ReadAllText(temp.File("k.svg")));
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", svg.Root!.Name);
        // Bars at M = 1: one per bit width × sparsity and one for cuBLAS; one line per bit width and cuBLAS.
        Assert.Equal(5, svg.Descendants(ns + "rect").Count(r => r.Element(ns + "title") is not null));
        Assert.Equal(3, svg.Descendants(ns + "polyline").Count());
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "64×256");
    }

    [Theory]
    [InlineData("--shapes", "64x250", "'64x250': K must be a positive multiple of 32")]
    [InlineData("--shapes", "64by256", "'64by256': expected N×K")]
    [InlineData("--bits", "3,5", "'5': expected 3 or 4")]
    [InlineData("--sparsity", "100", "'100': expected a percentage in [0, 100)")]
    [InlineData("--m", "0", "'0': expected a whole number >= 1")]
    [InlineData("--repeats", "0", "must be at least 1")]
    [InlineData("--json", "/nonexistent-folder/k.json", "the folder of /nonexistent-folder/k.json does not exist")]
    public void KernelsNamesTheBadOption(string option, string value, string message)
    {
        var options = new Dictionary<string, string> { ["--device"] = "cpu", ["--shapes"] = "64x256", ["--m"] = "1", ["--repeats"] = "1" };
        options[option] = value;
        var (code, _, stderr) = Squeeze(["bench", "kernels", .. options.SelectMany(o => new[] { o.Key, o.Value })]);
        Assert.Equal(1, code);
        Assert.Contains($"error: {option}: {message}", stderr);
    }

    [Fact]
    public void DecodeSyntheticQuantizedRunsTheQuantizedModelThenFp16()
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", LutStackTests.TinyConfig);
        var (code, stdout, stderr) = Squeeze("bench", "decode", "--synthetic", temp.Path, "--device", "cpu", "--threads", "1",
            "--wbits", "3", "--sparsity", "0.45", "--prompt", "8", "--tokens", "3", "--repeat", "1");
        Assert.True(code == 0, stderr);
        var models = Regex.Matches(stdout, @"(?m)^model: synthetic llama from .*?, (.+?) — .*weights ([\d.]+) GB");
        Assert.Equal(["squeezellm 3-bit, 0.45 % sparse", "fp16"], models.Select(m => m.Groups[1].Value).ToArray());
        double Gb(int i) => double.Parse(models[i].Groups[2].Value, CultureInfo.InvariantCulture);
        Assert.True(Gb(0) < Gb(1), stdout);
        // Stacking keeps one product per stack, and both gate|up products apply SwiGLU in their
        // epilogue (sn_lut_matmul_swiglu, sn_matmul_swiglu): the quantized step has the fp16 step's ops.
        var ops = Regex.Matches(stdout, @"(\d+) ops \(kernel launches\) per token").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(2, ops.Length);
        Assert.Equal(ops[1], ops[0]);
        Assert.Matches(@"(?m)^ratio fp16/quantized decode ms/token: [\d.]+ \(fp16 [\d.]+ ms = [\d.]+ tokens/s, quantized [\d.]+ ms", stdout);
        Assert.Matches(@"(?m)^ratio fp16/quantized bytes per token: [\d.]+; prefill tokens/s quantized/fp16: [\d.]+$", stdout);
        Assert.Equal(2, Regex.Matches(stdout, @"(?m)^peak memory \(loading included\): tensors ").Count);
    }

    [Theory]
    [InlineData(new[] { "some-model", "--wbits", "3" }, "error: --wbits: goes with --synthetic")]
    [InlineData(new[] { "--synthetic", "CONFIG", "--sparsity", "0.45" }, "error: --sparsity: goes with --wbits")]
    [InlineData(new[] { "--synthetic", "CONFIG", "--wbits", "2" }, "error: --wbits: must be 3 or 4, got 2")]
    public void DecodeNamesTheBadQuantizationOption(string[] args, string message)
    {
        using var temp = new TempDirectory();
        temp.WriteText("config.json", LutStackTests.TinyConfig);
        var (code, _, stderr) = Squeeze(["bench", "decode", "--device", "cpu", .. args.Select(a => a == "CONFIG" ? temp.Path : a)]);
        Assert.Equal(1, code);
        Assert.Contains(message, stderr);
    }
}
