using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Unicode;

namespace SqueezeNative.Runtime.Models;

/// <summary>
/// A checkpoint split over several safetensors files, described by
/// <c>model.safetensors.index.json</c>: <c>{"metadata": {...}, "weight_map": {tensor name: shard file}}</c>.
/// Each shard is opened (and validated) once; every tensor the index names must exist in the
/// shard it is mapped to. Tensors a shard holds but the index does not name are not exposed,
/// as Hugging Face's loader ignores them too.
/// </summary>
public sealed class ShardedSafetensors : ITensorSource
{
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, TensorRef> _byName;
    private readonly List<string> _names;
    private readonly List<SafetensorsFile> _shards;

    private ShardedSafetensors(string indexPath, List<SafetensorsFile> shards, List<string> names, Dictionary<string, TensorRef> byName)
    {
        IndexPath = indexPath;
        _shards = shards;
        _names = names;
        _byName = byName;
    }

    /// <summary>The index file this was read from.</summary>
    public string IndexPath { get; }

    public string Location => IndexPath;

    /// <summary>The opened shards, in the order the index first mentions them.</summary>
    public IReadOnlyList<SafetensorsFile> Shards => _shards;

    /// <summary>Tensor names in index order.</summary>
    public IReadOnlyCollection<string> Names => _names;

    public bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor) => _byName.TryGetValue(name, out tensor);

    /// <summary>Opens the index at <paramref name="indexPath"/> and every shard it names.</summary>
    public static ShardedSafetensors Open(string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;

        var shardsByFile = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var shards = new List<SafetensorsFile>();
        try
        {
            var byName = new Dictionary<string, TensorRef>(weightMap.Count, StringComparer.Ordinal);
            var names = new List<string>(weightMap.Count);
            foreach (var (tensorName, shardFile) in weightMap)
            {
                if (!shardsByFile.TryGetValue(shardFile, out var shard))
                {
                    var shardPath = Path.Combine(folder, shardFile);
                    if (!File.Exists(shardPath))
                        throw new ModelFormatException($"shard '{shardFile}' listed in {IndexFileName} does not exist", shardPath, tensorName);
                    shard = SafetensorsFile.Open(shardPath);
                    shardsByFile.Add(shardFile, shard);
                    shards.Add(shard);
                }
                if (!shard.TryGetTensor(tensorName, out var tensor))
                    throw new ModelFormatException($"tensor is mapped to this shard by {indexPath} but the shard does not hold it",
                        shard.FilePath, tensorName);
                byName.Add(tensorName, tensor);
                names.Add(tensorName);
            }
            return new ShardedSafetensors(indexPath, shards, names, byName);
        }
        catch
        {
            foreach (var shard in shards) shard.Dispose();
            throw;
        }
    }

    private static List<KeyValuePair<string, string>> ReadWeightMap(string indexPath)
    {
        if (!File.Exists(indexPath))
            throw new ModelFormatException("safetensors index not found", indexPath);

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(indexPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException($"cannot read safetensors index ({e.Message})", indexPath, inner: e);
        }

        if (!Utf8.IsValid(bytes))
            throw new ModelFormatException("index is not valid UTF-8", indexPath);
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException($"index must be a JSON object, found {JsonText.Describe(root.ValueKind)}", indexPath);
            if (!root.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException("index has no 'weight_map' object", indexPath);

            var entries = new List<KeyValuePair<string, string>>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in map.EnumerateObject())
            {
                if (!seen.Add(item.Name))
                    throw new ModelFormatException("'weight_map' lists the tensor twice", indexPath, item.Name);
                if (item.Value.ValueKind != JsonValueKind.String)
                    throw new ModelFormatException(
                        $"'weight_map' value must be a shard file name, found {JsonText.Describe(item.Value.ValueKind)}", indexPath, item.Name);
                var shardFile = item.Value.GetString()!;
                // Shards live next to the index; a path that leaves the folder is corrupt or hostile.
                if (shardFile.Length == 0 || Path.GetFileName(shardFile) != shardFile || shardFile is "." or "..")
                    throw new ModelFormatException($"'weight_map' names '{shardFile}', which is not a file name in the model folder",
                        indexPath, item.Name);
                entries.Add(new(item.Name, shardFile));
            }
            if (entries.Count == 0)
                throw new ModelFormatException("'weight_map' is empty", indexPath);
            return entries;
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"index is not valid JSON ({e.Message})", indexPath, inner: e);
        }
    }

    public void Dispose()
    {
        foreach (var shard in _shards) shard.Dispose();
    }
}
