using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Quantization.Checkpoint;

/// <summary>
/// Writes a quantized model folder so that it is never seen half-written and a killed run can go on.
/// <code>
/// OUT.partial/                      the work folder, renamed to OUT at the very end
///   progress.json                   settings (and their fingerprint), finished layers with their statistics
///   layers/layer-NNN.safetensors    one file per finished layer (its stored tensors)
///   .lock                           held while a run writes here
/// OUT/                              after <see cref="Finish"/>: shards, index, quant_config.json, config and tokenizer files
/// </code>
/// A run with the same settings on the same OUT resumes after the last layer recorded in
/// progress.json; different settings are refused (the error names --out and the first setting
/// that differs) once a layer is finished, and start over before that. An existing OUT is
/// refused unless forced, and then replaced only once the new folder is complete: it is moved
/// aside, the new one renamed into place, the old one deleted (two renames, so for an instant
/// neither is under OUT; a crash there leaves both, complete, under their names).
/// </summary>
public sealed class QuantizedCheckpointWriter : IDisposable
{
    public const string OutOption = "--out";
    public const string PartialSuffix = ".partial";
    public const string ProgressFileName = "progress.json";
    private const string LayersFolderName = "layers";
    private const string LockFileName = ".lock";
    private const int ProgressFormat = 1;

    private readonly FileStream _lock;
    private readonly List<LayerRecord> _finished;
    private readonly IReadOnlyDictionary<string, string> _settings;
    private readonly string _fingerprint;

    private QuantizedCheckpointWriter(string output, string partial, int layerCount, FileStream lockStream,
        IReadOnlyDictionary<string, string> settings, string fingerprint, List<LayerRecord> finished)
    {
        OutputPath = output;
        PartialPath = partial;
        LayerCount = layerCount;
        _lock = lockStream;
        _settings = settings;
        _fingerprint = fingerprint;
        _finished = finished;
    }

    /// <summary>The final folder.</summary>
    public string OutputPath { get; }

    /// <summary>The work folder, <c>OUT.partial</c>.</summary>
    public string PartialPath { get; }

    public int LayerCount { get; }

    /// <summary>Layers already written (by this run or the one it resumes), always layers 0 .. n − 1.</summary>
    public int FinishedLayers => _finished.Count;

    /// <summary>The statistics of every finished layer's matrices, in layer order.</summary>
    public IReadOnlyList<MatrixStats> FinishedMatrices => _finished.SelectMany(l => l.Matrices).ToList();

