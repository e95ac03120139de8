using System.Globalization;
using System.Text;
using System.Text.Json;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Quantization.Checkpoint;

/// <summary>What one quantized matrix costs.</summary>
/// <param name="Name">The logical weight, <c>P.weight</c>.</param>
/// <param name="Rows">N, output features.</param>
/// <param name="Cols">K, input features.</param>
/// <param name="NonZeros">Entries of the sparse part.</param>
/// <param name="BitsPerWeight">See <see cref="QuantizedCheckpointFormat.BitsPerWeight"/>.</param>
public sealed record MatrixStats(string Name, int Rows, int Cols, long NonZeros, double BitsPerWeight)
{
    public static MatrixStats Of(string name, QuantizedLinearData data) => new(name, data.Rows, data.Cols, data.Sparse.NonZeros,
        QuantizedCheckpointFormat.BitsPerWeight(data.Rows, data.Cols, data.Bits, data.Sparse.NonZeros));
}

/// <summary>Where the calibration windows came from.</summary>
/// <param name="Source">The --calib file as given, or "dataset:NAME" for --calib-dataset.</param>
/// <param name="FileSha256">sha256 of the file the text was read from.</param>
public sealed record CalibrationInfo(string Source, string FileSha256, int NSamples, int SeqLen, long Seed);

/// <summary>
/// <c>quant_config.json</c>: the settings a quantized folder was made with and what each matrix
/// costs. Written deterministically (no time stamps), so that a resumed run produces the same
/// bytes as an uninterrupted one.
/// </summary>
public sealed record QuantConfig
{
    public required QuantizationMethod Method { get; init; }
    public required int WBits { get; init; }
    /// <summary>Total share of entries moved to the sparse part, percent (SqueezeLLM only; 0 otherwise).</summary>
    public double SparsityPercent { get; init; }
    /// <summary>Share of entries chosen by sensitivity, percent (part of <see cref="SparsityPercent"/>).</summary>
    public double SensitivePercent { get; init; }
    /// <summary>The k-means solver (SqueezeLLM only).</summary>
    public KMeansMethod? KMeans { get; init; }
    /// <summary>Name of the sensitivity source (SqueezeLLM only): "fisher", or "uniform" without one.</summary>
    public string? Sensitivity { get; init; }
    /// <summary>The model-wide outlier range factor r (null when no outlier was wanted).</summary>
    public double? OutlierRange { get; init; }
    /// <summary>GPTQ's act-order (GPTQ only).</summary>
    public bool? ActOrder { get; init; }
    public CalibrationInfo? Calibration { get; init; }
    public IReadOnlyList<MatrixStats> Matrices { get; init; } = [];
    public required string Version { get; init; }

    /// <summary>Bits per quantized weight over all matrices (weighted by their sizes).</summary>
    public double AverageBitsPerWeight
    {
        get
        {
            double bits = 0, weights = 0;
            foreach (var m in Matrices)
            {
                var n = (double)m.Rows * m.Cols;
                bits += m.BitsPerWeight * n;
                weights += n;
            }
            return weights == 0 ? 0 : bits / weights;
        }
    }

    public static string MethodName(QuantizationMethod method) => method switch
    {
        QuantizationMethod.SqueezeLlm => "squeezellm",
        QuantizationMethod.Rtn => "rtn",
        QuantizationMethod.Gptq => "gptq",
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, "not a quantization method"),
    };

    public static bool TryParseMethod(string name, out QuantizationMethod method)
    {
        foreach (var m in Enum.GetValues<QuantizationMethod>())
        {
            if (string.Equals(MethodName(m), name, StringComparison.OrdinalIgnoreCase))
            {
                method = m;
                return true;
            }
        }
        method = default;
        return false;
    }

    public static string KMeansName(KMeansMethod method) => method == KMeansMethod.Exact ? "exact" : "lloyd";

    /// <summary>The file's text (indented JSON, LF line ends, invariant numbers).</summary>
    public string ToJson()
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, NewLine = "\n" }))
        {
            json.WriteStartObject();
            json.WriteString("method", MethodName(Method));
            json.WriteNumber("wbits", WBits);
            json.WriteNumber("sparsity_percent", SparsityPercent);
            json.WriteNumber("sensitive_percent", SensitivePercent);
            if (KMeans is { } kmeans) json.WriteString("kmeans", KMeansName(kmeans));
            if (Sensitivity is not null) json.WriteString("sensitivity", Sensitivity);
            if (OutlierRange is { } range) json.WriteNumber("outlier_range", range);
            if (ActOrder is { } actOrder) json.WriteBoolean("act_order", actOrder);
            if (Calibration is { } c)
            {
                json.WriteStartObject("calibration");
                json.WriteString("source", c.Source);
                json.WriteString("file_sha256", c.FileSha256);
                json.WriteNumber("nsamples", c.NSamples);
                json.WriteNumber("seqlen", c.SeqLen);
                json.WriteNumber("seed", c.Seed);
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("calibration");
            }
            json.WriteNumber("average_bits_per_weight", Math.Round(AverageBitsPerWeight, 6));
            json.WriteNumber("total_nnz", Matrices.Sum(m => m.NonZeros));
            json.WriteStartArray("matrices");
            foreach (var m in Matrices)
            {
                json.WriteStartObject();
                json.WriteString("name", m.Name);
                json.WriteStartArray("shape");
                json.WriteNumberValue(m.Rows);
                json.WriteNumberValue(m.Cols);
                json.WriteEndArray();
                json.WriteNumber("nnz", m.NonZeros);
                json.WriteNumber("bits_per_weight", Math.Round(m.BitsPerWeight, 6));
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteString("squeezenative_version", Version);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>
    /// Reads what a reader needs (method, wbits) from <paramref name="path"/>; the statistics are
    /// informative and not read back. Throws <see cref="ModelFormatException"/> naming the file.
    /// </summary>
    public static (QuantizationMethod Method, int WBits) ReadEssentials(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException("quant_config.json must be a JSON object", path);
            if (!root.TryGetProperty("method", out var methodElement) || methodElement.ValueKind != JsonValueKind.String)
                throw new ModelFormatException("quant_config.json has no \"method\" string", path);
            var name = methodElement.GetString()!;
            if (!TryParseMethod(name, out var method))
                throw new ModelFormatException($"unknown quantization method '{name}' (squeezellm, rtn, gptq)", path);
            if (!root.TryGetProperty("wbits", out var bitsElement) || !bitsElement.TryGetInt32(out var wbits) || wbits is not (3 or 4))
                throw new ModelFormatException("quant_config.json needs \"wbits\": 3 or 4", path);
            return (method, wbits);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"quant_config.json is not valid JSON ({e.Message})", path, inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException($"cannot read quant_config.json ({e.Message})", path, inner: e);
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{MethodName(Method)} w{WBits}, sparsity {SparsityPercent} %, {Matrices.Count} matrices, {AverageBitsPerWeight:F3} bits/weight");
}
