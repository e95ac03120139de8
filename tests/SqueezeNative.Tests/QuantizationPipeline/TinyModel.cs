using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Tests.Quantization;

namespace SqueezeNative.Tests.QuantizationPipeline;

/// <summary>
/// A LLaMA-shaped model small enough to quantize in well under a second: the shared llama's
/// tokenizer and config with hidden 64, intermediate 128, 2 heads of 32, 4 layers, and seeded
/// random fp16 weights with a few large values (so the sparse part has something to hold).
/// Written once per test run to a temporary folder.
/// </summary>
public sealed class TinyModel : IDisposable
{
    public const int Layers = 4;

    private readonly Models.TempDirectory _folder = new();

    public TinyModel()
    {
        Path = _folder.File("tiny-llama");
        Write(Path);
    }

    /// <summary>
    /// Writes the tiny model into <paramref name="path"/>; <paramref name="edit"/> may change a
    /// tensor's values (name, values) before they are stored, e.g. to plant a bad weight.
    /// </summary>
    public static void Write(string path, Action<string, float[]>? edit = null)
    {
        var Path = path;
        Directory.CreateDirectory(Path);
        var shared = TestPaths.Model("llama");
        foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json" })
            File.WriteAllBytes(System.IO.Path.Combine(Path, name), File.ReadAllBytes(System.IO.Path.Combine(shared, name)));

        var config = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(shared, "config.json")))!.AsObject();
        config["hidden_size"] = 64;
        config["intermediate_size"] = 128;
        config["num_attention_heads"] = 2;
        config["num_key_value_heads"] = 2;
        config["head_dim"] = 32;
        config["num_hidden_layers"] = Layers;
        config["max_position_embeddings"] = 256;
        var configPath = System.IO.Path.Combine(Path, "config.json");
        File.WriteAllText(configPath, config.ToJsonString());

        var modelConfig = ModelConfig.Load(configPath);
        var architecture = ArchitectureRegistry.Find("llama")!;
        var rng = new Random(20261122);
        var tensors = new List<SafetensorsTensor>();
        foreach (var spec in architecture.DescribeTensors(modelConfig))
        {
            var count = (int)spec.ElementCount;
            var values = spec.Shape.Count == 1
                ? Enumerable.Range(0, count).Select(_ => (float)(1 + 0.1 * rng.NextGaussian())).ToArray()
                : QuantizationTestData.WeightsWithOutliers(rng, count, std: spec.Name.Contains("embed") ? 0.5 : 0.08);
            edit?.Invoke(spec.Name, values);
            var half = values.Select(v => (Half)v).ToArray();
            tensors.Add(new SafetensorsTensor(spec.Name, TensorDType.F16, [.. spec.Shape], MemoryMarshal.AsBytes(half.AsSpan()).ToArray()));
        }
        SafetensorsWriter.Write(System.IO.Path.Combine(Path, ModelDirectory.SingleFileWeights), tensors);
    }

    /// <summary>The model folder.</summary>
    public string Path { get; }

    /// <summary>A fresh folder for one test's outputs (removed with the fixture).</summary>
    public string NewOutputRoot()
    {
        var root = _folder.File("out-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        return root;
    }

    public void Dispose() => _folder.Dispose();
}

[CollectionDefinition("QuantizationPipeline", DisableParallelization = true)]
public sealed class QuantizationPipelineCollection : ICollectionFixture<TinyModel>;
