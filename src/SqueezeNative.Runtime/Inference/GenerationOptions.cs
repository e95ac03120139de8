namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// How to continue a prompt. Defaults give greedy decoding of up to 64 tokens.
/// Validate with <see cref="Validate"/>; every invalid value names its option.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Upper bound on generated tokens (prompt + this must fit in the context).</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>0 = greedy (arg-max); otherwise logits are divided by it before sampling.</summary>
    public float Temperature { get; init; }
    /// <summary>Keep only the k most likely tokens (0 = no limit). Ignored when greedy.</summary>
    public int TopK { get; init; }
    /// <summary>Nucleus sampling: keep the smallest set whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>HF-style repetition penalty over prompt and generated ids (1 = off).</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Seed of the sampler; the same seed, prompt and options give the same text.</summary>
    public int Seed { get; init; }
    /// <summary>Generation stops before any of these strings would be emitted.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Stop at the model's EOS token(s) (generation_config / config.json).</summary>
    public bool StopAtEos { get; init; } = true;

    public bool IsGreedy => Temperature == 0f;

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1)
            throw new InvalidOptionException("--max-tokens", $"must be at least 1 (got {MaxNewTokens})");
        if (!float.IsFinite(Temperature) || Temperature < 0f)
            throw new InvalidOptionException("--temperature", $"must be a finite number >= 0 (got {Temperature})");
        if (TopK < 0)
            throw new InvalidOptionException("--top-k", $"must be >= 0 (got {TopK})");
        if (!float.IsFinite(TopP) || TopP <= 0f || TopP > 1f)
            throw new InvalidOptionException("--top-p", $"must be in (0, 1] (got {TopP})");
        if (!float.IsFinite(RepetitionPenalty) || RepetitionPenalty <= 0f)
            throw new InvalidOptionException("--repetition-penalty", $"must be a finite number > 0 (got {RepetitionPenalty})");
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s))
                throw new InvalidOptionException("--stop", "stop strings must not be empty");
    }
}
