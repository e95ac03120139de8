using System.CommandLine;
using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Cli;

/// <summary>Options shared by the commands that load a model for inference.</summary>
internal static class ModelOptions
{
    public static Argument<string> ModelArgument() => new("model") { Description = "Hugging Face model folder (config.json, *.safetensors, tokenizer)." };

    public static Option<string> DeviceOption() => new("--device")
    {
        Description = "Backend: cpu, cuda, or auto (CUDA when a usable GPU is present).",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "CPU threads (0 = one per core).",
        DefaultValueFactory = _ => 0,
    };

    public static DeviceKind ParseDevice(string value) => value.ToLowerInvariant() switch
    {
        "cpu" => DeviceKind.Cpu,
        "cuda" or "gpu" => DeviceKind.Cuda,
        "auto" => DeviceKind.Auto,
        _ => throw new InvalidOptionException("--device", $"unknown device '{value}' (cpu, cuda, auto)"),
    };

    public static LanguageModel Load(string model, string device, int threads, ILoggerFactory loggers) =>
        LanguageModel.Load(model, new LanguageModelOptions
        {
            Device = ParseDevice(device),
            Threads = threads,
            LoggerFactory = loggers,
        });

    /// <summary>
    /// The shared data folder (datasets, calibration text): --data-root, else $SQUEEZE_SHARED,
    /// else a `shared` folder beside or above the current directory or the executable.
    /// </summary>
    public static string LocateShared(string? explicitRoot)
    {
        if (!string.IsNullOrEmpty(explicitRoot))
        {
            if (!Directory.Exists(explicitRoot)) throw new InvalidOptionException("--data-root", $"folder not found: {explicitRoot}");
            return Path.GetFullPath(explicitRoot);
        }
        var env = Environment.GetEnvironmentVariable("SQUEEZE_SHARED");
        if (!string.IsNullOrEmpty(env)) return env;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                foreach (var candidate in new[] { Path.Combine(dir.FullName, "shared"), dir.FullName })
                    if (Directory.Exists(Path.Combine(candidate, "data", "wikitext2"))) return candidate;
            }
        }
        throw new InvalidOptionException("--data-root", "cannot find the shared data folder (holding data/wikitext2); pass --data-root or set SQUEEZE_SHARED");
    }
}
