using System.Text;
using System.Text.Json;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// Loads the tokenizer of a Hugging Face model folder: tokenizer.json when present (what
/// transformers' fast tokenizers use), else GPT-2's vocab.json + merges.txt. Anything the file asks
/// for that this implementation does not reproduce exactly (a model other than BPE, an unknown
/// normalizer, pre-tokenizer, post-processor or decoder) is a <see cref="ModelFormatException"/>
/// naming the file and the component — never a silently different tokenization.
/// </summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Tokenizer classes whose transformers implementation rebuilds the post-processor from
    /// tokenizer_config.json's add_bos_token / add_eos_token (LlamaTokenizerFast.update_post_processor).
    /// For every other class the post-processor stored in tokenizer.json applies.
    /// </summary>
    private static readonly HashSet<string> ClassesWithBosEosFlags = new(StringComparer.Ordinal)
    {
        "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
        "GemmaTokenizer", "GemmaTokenizerFast",
    };

    /// <summary>Loads the tokenizer of <paramref name="modelDir"/>.</summary>
    /// <exception cref="ModelFormatException">No tokenizer files, or a malformed or unsupported one.</exception>
    public static BpeTokenizer Load(string modelDir)
    {
        ArgumentNullException.ThrowIfNull(modelDir);
        if (!Directory.Exists(modelDir))
            throw new ModelFormatException("model folder does not exist", modelDir);
        var config = TokenizerFolderConfig.Read(modelDir);

        var tokenizerJson = Path.Combine(modelDir, "tokenizer.json");
        if (File.Exists(tokenizerJson))
            return LoadTokenizerJson(tokenizerJson, config);

        var vocabJson = Path.Combine(modelDir, "vocab.json");
        var mergesTxt = Path.Combine(modelDir, "merges.txt");
        if (File.Exists(vocabJson) && File.Exists(mergesTxt))
            return LoadGpt2Files(vocabJson, mergesTxt, config);

        var hint = File.Exists(Path.Combine(modelDir, "tokenizer.model"))
            ? " (a SentencePiece tokenizer.model alone is not supported: convert it to tokenizer.json with transformers)"
            : "";
        throw new ModelFormatException($"no tokenizer found: expected tokenizer.json, or vocab.json and merges.txt{hint}", modelDir);
    }

    private static BpeTokenizer LoadTokenizerJson(string path, TokenizerFolderConfig config)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException("tokenizer.json is not a JSON object", path);
            var reader = new ComponentReader(path);

            var modelElement = root.GetProperty("model");
            var model = reader.ReadBpeModel(modelElement);
            var normalizer = reader.ReadNormalizer(Optional(root, "normalizer"));
            var preTokenizer = reader.ReadPreTokenizer(Optional(root, "pre_tokenizer"));
            var decoder = reader.ReadDecoder(Optional(root, "decoder"));

            var addedTokens = new List<AddedToken>();
            if (Optional(root, "added_tokens") is { ValueKind: JsonValueKind.Array } added)
            {
                foreach (var item in added.EnumerateArray())
                {
                    addedTokens.Add(new AddedToken(
                        item.GetProperty("id").GetInt32(),
                        item.GetProperty("content").GetString() ?? throw new JsonException("an added token has a null content"),
                        Special: Bool(item, "special", false),
                        Normalized: Bool(item, "normalized", !Bool(item, "special", false)),
                        LStrip: Bool(item, "lstrip", false),
                        RStrip: Bool(item, "rstrip", false),
                        SingleWord: Bool(item, "single_word", false)));
                }
            }
            AddConfigSpecialTokens(addedTokens, config, model);
            var tokenId = TokenIdLookup(addedTokens, model);

            IPostProcessor? postProcessor = UsesBosEosFlags(config)
                ? TemplateFromFlags(config, tokenId, path)
                : reader.ReadPostProcessor(Optional(root, "post_processor"));

            return new BpeTokenizer(path, model, normalizer, preTokenizer, postProcessor, decoder, addedTokens,
                BosId(config, tokenId), EosIds(config, tokenId), config.CleanUpTokenizationSpaces);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new ModelFormatException($"malformed tokenizer.json: {e.Message}", path, inner: e);
        }
    }

    /// <summary>
    /// GPT-2's slow-tokenizer files, built the way transformers' GPT2Converter builds the fast
    /// tokenizer: byte-level BPE without unk, ByteLevel pre-tokenizer and decoder, and the
    /// tokenizer_config's special tokens as added tokens (OPT: BOS "&lt;/s&gt;" prepended).
    /// </summary>
    private static BpeTokenizer LoadGpt2Files(string vocabPath, string mergesPath, TokenizerFolderConfig config)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(vocabPath));
            foreach (var entry in document.RootElement.EnumerateObject())
                vocab[entry.Name] = entry.Value.GetInt32();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException($"malformed vocab.json (expected an object of token → id): {e.Message}", vocabPath, inner: e);
        }

        var merges = new List<(string, string)>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(mergesPath, Encoding.UTF8))
        {
            lineNumber++;
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0)
                continue;
            var parts = line.Split(' ');
            if (parts.Length != 2)
                throw new ModelFormatException($"line {lineNumber} is not \"left right\": \"{line}\"", mergesPath);
            merges.Add((parts[0], parts[1]));
        }

        var model = new BpeModel(vocab, merges, new BpeOptions(), vocabPath);
        var addedTokens = new List<AddedToken>();
        AddConfigSpecialTokens(addedTokens, config, model);
        var tokenId = TokenIdLookup(addedTokens, model);

        // GPT2TokenizerFast: a template with BOS only when add_bos_token (and EOS with add_eos_token).
        IPostProcessor postProcessor = config.AddBosToken == true || config.AddEosToken == true
            ? TemplateFromFlags(config, tokenId, vocabPath)
            : new IdentityPostProcessor();
        return new BpeTokenizer(vocabPath, model, normalizer: null,
            new ByteLevelPreTokenizer(config.AddPrefixSpace ?? false, useRegex: true),
            postProcessor, new ByteLevelDecoder(), addedTokens,
            BosId(config, tokenId), EosIds(config, tokenId), config.CleanUpTokenizationSpaces);
    }

    /// <summary>
    /// transformers adds every special token of the configs that the added vocabulary lacks; one that
    /// is not in the vocabulary either gets the next free id, as transformers assigns it.
    /// </summary>
    private static void AddConfigSpecialTokens(List<AddedToken> addedTokens, TokenizerFolderConfig config, BpeModel model)
    {
        foreach (var (id, spec, special) in config.AddedTokensDecoder)
        {
            if (addedTokens.Any(t => t.Content == spec.Content))
                continue;
            addedTokens.Add(new AddedToken(id, spec.Content, special, spec.Normalized ?? !special,
                spec.LStrip, spec.RStrip, spec.SingleWord));
        }
        foreach (var spec in config.AllSpecialTokens)
        {
            if (addedTokens.Any(t => t.Content == spec.Content))
                continue;
            var id = model.TokenToId(spec.Content)
                ?? Math.Max(model.MaxId, addedTokens.Count == 0 ? -1 : addedTokens.Max(t => t.Id)) + 1;
            addedTokens.Add(new AddedToken(id, spec.Content, Special: true, spec.Normalized ?? false,
                spec.LStrip, spec.RStrip, spec.SingleWord));
        }
    }

    /// <summary>Id of a token's content: an added token first, else the model vocabulary.</summary>
    private static Func<string, int?> TokenIdLookup(List<AddedToken> addedTokens, BpeModel model) =>
        content => addedTokens.FirstOrDefault(t => t.Content == content)?.Id ?? model.TokenToId(content);

    private static bool UsesBosEosFlags(TokenizerFolderConfig config) =>
        config.TokenizerClass is { } cls && ClassesWithBosEosFlags.Contains(cls)
        && (config.AddBosToken.HasValue || config.AddEosToken.HasValue);

    /// <summary>The template [bos] $A [eos] that LlamaTokenizerFast.update_post_processor builds.</summary>
    private static TemplatePostProcessor TemplateFromFlags(TokenizerFolderConfig config, Func<string, int?> tokenId, string path)
    {
        var items = new List<int[]?>();
        if (config.AddBosToken == true)
            items.Add([RequiredId(config.Bos, "bos_token", tokenId, path)]);
        items.Add(null);
        if (config.AddEosToken == true)
            items.Add([RequiredId(config.Eos, "eos_token", tokenId, path)]);
        return new TemplatePostProcessor(items);
    }

    private static int RequiredId(SpecialTokenSpec? spec, string key, Func<string, int?> tokenId, string path)
    {
        if (spec is null)
            throw new ModelFormatException($"tokenizer_config.json asks to add the {key} but names none", path);
        return tokenId(spec.Content)
            ?? throw new ModelFormatException($"the {key} \"{spec.Content}\" is not in the vocabulary", path);
    }

    private static int? BosId(TokenizerFolderConfig config, Func<string, int?> tokenId) =>
        (config.Bos is { } bos ? tokenId(bos.Content) : null) ?? config.GenerationBosId ?? config.ModelBosId;

    private static IReadOnlyList<int> EosIds(TokenizerFolderConfig config, Func<string, int?> tokenId)
    {
        var ids = new List<int>(config.GenerationEosIds);
        if (config.Eos is { } eos && tokenId(eos.Content) is { } eosId)
            ids.Add(eosId);
        ids.AddRange(config.ModelEosIds);
        return ids.Distinct().ToArray();
    }

    private static JsonElement? Optional(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static bool Bool(JsonElement parent, string name, bool fallback) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : fallback;

    /// <summary>Reads the pipeline components of one tokenizer.json; errors name the file and component.</summary>
    private sealed class ComponentReader(string path)
    {
        private ModelFormatException Unsupported(string component, string type) =>
            new($"unsupported {component} type \"{type}\" (supported: {SupportedTypes(component)})", path);

        private static string SupportedTypes(string component) => component switch
        {
            "model" => "BPE",
            "normalizer" => "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD",
            "pre_tokenizer" => "Sequence, ByteLevel, Metaspace, Split",
            "post_processor" => "Sequence, TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing",
            "decoder" => "Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace",
            _ => "",
        };

        private static string TypeOf(JsonElement element) =>
            element.TryGetProperty("type", out var type) ? type.GetString() ?? "" : "";

        public BpeModel ReadBpeModel(JsonElement model)
        {
            var type = TypeOf(model);
            if (type.Length == 0 && model.TryGetProperty("merges", out _))
                type = "BPE";   // older files leave the model type implicit
            if (type != "BPE")
                throw Unsupported("model", type.Length == 0 ? "(none)" : type);
            if (Optional(model, "dropout") is { } dropout && dropout.GetDouble() != 0)
                throw new ModelFormatException($"BPE dropout {dropout.GetDouble()} makes tokenization random; only dropout null or 0 is supported", path);

            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var entry in model.GetProperty("vocab").EnumerateObject())
                vocab[entry.Name] = entry.Value.GetInt32();

            var merges = new List<(string, string)>();
            if (Optional(model, "merges") is { } mergeArray)
            {
                foreach (var merge in mergeArray.EnumerateArray())
                {
                    if (merge.ValueKind == JsonValueKind.String)
                    {
                        var text = merge.GetString()!;
                        var space = text.IndexOf(' ');
                        if (space < 0)
                            throw new ModelFormatException($"BPE merge \"{text}\" has no space between its two tokens", path);
                        merges.Add((text[..space], text[(space + 1)..]));
                    }
                    else
                    {
                        if (merge.GetArrayLength() != 2)
                            throw new ModelFormatException($"BPE merge {merge.GetRawText()} is not a pair of tokens", path);
                        merges.Add((merge[0].GetString()!, merge[1].GetString()!));
                    }
                }
            }

            var options = new BpeOptions
            {
                UnkToken = Optional(model, "unk_token")?.GetString(),
                FuseUnk = Bool(model, "fuse_unk", false),
                ByteFallback = Bool(model, "byte_fallback", false),
                IgnoreMerges = Bool(model, "ignore_merges", false),
                ContinuingSubwordPrefix = Optional(model, "continuing_subword_prefix")?.GetString(),
                EndOfWordSuffix = Optional(model, "end_of_word_suffix")?.GetString(),
            };
            return new BpeModel(vocab, merges, options, path);
        }

        public INormalizer? ReadNormalizer(JsonElement? element)
        {
            if (element is not { } e)
                return null;
            var type = TypeOf(e);
            return type switch
            {
                "Sequence" => new SequenceNormalizer(e.GetProperty("normalizers").EnumerateArray()
                    .Select(n => ReadNormalizer(n)!).ToArray()),
                "Prepend" => new PrependNormalizer(e.GetProperty("prepend").GetString()!),
                "Replace" => new ReplaceNormalizer(ReadPattern(e.GetProperty("pattern"), "normalizer"), e.GetProperty("content").GetString()!),
                "NFC" => UnicodeForm(NormalizationForm.FormC, type),
                "NFD" => UnicodeForm(NormalizationForm.FormD, type),
                "NFKC" => UnicodeForm(NormalizationForm.FormKC, type),
                "NFKD" => UnicodeForm(NormalizationForm.FormKD, type),
                _ => throw Unsupported("normalizer", type),
            };
        }

        private UnicodeFormNormalizer UnicodeForm(NormalizationForm form, string type) =>
            UnicodeFormNormalizer.IsAvailable(form)
                ? new UnicodeFormNormalizer(form)
                : throw new ModelFormatException(
                    $"the {type} normalizer needs Unicode normalization, which this process lacks (InvariantGlobalization is on)", path);

        public IPreTokenizer? ReadPreTokenizer(JsonElement? element)
        {
            if (element is not { } e)
                return null;
            var type = TypeOf(e);
            switch (type)
            {
                case "Sequence":
                    return new SequencePreTokenizer(e.GetProperty("pretokenizers").EnumerateArray()
                        .Select(p => ReadPreTokenizer(p)!).ToArray());
                case "ByteLevel":
                    return new ByteLevelPreTokenizer(Bool(e, "add_prefix_space", true), Bool(e, "use_regex", true));
                case "Metaspace":
                    return new MetaspacePreTokenizer(ReadReplacement(e), ReadPrependScheme(e), Bool(e, "split", true));
                case "Split":
                    var behavior = e.GetProperty("behavior").GetString() switch
                    {
                        "Removed" => SplitDelimiterBehavior.Removed,
                        "Isolated" => SplitDelimiterBehavior.Isolated,
                        "MergedWithPrevious" => SplitDelimiterBehavior.MergedWithPrevious,
                        "MergedWithNext" => SplitDelimiterBehavior.MergedWithNext,
                        "Contiguous" => SplitDelimiterBehavior.Contiguous,
                        var other => throw new ModelFormatException($"unsupported Split pre-tokenizer behavior \"{other}\"", path),
                    };
                    return new SplitPreTokenizer(ReadPattern(e.GetProperty("pattern"), "pre_tokenizer"), behavior, Bool(e, "invert", false));
                default:
                    throw Unsupported("pre_tokenizer", type);
            }
        }

        public IPostProcessor? ReadPostProcessor(JsonElement? element)
        {
            if (element is not { } e)
                return null;
            var type = TypeOf(e);
            switch (type)
            {
                case "Sequence":
                    return new SequencePostProcessor(e.GetProperty("processors").EnumerateArray()
                        .Select(p => ReadPostProcessor(p)!).ToArray());
                case "ByteLevel":
                    return new IdentityPostProcessor();
                case "RobertaProcessing":
                case "BertProcessing":
                    return new TemplatePostProcessor([[e.GetProperty("cls")[1].GetInt32()], null, [e.GetProperty("sep")[1].GetInt32()]]);
                case "TemplateProcessing":
                    var specials = e.GetProperty("special_tokens");
                    var items = new List<int[]?>();
                    foreach (var item in e.GetProperty("single").EnumerateArray())
                    {
                        if (item.TryGetProperty("SpecialToken", out var special))
                        {
                            var name = special.GetProperty("id").GetString()!;
                            if (!specials.TryGetProperty(name, out var definition))
                                throw new ModelFormatException($"TemplateProcessing uses special token \"{name}\" without defining it", path);
                            items.Add(definition.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray());
                        }
                        else if (item.TryGetProperty("Sequence", out var sequence))
                        {
                            if (sequence.GetProperty("id").GetString() != "A")
                                throw new ModelFormatException("TemplateProcessing's single template uses a sequence other than $A", path);
                            items.Add(null);
                        }
                        else
                        {
                            throw new ModelFormatException($"TemplateProcessing item {item.GetRawText()} is neither SpecialToken nor Sequence", path);
                        }
                    }
                    return new TemplatePostProcessor(items);
                default:
                    throw Unsupported("post_processor", type);
            }
        }

        public ITokenDecoder? ReadDecoder(JsonElement? element)
        {
            if (element is not { } e)
                return null;
            var type = TypeOf(e);
            return type switch
            {
                "Sequence" => new SequenceDecoder(e.GetProperty("decoders").EnumerateArray().Select(d => ReadDecoder(d)!).ToArray()),
                "ByteLevel" => new ByteLevelDecoder(),
                "ByteFallback" => new ByteFallbackDecoder(),
                "Fuse" => new FuseDecoder(),
                "Strip" => new StripDecoder(SingleChar(e.GetProperty("content").GetString(), "Strip decoder content"),
                    e.GetProperty("start").GetInt32(), e.GetProperty("stop").GetInt32()),
                "Replace" => new ReplaceDecoder(ReadPattern(e.GetProperty("pattern"), "decoder"), e.GetProperty("content").GetString()!),
                "Metaspace" => new MetaspaceDecoder(ReadReplacement(e), ReadPrependScheme(e)),
                _ => throw Unsupported("decoder", type),
            };
        }

        private TextPattern ReadPattern(JsonElement pattern, string component)
        {
            if (pattern.TryGetProperty("String", out var literal))
                return TextPattern.Literal(literal.GetString()!);
            if (pattern.TryGetProperty("Regex", out var regex))
            {
                try
                {
                    return TextPattern.FromRegex(regex.GetString()!);
                }
                catch (ArgumentException e)
                {
                    throw new ModelFormatException($"{component} regex \"{regex.GetString()}\" is not supported by .NET regular expressions: {e.Message}", path, inner: e);
                }
            }
            throw new ModelFormatException($"{component} pattern {pattern.GetRawText()} is neither String nor Regex", path);
        }

        private char ReadReplacement(JsonElement e) =>
            SingleChar(e.GetProperty("replacement").GetString(), "Metaspace replacement");

        /// <summary>prepend_scheme, or the older add_prefix_space flag (true = always).</summary>
        private PrependScheme ReadPrependScheme(JsonElement e)
        {
            if (Optional(e, "prepend_scheme") is { } scheme)
            {
                return scheme.GetString() switch
                {
                    "always" => PrependScheme.Always,
                    "first" => PrependScheme.First,
                    "never" => PrependScheme.Never,
                    var other => throw new ModelFormatException($"unsupported Metaspace prepend_scheme \"{other}\"", path),
                };
            }
            return Bool(e, "add_prefix_space", true) ? PrependScheme.Always : PrependScheme.Never;
        }

        private char SingleChar(string? text, string what) =>
            text is { Length: 1 } ? text[0] : throw new ModelFormatException($"{what} must be one character, not \"{text}\"", path);
    }
}
