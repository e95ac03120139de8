using System.Globalization;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// How much of each weight matrix goes to the sparse part (SqueezeLLM step 2), in percent of its
/// entries. <see cref="SparsityPercent"/> is the total removed; <see cref="SensitivePercent"/> of
/// it is chosen by Fisher (the most sensitive values), the rest by magnitude (outliers). The
/// paper's "0.45 %" is 0.05 % sensitive + 0.40 % outliers; "0.05 %" is sensitive values only.
/// Sparsity 0 means dense-only: nothing is removed, whatever the sensitive share says.
/// </summary>
public sealed record DenseSparseOptions
{
    /// <summary>The reference's sensitive share.</summary>
    public const double DefaultSensitivePercent = 0.05;

    private DenseSparseOptions(double sparsityPercent, double sensitivePercent)
    {
        SparsityPercent = sparsityPercent;
        SensitivePercent = sensitivePercent;
    }

    /// <summary>Entries removed in total, percent (the outlier share is this minus <see cref="SensitivePercent"/>).</summary>
    public double SparsityPercent { get; }

    /// <summary>Entries removed by Fisher, percent; 0 when <see cref="SparsityPercent"/> is 0.</summary>
    public double SensitivePercent { get; }

    /// <summary>Nothing is removed.</summary>
    public bool IsDenseOnly => SparsityPercent == 0;

    /// <summary>
    /// Validates the user's --sparsity and --sensitive: both in [0, 100), and the sensitive share
    /// not above the total (unless the total is 0, which turns the split off).
    /// </summary>
    public static DenseSparseOptions Create(double sparsityPercent, double sensitivePercent = DefaultSensitivePercent)
    {
        CheckPercent("--sparsity", sparsityPercent);
        CheckPercent("--sensitive", sensitivePercent);
        if (sparsityPercent == 0)
            return new DenseSparseOptions(0, 0);
        if (sensitivePercent > sparsityPercent)
            throw new InvalidOptionException("--sensitive",
                $"{Format(sensitivePercent)} % is more than the total --sparsity of {Format(sparsityPercent)} %; the sensitive values are part of the sparse matrix");
        return new DenseSparseOptions(sparsityPercent, sensitivePercent);
    }

    /// <summary>Sensitive entries of an <paramref name="elements"/>-entry matrix: ⌊elements · p / 100⌋ (the reference's int()).</summary>
    public long SensitiveCount(long elements) => PercentOf(elements, SensitivePercent);

    /// <summary>Entries to remove in total from <paramref name="elements"/> entries (one matrix or a whole model): ⌊elements · p / 100⌋.</summary>
    public long RemovedCount(long elements) => PercentOf(elements, SparsityPercent);

    private static long PercentOf(long elements, double percent) => (long)Math.Floor(elements * (decimal)percent / 100m);

    private static void CheckPercent(string option, double percent)
    {
        if (!double.IsFinite(percent) || percent < 0 || percent >= 100)
            throw new InvalidOptionException(option, $"must be a percentage in [0, 100); got {Format(percent)}");
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
