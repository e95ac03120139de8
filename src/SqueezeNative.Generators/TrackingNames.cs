namespace SqueezeNative.Generators;

/// <summary>Names of the pipeline steps, for tests that check what the incremental cache reuses.</summary>
public static class TrackingNames
{
    /// <summary>Each [Architecture] class parsed: model plus diagnostics.</summary>
    public const string Descriptions = nameof(Descriptions);

    /// <summary>The valid architecture models (no locations): the input of code emission.</summary>
    public const string Models = nameof(Models);

    /// <summary>The diagnostics of each description.</summary>
    public const string DescriptionDiagnostics = nameof(DescriptionDiagnostics);

    /// <summary>model_type and class of every description, for the duplicate check.</summary>
    public const string Identities = nameof(Identities);

    /// <summary>Diagnostics for model types described twice.</summary>
    public const string DuplicateModelTypes = nameof(DuplicateModelTypes);

    /// <summary>Each [ArchitectureRegistry] class parsed.</summary>
    public const string Registries = nameof(Registries);

    /// <summary>The one registry class chosen, with diagnostics for extra or malformed ones.</summary>
    public const string RegistryChoice = nameof(RegistryChoice);

    /// <summary>The registry target without diagnostics.</summary>
    public const string RegistryTarget = nameof(RegistryTarget);

    /// <summary>Qualified class names of the valid descriptions, ordered by model type.</summary>
    public const string RegistryEntries = nameof(RegistryEntries);

    /// <summary>Registry target combined with its entries: the input of registry emission.</summary>
    public const string Registry = nameof(Registry);
}
