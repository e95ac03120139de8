using System.Collections.Concurrent;
using System.Text.Json;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Tests.Inference;

/// <summary>
/// The three test models, each loaded once on the CPU backend and shared by every inference test
/// (loading is the slow part; the model is thread-safe). Tests using it belong to the
/// "Models" collection so they do not compete for the two CI cores.
/// </summary>
public static class Models
{
    private static readonly ConcurrentDictionary<string, Lazy<LanguageModel>> Loaded = new();

    public static LanguageModel Get(string name) =>
        Loaded.GetOrAdd(name, n => new Lazy<LanguageModel>(() =>
            LanguageModel.Load(TestPaths.Model(n), new LanguageModelOptions { Device = DeviceKind.Cpu }))).Value;

    public static JsonElement Reference(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Model(name), "reference.json")));
        return doc.RootElement.Clone();
    }

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();
}

[CollectionDefinition("Models", DisableParallelization = true)]
public sealed class ModelsCollection;
