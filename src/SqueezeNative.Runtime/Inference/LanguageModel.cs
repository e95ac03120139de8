using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Tokenization;

namespace SqueezeNative.Runtime.Inference;

/// <summary>How to load a model for inference.</summary>
public sealed record LanguageModelOptions
{
    /// <summary>cpu, cuda, or auto (CUDA when a usable GPU is present; the choice is logged).</summary>
    public DeviceKind Device { get; init; } = DeviceKind.Cpu;
    /// <summary>CPU worker threads (0 = one per core).</summary>
    public int Threads { get; init; }
    /// <summary>CUDA device ordinal.</summary>
    public int DeviceOrdinal { get; init; }
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>
/// A decoder LLM loaded once for inference: tokenizer, weights on a native backend, and
/// generation / scoring. Thread-safe: every generation runs in its own
/// <see cref="InferenceSession"/> (own KV cache); the weights are shared read-only.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    public string Path { get; }
    public DecoderModel Decoder { get; }
    public ITokenizer Tokenizer { get; }
    public ModelConfig Config => Decoder.Config;
    public ArchitectureInfo Architecture => Decoder.Architecture;
    public NativeContext Context => Decoder.Context;
    /// <summary>The model's context length (max_position_embeddings).</summary>
    public int ContextLength => Decoder.ContextLength;
    public int VocabSize => Decoder.VocabSize;

    private LanguageModel(string path, DecoderModel decoder, ITokenizer tokenizer)
    {
        Path = path; Decoder = decoder; Tokenizer = tokenizer;
    }

    /// <summary>Loads config, tokenizer and weights of a Hugging Face model folder.</summary>
    public static LanguageModel Load(string modelDir, LanguageModelOptions? options = null)
    {
        options ??= new LanguageModelOptions();
        var log = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LanguageModel>();
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var dir = ModelDirectory.Open(modelDir);
        var tokenizer = TokenizerLoader.Load(dir.Path);
        var decoder = DecoderModel.Load(dir, options.Device, options.Threads, options.DeviceOrdinal, log);
        log.LogInformation("loaded {Model} ({Arch}, {Layers} layers) on {Device} in {Ms} ms",
            dir.Path, dir.Architecture.Info.ModelType, dir.Config.NumLayers, decoder.Context.Device.ToString().ToLowerInvariant(),
            started.ElapsedMilliseconds);
        return new LanguageModel(dir.Path, decoder, tokenizer);
    }

    /// <summary>A fresh KV cache for up to <paramref name="capacity"/> tokens (default: the context length).</summary>
    public InferenceSession CreateSession(int? capacity = null, int? maxChunk = null) => Decoder.CreateSession(capacity, maxChunk);

    /// <summary>Token ids of a prompt, with the model's special tokens (BOS) as its tokenizer adds them.</summary>
    public int[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Length == 0) throw new InvalidOptionException("--prompt", "the prompt is empty");
        return Tokenizer.Encode(prompt);
    }

    /// <summary>
    /// Streams the continuation of <paramref name="prompt"/> as text pieces (whole UTF-8
    /// characters; never a piece of a stop string). Cancellation stops between tokens.
    /// </summary>
    public async IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        options.Validate();
        var promptIds = EncodePrompt(prompt);
        var stops = new StopStringFilter(options.StopStrings);
        // The prompt is context, so the continuation reads as in a decode of prompt + output.
        var decoder = new IncrementalDecoder(Tokenizer, skipSpecialTokens: true);
        decoder.SetContext(promptIds);
        using var generator = new TokenGenerator(this, promptIds, options);
        // Each step runs on the thread pool so a UI or server thread is never blocked by compute.
        while (await Task.Run(generator.Next, cancellationToken) is int id)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var piece = stops.Push(decoder.Add(id), out bool stopped);
            if (piece.Length > 0) yield return piece;
            if (stopped) yield break;
        }
        var tail = stops.Push(decoder.Flush(), out bool stoppedAtEnd);
        if (!stoppedAtEnd) tail += stops.Flush();
        if (tail.Length > 0) yield return tail;
    }

    /// <summary>Generates token ids (no text handling), synchronously.</summary>
    public IReadOnlyList<int> GenerateIds(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (promptIds.Count == 0) throw new InvalidOptionException("--prompt", "the prompt is empty");
        using var generator = new TokenGenerator(this, promptIds.ToArray(), options);
        var result = new List<int>();
        while (generator.Next() is int id)
        {
            cancellationToken.ThrowIfCancellationRequested();
            result.Add(id);
        }
        return result;
    }

    private void CheckFits(int promptTokens, int maxNewTokens)
    {
        if (promptTokens + maxNewTokens > ContextLength)
            throw new InvalidOptionException("--max-tokens",
                $"the prompt ({promptTokens} tokens) plus {maxNewTokens} new tokens exceeds the model's context of {ContextLength} tokens");
    }

    /// <summary>
    /// The decode loop as a pull-based state machine: the first <see cref="Next"/> runs the
    /// prefill, each later one a single-token step. Returns null when the budget is spent or an
    /// EOS id comes up.
    /// </summary>
    private sealed class TokenGenerator : IDisposable
    {
        private readonly LanguageModel _model;
        private readonly InferenceSession _session;
        private readonly Sampler _sampler;
        private readonly GenerationOptions _options;
        private readonly float[] _logits;
        private readonly int[] _one = new int[1];
        private int[]? _prompt;
        private int _produced;
        private bool _done;

        public TokenGenerator(LanguageModel model, int[] promptIds, GenerationOptions options)
        {
            model.CheckFits(promptIds.Length, options.MaxNewTokens);
            _model = model;
            _options = options;
            _prompt = promptIds;
            _sampler = new Sampler(options);
            _logits = new float[model.VocabSize];
            _session = model.CreateSession(promptIds.Length + options.MaxNewTokens);
        }

        public int? Next()
        {
            if (_done || _produced == _options.MaxNewTokens) return null;
            if (_prompt is not null)
            {
                _sampler.Observe(_prompt);
                Run(_prompt);
                _prompt = null;
            }
            else
            {
                Run(_one);
            }
            int id = _sampler.Next(_logits);
            if (_options.StopAtEos && _model.Tokenizer.EosTokenIds.Contains(id)) { _done = true; return null; }
            _sampler.Observe([id]);
            _one[0] = id;
            _produced++;
            return id;
        }

        private void Run(int[] ids) => _session.Forward(ids, _logits);

        public void Dispose() => _session.Dispose();
    }

    public void Dispose() => Decoder.Dispose();
}
