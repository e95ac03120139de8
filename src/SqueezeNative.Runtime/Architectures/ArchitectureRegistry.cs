using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Architectures;

/// <summary>
/// Every supported architecture. <c>All</c> is generated from the <see cref="ArchitectureAttribute"/>
/// classes of this assembly: adding a description registers it, no list to keep in sync.
/// </summary>
[ArchitectureRegistry]
public static partial class ArchitectureRegistry
{
    /// <summary>The architecture serving config.json's <c>model_type</c>, or null when none does.</summary>
    public static IArchitecture? Find(string modelType)
    {
        foreach (var architecture in All)
        {
            if (string.Equals(architecture.Info.ModelType, modelType, StringComparison.OrdinalIgnoreCase))
                return architecture;
        }
        return null;
    }

    /// <summary>The architecture for <paramref name="config"/>.</summary>
    /// <exception cref="ModelFormatException">No architecture serves the config's model_type.</exception>
    public static IArchitecture Resolve(ModelConfig config)
    {
        return Find(config.ModelType)
            ?? throw new ModelFormatException(
                $"unsupported model_type '{config.ModelType}'; supported: {string.Join(", ", All.Select(a => a.Info.ModelType))}",
                config.SourcePath.Length > 0 ? config.SourcePath : null);
    }
}
