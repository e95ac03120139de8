using System.Text.Json;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>A special token as tokenizer_config.json or special_tokens_map.json names it.</summary>
internal sealed record SpecialTokenSpec(string Content, bool? Normalized, bool LStrip, bool RStrip, bool SingleWord);

/// <summary>
/// What transformers reads beside the vocabulary: tokenizer_config.json (special tokens,
/// add_bos_token/add_eos_token, clean-up), special_tokens_map.json, and the BOS/EOS ids of
/// generation_config.json and config.json. Every file is optional.
/// </summary>
internal sealed class TokenizerFolderConfig
{
    private static readonly string[] SpecialTokenKeys =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    public string? TokenizerClass { get; private set; }
    public bool? AddBosToken { get; private set; }
    public bool? AddEosToken { get; private set; }
    public bool? AddPrefixSpace { get; private set; }
    public bool CleanUpTokenizationSpaces { get; private set; }

    /// <summary>Named special tokens by key ("bos_token", ...).</summary>
    public Dictionary<string, SpecialTokenSpec> NamedTokens { get; } = new(StringComparer.Ordinal);

    /// <summary>additional_special_tokens, in order.</summary>
    public List<SpecialTokenSpec> AdditionalSpecialTokens { get; } = [];

    /// <summary>tokenizer_config.json's added_tokens_decoder: id → token with its flags and special bit.</summary>
    public List<(int Id, SpecialTokenSpec Token, bool Special)> AddedTokensDecoder { get; } = [];

    /// <summary>generation_config.json eos_token_id (int or list).</summary>
    public List<int> GenerationEosIds { get; } = [];
    /// <summary>config.json eos_token_id (int or list).</summary>
    public List<int> ModelEosIds { get; } = [];
    public int? GenerationBosId { get; private set; }
    public int? ModelBosId { get; private set; }

    public SpecialTokenSpec? Bos => NamedTokens.GetValueOrDefault("bos_token");
    public SpecialTokenSpec? Eos => NamedTokens.GetValueOrDefault("eos_token");
    public SpecialTokenSpec? Unk => NamedTokens.GetValueOrDefault("unk_token");

    /// <summary>Every special token the configs name, deduplicated by content.</summary>
    public IEnumerable<SpecialTokenSpec> AllSpecialTokens =>
        SpecialTokenKeys.Where(NamedTokens.ContainsKey).Select(k => NamedTokens[k])
            .Concat(AdditionalSpecialTokens)
            .DistinctBy(t => t.Content, StringComparer.Ordinal);

    /// <exception cref="ModelFormatException">A config file is not valid JSON or has a field of the wrong type.</exception>
    public static TokenizerFolderConfig Read(string modelDir)
    {
        var config = new TokenizerFolderConfig();
        ReadJson(Path.Combine(modelDir, "tokenizer_config.json"), root => config.ReadTokenizerConfig(root, overrideExisting: true));
        ReadJson(Path.Combine(modelDir, "special_tokens_map.json"), root => config.ReadTokenizerConfig(root, overrideExisting: false));
        ReadJson(Path.Combine(modelDir, "generation_config.json"), root =>
        {
            ReadIds(root, "eos_token_id", config.GenerationEosIds);
            config.GenerationBosId = ReadOptionalId(root, "bos_token_id");
        });
        ReadJson(Path.Combine(modelDir, "config.json"), root =>
        {
            ReadIds(root, "eos_token_id", config.ModelEosIds);
            config.ModelBosId = ReadOptionalId(root, "bos_token_id");
        });
        return config;
    }

    private void ReadTokenizerConfig(JsonElement root, bool overrideExisting)
    {
        foreach (var key in SpecialTokenKeys)
        {
            if (root.TryGetProperty(key, out var value) && ParseToken(value) is { } token
                && (overrideExisting || !NamedTokens.ContainsKey(key)))
                NamedTokens[key] = token;
        }
        if (root.TryGetProperty("additional_special_tokens", out var additional) && additional.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in additional.EnumerateArray())
                if (ParseToken(item) is { } token && AdditionalSpecialTokens.All(t => t.Content != token.Content))
                    AdditionalSpecialTokens.Add(token);
        }
        if (!overrideExisting)
            return;
        TokenizerClass = root.TryGetProperty("tokenizer_class", out var cls) && cls.ValueKind == JsonValueKind.String ? cls.GetString() : null;
        AddBosToken = ReadOptionalBool(root, "add_bos_token");
        AddEosToken = ReadOptionalBool(root, "add_eos_token");
        AddPrefixSpace = ReadOptionalBool(root, "add_prefix_space");
        CleanUpTokenizationSpaces = ReadOptionalBool(root, "clean_up_tokenization_spaces") ?? false;
        if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in decoder.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, out var id) || ParseToken(entry.Value) is not { } token)
                    throw new JsonException($"added_tokens_decoder entry \"{entry.Name}\" is not an id with a token");
                var special = entry.Value.ValueKind == JsonValueKind.Object
                    && entry.Value.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                AddedTokensDecoder.Add((id, token, special));
            }
        }
    }

    /// <summary>A token given as a plain string or as an AddedToken object; null for JSON null.</summary>
    private static SpecialTokenSpec? ParseToken(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return new SpecialTokenSpec(value.GetString()!, null, false, false, false);
            case JsonValueKind.Object:
                var content = value.GetProperty("content").GetString()
                    ?? throw new JsonException("a special token has a null \"content\"");
                return new SpecialTokenSpec(content, ReadOptionalBool(value, "normalized"),
                    ReadOptionalBool(value, "lstrip") ?? false, ReadOptionalBool(value, "rstrip") ?? false,
                    ReadOptionalBool(value, "single_word") ?? false);
            default:
                throw new JsonException($"a special token is a JSON {value.ValueKind}, not a string or an object");
        }
    }

    private static bool? ReadOptionalBool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;

    private static int? ReadOptionalId(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt32() : null;

    private static void ReadIds(JsonElement root, string name, List<int> ids)
    {
        if (!root.TryGetProperty(name, out var value))
            return;
        if (value.ValueKind == JsonValueKind.Number)
            ids.Add(value.GetInt32());
        else if (value.ValueKind == JsonValueKind.Array)
            foreach (var item in value.EnumerateArray())
                ids.Add(item.GetInt32());
    }

    private static void ReadJson(string path, Action<JsonElement> read)
    {
        if (!File.Exists(path))
            return;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new JsonException("the top level is not a JSON object");
            read(document.RootElement);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new ModelFormatException($"malformed JSON: {e.Message}", path, inner: e);
        }
    }
}