    /// <summary>
    /// The checks that need nothing but the paths, run before any work: OUT must not exist unless
    /// <paramref name="force"/>, and must be neither the model folder nor inside it (nor contain it).
    /// Returns OUT as a full path.
    /// </summary>
    public static string CheckTarget(string output, bool force, string modelFolder)
    {
        if (string.IsNullOrWhiteSpace(output))
            throw new InvalidOptionException(OutOption, "an output folder is required");
        string full, model;
        try
        {
            full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(output));
            model = Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelFolder));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new InvalidOptionException(OutOption, $"'{output}' is not a usable path ({e.Message})");
        }
        if (IsSameOrInside(full, model) || IsSameOrInside(model, full))
            throw new InvalidOptionException(OutOption, $"{output} is, holds or lies inside the model folder {modelFolder}; write the quantized model elsewhere");
        if (File.Exists(full))
            throw new InvalidOptionException(OutOption, $"{output} is an existing file");
        if (Directory.Exists(full) && !force)
            throw new InvalidOptionException(OutOption, $"{output} already exists; pass --force to replace it or choose another --out");
        return full;
    }

    /// <summary>
    /// Creates OUT.partial, or takes up the run recorded there. <paramref name="settings"/> is
    /// everything the output depends on (method, bits, calibration, the model, the version); two
    /// runs with equal settings write equal bytes.
    /// </summary>
    public static QuantizedCheckpointWriter Open(string output, bool force, string modelFolder, int layerCount,
        IReadOnlyDictionary<string, string> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(layerCount, 1);
        var full = CheckTarget(output, force, modelFolder);
        var partial = full + PartialSuffix;
        var fingerprint = Fingerprint(settings);
        var progressPath = Path.Combine(partial, ProgressFileName);
        var existing = Directory.Exists(partial);
        if (existing && !File.Exists(progressPath))
        {
            // A run killed before it recorded anything leaves no layer; anything else is not ours to take over.
            if (Directory.EnumerateFiles(partial, "*.safetensors", SearchOption.AllDirectories).Any())
                throw new InvalidOptionException(OutOption,
                    $"{partial} exists but holds no {ProgressFileName}, so it is not a run that can be resumed; delete it");
            existing = false;
        }
        try
        {
            Directory.CreateDirectory(Path.Combine(partial, LayersFolderName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOptionException(OutOption, $"cannot create the work folder {partial}: {e.Message}");
        }

        var lockStream = AcquireLock(partial);
        try
        {
            List<LayerRecord> finished = [];
            if (existing)
                finished = ReadProgress(progressPath, settings, fingerprint, layerCount, partial);
            var writer = new QuantizedCheckpointWriter(full, partial, layerCount, lockStream, settings, fingerprint, finished);
            writer.SaveProgress();
            return writer;
        }
        catch
        {
            lockStream.Dispose();
            throw;
        }
    }

    /// <summary>The file a finished layer is written to.</summary>
    public string LayerPath(int layer) => Path.Combine(PartialPath, LayersFolderName, $"layer-{layer:D3}.safetensors");

    /// <summary>
    /// Writes layer <paramref name="layer"/> (which must be the next one) and records it as
    /// finished. The layer file is complete before progress.json names it.
    /// </summary>
    public void WriteLayer(int layer, IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyList<MatrixStats> matrices)
    {
        if (layer != _finished.Count)
            throw new InvalidOperationException($"layer {layer} written after {_finished.Count} finished layers; layers are written in order");
        SafetensorsWriter.Write(LayerPath(layer), tensors);
        _finished.Add(new LayerRecord(layer, matrices));
        SaveProgress();
    }

    /// <summary>A finished layer's stored tensors (for GPTQ, which resumes with the earlier layers quantized).</summary>
    public QuantizedTensorSource OpenLayer(int layer, QuantizationMethod method, int bits)
    {
        if (layer >= _finished.Count)
            throw new InvalidOperationException($"layer {layer} is not finished");
        return QuantizedTensorSource.Open(SafetensorsFile.Open(LayerPath(layer)), method, bits);
    }

    /// <summary>
    /// Completes the folder: shard 1 from <paramref name="globalTensors"/> (the tensors outside the
    /// layers, unchanged), the layer files as shards 2 .. L + 1, the index, quant_config.json, the
    /// copied config and tokenizer files; then renames OUT.partial to OUT (an existing OUT, which
    /// only a forced run gets this far with, is moved aside first and deleted after).
    /// </summary>
    public void Finish(IReadOnlyList<SafetensorsTensor> globalTensors, QuantConfig config, string modelFolder)
    {
        if (_finished.Count != LayerCount)
            throw new InvalidOperationException($"{_finished.Count} of {LayerCount} layers are finished");
        try
        {
            FinishCore(globalTensors, config, modelFolder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SqueezeException($"cannot complete {OutputPath} from {PartialPath}: {e.Message}", e);
        }
    }

    private void FinishCore(IReadOnlyList<SafetensorsTensor> globalTensors, QuantConfig config, string modelFolder)
    {
        int shards = LayerCount + 1;
        SafetensorsWriter.Write(Path.Combine(PartialPath, QuantizedCheckpointFormat.ShardFileName(1, shards)), globalTensors);
        for (int layer = 0; layer < LayerCount; layer++)
        {
            var shard = Path.Combine(PartialPath, QuantizedCheckpointFormat.ShardFileName(layer + 2, shards));
            // Idempotent: a finish that was interrupted has already moved some of them.
            if (File.Exists(LayerPath(layer)))
                File.Move(LayerPath(layer), shard, overwrite: true);
        }
        WriteIndex(shards);
        AtomicFile.WriteAllText(Path.Combine(PartialPath, QuantizedCheckpointFormat.QuantConfigFileName), config.ToJson());
        foreach (var name in QuantizedCheckpointFormat.CopiedFiles)
        {
            var source = Path.Combine(modelFolder, name);
            // Contents only: the model's read-only modes (a shared, write-protected folder) are not carried over.
            if (File.Exists(source))
                File.WriteAllBytes(Path.Combine(PartialPath, name), File.ReadAllBytes(source));
        }

        File.Delete(Path.Combine(PartialPath, ProgressFileName));
        Directory.Delete(Path.Combine(PartialPath, LayersFolderName));
        _lock.Dispose();
        if (Directory.Exists(OutputPath))
        {
            var aside = $"{OutputPath}.replaced-{Guid.NewGuid():N}";
            Directory.Move(OutputPath, aside);
            Directory.Move(PartialPath, OutputPath);
            Directory.Delete(aside, recursive: true);
        }
        else
        {
            Directory.Move(PartialPath, OutputPath);
        }
    }

    private void WriteIndex(int shards)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long totalSize = 0;
        for (int i = 1; i <= shards; i++)
        {
            var name = QuantizedCheckpointFormat.ShardFileName(i, shards);
            var path = Path.Combine(PartialPath, name);
            if (!File.Exists(path))
                throw new SqueezeException($"{path}: shard missing while finishing {OutputPath}; rerun the same command to redo its layer");
            using var shard = SafetensorsFile.Open(path);
            foreach (var tensor in shard.Tensors)
            {
                if (!map.TryAdd(tensor.Name, name))
                    throw new SqueezeException($"{path}: tensor '{tensor.Name}' is also in {map[tensor.Name]}");
                totalSize += tensor.ByteLength;
            }
        }
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, NewLine = "\n" }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", totalSize);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (tensor, shard) in map) json.WriteString(tensor, shard);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        AtomicFile.WriteAllText(Path.Combine(PartialPath, ShardedSafetensors.IndexFileName), Encoding.UTF8.GetString(buffer.ToArray()) + "\n");
    }

    private void SaveProgress()
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, NewLine = "\n" }))
        {
            json.WriteStartObject();
            json.WriteNumber("format", ProgressFormat);
            json.WriteString("fingerprint", _fingerprint);
            json.WriteStartObject("settings");
            foreach (var (key, value) in _settings.OrderBy(p => p.Key, StringComparer.Ordinal)) json.WriteString(key, value);
            json.WriteEndObject();
            json.WriteNumber("layer_count", LayerCount);
            json.WriteStartArray("finished_layers");
            foreach (var layer in _finished)
            {
                json.WriteStartObject();
                json.WriteNumber("layer", layer.Layer);
                json.WriteStartArray("matrices");
                foreach (var m in layer.Matrices)
                {
                    json.WriteStartObject();
                    json.WriteString("name", m.Name);
                    json.WriteNumber("rows", m.Rows);
                    json.WriteNumber("cols", m.Cols);
                    json.WriteNumber("nnz", m.NonZeros);
                    json.WriteNumber("bits_per_weight", m.BitsPerWeight);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        AtomicFile.WriteAllText(Path.Combine(PartialPath, ProgressFileName), Encoding.UTF8.GetString(buffer.ToArray()) + "\n");
    }

    /// <summary>
    /// The finished layers of an earlier run with these settings: those progress.json records,
    /// in order, up to the first whose file is gone (it is redone).
    /// </summary>
    private static List<LayerRecord> ReadProgress(string path, IReadOnlyDictionary<string, string> settings, string fingerprint,
        int layerCount, string partial)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            var recorded = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in root.GetProperty("settings").EnumerateObject())
                recorded[p.Name] = p.Value.GetString() ?? "";
            if (root.GetProperty("fingerprint").GetString() != fingerprint)
            {
                // Nothing finished yet (e.g. the earlier run stopped on a bad option): nothing to lose by starting over.
                if (root.GetProperty("finished_layers").GetArrayLength() == 0)
                    return [];
                throw new InvalidOptionException(OutOption,
                    $"{partial} holds an unfinished run with different settings ({Difference(recorded, settings)}); " +
                    "rerun with the same settings to resume it, or delete it to start over");
            }
            if (root.GetProperty("layer_count").GetInt32() != layerCount)
                throw new InvalidOptionException(OutOption, $"{path} records {root.GetProperty("layer_count").GetInt32()} layers; the model has {layerCount}");

            var finished = new List<LayerRecord>();
            foreach (var layer in root.GetProperty("finished_layers").EnumerateArray())
            {
                int index = layer.GetProperty("layer").GetInt32();
                if (index != finished.Count)
                    throw new FormatException($"layer {index} is recorded after {finished.Count} layers");
                var shard = Path.Combine(partial, QuantizedCheckpointFormat.ShardFileName(index + 2, layerCount + 1));
                var layerFile = Path.Combine(partial, LayersFolderName, $"layer-{index:D3}.safetensors");
                if (!File.Exists(layerFile))
                {
                    // An interrupted finish moved it to its shard name: move it back.
                    if (!File.Exists(shard)) break;
                    File.Move(shard, layerFile);
                }
                var matrices = layer.GetProperty("matrices").EnumerateArray().Select(m => new MatrixStats(
                    m.GetProperty("name").GetString()!, m.GetProperty("rows").GetInt32(), m.GetProperty("cols").GetInt32(),
                    m.GetProperty("nnz").GetInt64(), m.GetProperty("bits_per_weight").GetDouble())).ToList();
                finished.Add(new LayerRecord(index, matrices));
            }
            return finished;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidOptionException(OutOption, $"{path} is not a progress file this version can resume ({e.Message}); delete {partial} to start over");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOptionException(OutOption, $"cannot read {path}: {e.Message}");
        }
    }

    private static FileStream AcquireLock(string partial)
    {
        var path = Path.Combine(partial, LockFileName);
        try
        {
            // FileShare.None is an exclusive advisory lock on Unix: a second run on the same
            // folder fails here instead of interleaving its layers with ours.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException e)
        {
            throw new InvalidOptionException(OutOption, $"{partial} is being written by another run ({e.Message})");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InvalidOptionException(OutOption, $"cannot write in {partial}: {e.Message}");
        }
    }

    /// <summary>sha256 over the settings in key order.</summary>
    public static string Fingerprint(IReadOnlyDictionary<string, string> settings)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in settings.OrderBy(p => p.Key, StringComparer.Ordinal))
            text.Append(key).Append('=').Append(value).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static string Difference(IReadOnlyDictionary<string, string> recorded, IReadOnlyDictionary<string, string> now)
    {
        foreach (var key in recorded.Keys.Union(now.Keys).OrderBy(k => k, StringComparer.Ordinal))
        {
            recorded.TryGetValue(key, out var before);
            now.TryGetValue(key, out var after);
            if (before != after)
                return string.Create(CultureInfo.InvariantCulture, $"{key}: {before ?? "(none)"} then, {after ?? "(none)"} now");
        }
        return "its fingerprint differs";
    }

    private static bool IsSameOrInside(string path, string folder)
    {
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return string.Equals(path, folder, comparison)
            || path.StartsWith(folder + Path.DirectorySeparatorChar, comparison);
    }

    /// <summary>Releases the lock; the work folder stays for a later run to resume.</summary>
    public void Dispose() => _lock.Dispose();

    private sealed record LayerRecord(int Layer, IReadOnlyList<MatrixStats> Matrices);
}
