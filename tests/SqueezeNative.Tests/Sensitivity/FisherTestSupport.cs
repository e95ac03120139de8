using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Sensitivity;

namespace SqueezeNative.Tests.Sensitivity;

/// <summary>Tiny hand-built configs of each architecture and its variants, for gradient checks.</summary>
internal static class TinyConfigs
{
    public static readonly string[] Variants = ["llama", "llama-gqa-bias-tied", "mistral-sliding", "opt", "opt-post-norm"];

    /// <summary>hidden 32, 2 layers, 4 heads of 8, vocab 50, intermediate 48, context 64.</summary>
    public static ModelConfig Get(string variant) => variant switch
    {
        "llama" => new ModelConfig
        {
            ModelType = "llama", HiddenSize = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 4, HeadDim = 8,
            IntermediateSize = 48, VocabSize = 50, MaxPositions = 64, RopeTheta = 10000f, NormEps = 1e-5f,
        },
        // GQA (2 kv heads), q/k/v/o biases, LM head tied to the embedding.
        "llama-gqa-bias-tied" => new ModelConfig
        {
            ModelType = "llama", HiddenSize = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8,
            IntermediateSize = 48, VocabSize = 50, MaxPositions = 64, RopeTheta = 10000f, NormEps = 1e-5f,
            AttentionBias = true, TieWordEmbeddings = true,
        },
        // GQA and a sliding window shorter than the test windows.
        "mistral-sliding" => new ModelConfig
        {
            ModelType = "mistral", HiddenSize = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8,
            IntermediateSize = 48, VocabSize = 50, MaxPositions = 64, RopeTheta = 10000f, NormEps = 1e-5f,
            SlidingWindow = 5,
        },
        // Pre-norm LayerNorm with biases, ReLU, learned positions, biases on every linear.
        "opt" => new ModelConfig
        {
            ModelType = "opt", HiddenSize = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 4, HeadDim = 8,
            IntermediateSize = 48, VocabSize = 50, MaxPositions = 64, WordEmbedProjDim = 32, HiddenAct = "relu",
            TieWordEmbeddings = true,
        },
        // opt-350m's shape: post-norm (no final norm), project_in/out from a 16-wide embedding.
        "opt-post-norm" => new ModelConfig
        {
            ModelType = "opt", HiddenSize = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 4, HeadDim = 8,
            IntermediateSize = 48, VocabSize = 50, MaxPositions = 64, WordEmbedProjDim = 16, HiddenAct = "relu",
            TieWordEmbeddings = true, DoLayerNormBefore = false,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
    };

    public static int[] RandomWindow(int seed, int tokens, int vocab)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, tokens).Select(_ => rng.Next(vocab)).ToArray();
    }
}

/// <summary>
/// Signed weight gradients of one window, computed on the host from what the backward hands each
/// linear (G = dyᵀ·x in double), through <see cref="FisherSensitivity.WeightGradientProbe"/>.
/// </summary>
internal sealed class GradientRecorder
{
    private readonly Dictionary<string, double[]> _gradients = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, double[]> Gradients => _gradients;

    public void Attach(FisherSensitivity fisher) => fisher.WeightGradientProbe = Record;

    private void Record(FisherLinear linear, NativeTensor dy, NativeTensor x)
    {
        float[] d = dy.ToArray(), xs = x.ToArray();
        int n = linear.OutFeatures, k = linear.InFeatures, t = d.Length / n;
        var g = new double[n * k];
        for (int row = 0; row < t; row++)
        {
            for (int i = 0; i < n; i++)
            {
                double di = d[row * n + i];
                if (di == 0) continue;
                for (int j = 0; j < k; j++) g[i * k + j] += di * xs[row * k + j];
            }
        }
        _gradients[linear.Spec.Name] = g;
    }
}

/// <summary>The loss of a window through the inference forward, and its finite differences.</summary>
internal static class FiniteDifferences
{
    /// <summary>Mean next-token cross-entropy (double) of the window's T−1 predictions.</summary>
    public static double InferenceLoss(InferenceSession session, int[] window)
    {
        session.Reset();
        var logits = session.Forward(window, allPositions: true).ToArray();
        int vocab = logits.Length / window.Length;
        double sum = 0;
        for (int t = 0; t < window.Length - 1; t++)
        {
            var row = logits.AsSpan(t * vocab, vocab);
            double max = double.NegativeInfinity;
            foreach (var l in row) max = Math.Max(max, l);
            double z = 0;
            foreach (var l in row) z += Math.Exp(l - max);
            sum += max + Math.Log(z) - row[window[t + 1]];
        }
        return sum / (window.Length - 1);
    }

    /// <summary>
    /// ∂loss/∂w[index] of an F32 weight by central differences with one Richardson step:
    /// (4·D(h) − D(2h)) / 3, D(h) = (L(w+h) − L(w−h)) / 2h, truncation O(h⁴). The weight is restored.
    /// </summary>
    public static Difference Derivative(NativeTensor weight, float[] original, int index, double h, Func<double> loss)
    {
        double At(double delta)
        {
            var values = (float[])original.Clone();
            values[index] = (float)(original[index] + delta);
            weight.Upload<float>(values);
            return loss();
        }

        try
        {
            double d1 = (At(h) - At(-h)) / (2 * h);
            double d2 = (At(2 * h) - At(-2 * h)) / (4 * h);
            return new Difference((4 * d1 - d2) / 3, d1, d2);
        }
        finally
        {
            weight.Upload<float>(original);
        }
    }

    /// <summary>A finite-difference derivative and the two central differences it extrapolates.</summary>
    public readonly record struct Difference(double Value, double Step1, double Step2)
    {
        /// <summary>
        /// D(h) and D(2h) agree to 5 %: the loss is smooth over ±2h. A ReLU kink inside the interval
        /// (OPT) breaks the agreement, and there the finite difference is no derivative at all; on
        /// a smooth loss the two differ by h²·L‴/2 plus rounding, far below 5 % above the floors used.
        /// </summary>
        public bool Smooth => Math.Abs(Step1 - Step2) <= 0.05 * Math.Max(Math.Abs(Step1), Math.Abs(Step2));
    }

    /// <summary>The <paramref name="largest"/> entries of largest |g| and <paramref name="random"/> others with |g| ≥ floor.</summary>
    public static int[] SampleEntries(double[] g, int largest, int random, double floor, Random rng)
    {
        var order = Enumerable.Range(0, g.Length).OrderByDescending(i => Math.Abs(g[i])).ToArray();
        var top = order.Take(largest).Where(i => Math.Abs(g[i]) >= floor).ToList();
        var rest = order.Skip(largest).Where(i => Math.Abs(g[i]) >= floor).ToArray();
        for (int r = 0; r < random && rest.Length > 0; r++) top.Add(rest[rng.Next(rest.Length)]);
        return top.Distinct().ToArray();
    }
}

/// <summary>Puts a checkpoint on a context with every tensor converted to F32 (finite differences need its precision).</summary>
internal sealed class F32CheckpointSource : WeightSource
{
    public override NativeTensor Materialize(NativeContext context, IReadOnlyList<TensorRef> parts)
    {
        using var stored = Checkpoint.Materialize(context, parts);
        if (stored.DType == NativeDType.F32) return stored.View(0, stored.Shape);
        var f32 = context.Tensor(NativeDType.F32, stored.Shape);
        context.Copy(stored, f32);
        return f32;
    }
}
