using System.Text;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// A Hugging Face BPE tokenizer pipeline: added-token extraction → normalizer → pre-tokenizer →
/// BPE model → post-processor, and back through the decoder. Built by <see cref="TokenizerLoader"/>
/// from tokenizer.json or from GPT-2's vocab.json + merges.txt; immutable and thread-safe.
/// </summary>
public sealed class BpeTokenizer : ITokenizer
{
    private readonly BpeModel _model;
    private readonly INormalizer? _normalizer;
    private readonly IPreTokenizer? _preTokenizer;
    private readonly IPostProcessor? _postProcessor;
    private readonly ITokenDecoder? _decoder;
    private readonly AddedVocabulary _addedVocabulary;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly HashSet<string> _specialContents;
    private readonly bool _cleanUpTokenizationSpaces;

    internal BpeTokenizer(string sourcePath, BpeModel model, INormalizer? normalizer, IPreTokenizer? preTokenizer,
        IPostProcessor? postProcessor, ITokenDecoder? decoder, IReadOnlyList<AddedToken> addedTokens,
        int? bosTokenId, IReadOnlyList<int> eosTokenIds, bool cleanUpTokenizationSpaces)
    {
        SourcePath = sourcePath;
        _model = model;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _postProcessor = postProcessor;
        _decoder = decoder;
        AddedTokens = addedTokens;
        _addedVocabulary = new AddedVocabulary(addedTokens, normalizer);
        _addedById = new Dictionary<int, AddedToken>();
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var token in addedTokens)
        {
            _addedById[token.Id] = token;
            _addedByContent[token.Content] = token;
        }
        _specialContents = addedTokens.Where(t => t.Special).Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        BosTokenId = bosTokenId;
        EosTokenIds = eosTokenIds;
        _cleanUpTokenizationSpaces = cleanUpTokenizationSpaces;
        VocabSize = Math.Max(model.MaxId, addedTokens.Count == 0 ? -1 : addedTokens.Max(t => t.Id)) + 1;
    }

    /// <summary>The BPE model, for tests of its internals.</summary>
    internal BpeModel Model => _model;

    /// <summary>The normalizer (null when the tokenizer has none), for tests of the model alone.</summary>
    internal string Normalize(string text) => _normalizer is null ? text : _normalizer.Normalize(text);

    /// <summary>The file the vocabulary was read from (tokenizer.json or vocab.json).</summary>
    public string SourcePath { get; }

    /// <summary>Tokens matched before normalization and BPE (special tokens among them).</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    public int VocabSize { get; }
    public int? BosTokenId { get; }
    public IReadOnlyList<int> EosTokenIds { get; }

    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);

        var segments = new List<InputSegment>();
        _addedVocabulary.ExtractAndNormalize(text, _normalizer, segments);

        var ids = new List<int>(text.Length / 3 + 8);
        var words = new List<TextPiece>();
        foreach (var segment in segments)
        {
            if (segment.IsAddedToken)
            {
                ids.Add(segment.AddedTokenId);
                continue;
            }
            if (_preTokenizer is null)
            {
                _model.Tokenize(segment.Text, ids);
                continue;
            }
            words.Clear();
            _preTokenizer.Split(new TextPiece(segment.Text, segment.AtInputStart), words);
            foreach (var word in words)
                _model.Tokenize(word.Text, ids);
        }
        if (_postProcessor is not null)
            ids = _postProcessor.Process(ids, addSpecialTokens);
        return ids.ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            var token = _addedById.TryGetValue(id, out var added) ? added.Content : _model.IdToToken(id);
            if (token is null)
                continue;
            if (skipSpecialTokens && _specialContents.Contains(token))
                continue;
            tokens.Add(token);
        }
        var text = _decoder is null ? string.Join(' ', tokens) : string.Concat(_decoder.DecodeChain(tokens));
        return _cleanUpTokenizationSpaces ? CleanUpTokenizationSpaces(text) : text;
    }

    public string IdToToken(int id) =>
        (_addedById.TryGetValue(id, out var added) ? added.Content : _model.IdToToken(id))
        ?? throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is not in the vocabulary of {SourcePath}");

    /// <summary>The id of a vocabulary entry or added token, if there is one.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added.Id : _model.TokenToId(token);

    /// <summary>Whether <paramref name="id"/> is a special token (skipped by Decode with skipSpecialTokens).</summary>
    public bool IsSpecialToken(int id) => _addedById.TryGetValue(id, out var added) && added.Special;

    /// <summary>
    /// .NET strings may hold unpaired surrogates, which Python strings handed to Hugging Face cannot;
    /// they are encoded as U+FFFD (what their UTF-8 encoding would be anyway).
    /// </summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        var firstBad = -1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (!char.IsSurrogate(c))
                continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            firstBad = i;
            break;
        }
        if (firstBad < 0)
            return text;
        var builder = new StringBuilder(text.Length);
        builder.Append(text, 0, firstBad);
        for (var i = firstBad; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[++i]);
                continue;
            }
            builder.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
        }
        return builder.ToString();
    }

    /// <summary>transformers' <c>clean_up_tokenization</c>: removes spaces before punctuation and contractions.</summary>
    private static string CleanUpTokenizationSpaces(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal)
        .Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal)
        .Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal)
        .Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal)
        .Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal)
        .Replace(" 're", "'re", StringComparison.Ordinal);
}
