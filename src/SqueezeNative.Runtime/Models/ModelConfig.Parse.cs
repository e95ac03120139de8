using System.Text.Json;

namespace SqueezeNative.Runtime.Models;

/// <summary>
/// Reading config.json. Uses <see cref="JsonDocument"/> rather than a reflection serializer so
/// the trimmed CLI keeps working. Keys the file omits take the default of the transformers
/// config class of that family (LlamaConfig, MistralConfig, OPTConfig); the keys that define
/// tensor shapes are required, since a default 7B shape silently applied to another checkpoint
/// would only surface later as a confusing tensor-shape error.
/// </summary>
public sealed partial class ModelConfig
{
    public const string FileName = "config.json";

    /// <summary>The `model_type` values this parser understands.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["llama", "mistral", "opt"];

    private static readonly string[] KnownDtypes = ["float16", "bfloat16", "float32", "float64"];

    /// <summary>Reads and validates a config.json file.</summary>
    public static ModelConfig Load(string configJsonPath)
    {
        if (Directory.Exists(configJsonPath))
            throw new ModelFormatException($"expected a {FileName} file, found a directory", configJsonPath);
        if (!File.Exists(configJsonPath))
            throw new ModelFormatException($"{FileName} not found", configJsonPath);
        string json;
        try
        {
            json = File.ReadAllText(configJsonPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException($"cannot read {FileName} ({e.Message})", configJsonPath, inner: e);
        }
        return Parse(json, configJsonPath);
    }

    /// <summary>Parses config.json text; <paramref name="sourcePath"/> names the file in errors.</summary>
    public static ModelConfig Parse(string json, string sourcePath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"invalid JSON ({e.Message})", sourcePath, inner: e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException($"{FileName} must be a JSON object, found {JsonText.Describe(root.ValueKind)}", sourcePath);
            var reader = new ConfigReader(root, sourcePath);
            var modelType = reader.RequiredString("model_type");
            return modelType switch
            {
                "llama" or "mistral" => ParseLlamaFamily(reader, modelType),
                "opt" => ParseOpt(reader),
                _ => throw new ModelFormatException(
                    $"unsupported model_type '{modelType}' (supported: {string.Join(", ", SupportedModelTypes)})", sourcePath),
            };
        }
    }

    /// <summary>LLaMA and Mistral share a config layout; Mistral adds GQA defaults and the sliding window.</summary>
    private static ModelConfig ParseLlamaFamily(ConfigReader reader, string modelType)
    {
        bool isMistral = modelType == "mistral";
        int hidden = reader.RequiredPositiveInt("hidden_size");
        int heads = reader.RequiredPositiveInt("num_attention_heads");
        int kvHeads = reader.OptionalPositiveInt("num_key_value_heads") ?? heads;
        if (kvHeads > heads || heads % kvHeads != 0)
            throw reader.Error("num_key_value_heads", $"{kvHeads} must divide num_attention_heads ({heads})");
        int headDim = reader.OptionalPositiveInt("head_dim") ?? DerivedHeadDim(reader, hidden, heads);

        // transformers: MistralConfig defaults sliding_window to 4096; an explicit null disables it.
        int? slidingWindow = null;
        if (isMistral)
        {
            slidingWindow = reader.Has("sliding_window")
                ? reader.OptionalPositiveInt("sliding_window")
                : 4096;
        }

        bool attentionBias = !isMistral && reader.OptionalBool("attention_bias", false);
        bool mlpBias = !isMistral && reader.OptionalBool("mlp_bias", false);
        return new ModelConfig
        {
            SourcePath = reader.Path,
            ModelType = modelType,
            ArchitectureClass = reader.ArchitectureClass(),
            HiddenSize = hidden,
            NumLayers = reader.RequiredPositiveInt("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            IntermediateSize = reader.RequiredPositiveInt("intermediate_size"),
            VocabSize = reader.RequiredPositiveInt("vocab_size"),
            MaxPositions = reader.OptionalPositiveInt("max_position_embeddings") ?? (isMistral ? 4096 * 32 : 2048),
            NormEps = reader.OptionalPositiveFloat("rms_norm_eps") ?? 1e-6f,
            RopeTheta = reader.RopeTheta(),
            SlidingWindow = slidingWindow,
            TieWordEmbeddings = reader.OptionalBool("tie_word_embeddings", false),
            HiddenAct = reader.OptionalString("hidden_act") ?? "silu",
            Dtype = reader.Dtype(),
            BosTokenId = reader.OptionalInt("bos_token_id", 1),
            EosTokenIds = reader.EosTokenIds(2),
            PadTokenId = reader.OptionalInt("pad_token_id", null),
            AttentionBias = attentionBias,
            MlpBias = mlpBias,
            // Not OPT keys, but kept meaningful: pre-norm, no projection, biases only if on every linear.
            DoLayerNormBefore = true,
            WordEmbedProjDim = hidden,
            EnableBias = attentionBias && mlpBias,
            RemoveFinalLayerNorm = false,
            LayerNormElementwiseAffine = true,
        };
    }

    private static ModelConfig ParseOpt(ConfigReader reader)
    {
        int hidden = reader.RequiredPositiveInt("hidden_size");
        int heads = reader.RequiredPositiveInt("num_attention_heads");
        bool enableBias = reader.OptionalBool("enable_bias", true);
        return new ModelConfig
        {
            SourcePath = reader.Path,
            ModelType = "opt",
            ArchitectureClass = reader.ArchitectureClass(),
            HiddenSize = hidden,
            NumLayers = reader.RequiredPositiveInt("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = heads,
            // OPTAttention has no head_dim key: it requires hidden_size divisible by the heads.
            HeadDim = DerivedHeadDim(reader, hidden, heads),
            IntermediateSize = reader.RequiredPositiveInt("ffn_dim"),
            VocabSize = reader.RequiredPositiveInt("vocab_size"),
            MaxPositions = reader.OptionalPositiveInt("max_position_embeddings") ?? 2048,
            // transformers builds OPT's LayerNorms with nn.LayerNorm's default eps.
            NormEps = 1e-5f,
            RopeTheta = 0,
            SlidingWindow = null,
            // PretrainedConfig's default: OPT checkpoints tie lm_head to embed_tokens unless told otherwise.
            TieWordEmbeddings = reader.OptionalBool("tie_word_embeddings", true),
            HiddenAct = reader.OptionalString("activation_function") ?? "relu",
            Dtype = reader.Dtype(),
            BosTokenId = reader.OptionalInt("bos_token_id", 2),
            EosTokenIds = reader.EosTokenIds(2),
            PadTokenId = reader.OptionalInt("pad_token_id", 1),
            // enable_bias puts a bias on every linear: attention and MLP alike.
            AttentionBias = enableBias,
            MlpBias = enableBias,
            EnableBias = enableBias,
            DoLayerNormBefore = reader.OptionalBool("do_layer_norm_before", true),
            WordEmbedProjDim = reader.OptionalPositiveInt("word_embed_proj_dim") ?? hidden,
            RemoveFinalLayerNorm = reader.OptionalBool("_remove_final_layer_norm", false),
            LayerNormElementwiseAffine = reader.OptionalBool("layer_norm_elementwise_affine", true),
        };
    }

    private static int DerivedHeadDim(ConfigReader reader, int hidden, int heads)
    {
        if (hidden % heads != 0)
            throw reader.Error("hidden_size", $"{hidden} is not divisible by num_attention_heads ({heads}) and there is no head_dim");
        return hidden / heads;
    }

    /// <summary>Typed access to config.json keys; every failure names the file and the key.</summary>
    /// <remarks><paramref name="keyPrefix"/> qualifies keys of a nested object in messages, e.g. "rope_parameters.".</remarks>
    private readonly struct ConfigReader(JsonElement root, string path, string keyPrefix = "")
    {
        public string Path { get; } = path;

        public ModelFormatException Error(string key, string message) => new($"key '{keyPrefix}{key}': {message}", Path);

        public bool Has(string key) => root.TryGetProperty(key, out _);

        /// <summary>The value of <paramref name="key"/>, or null when absent or JSON null.</summary>
        private JsonElement? Get(string key) =>
            root.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        private ModelFormatException WrongType(string key, string expected, JsonElement value) =>
            Error(key, $"must be {expected}, found {JsonText.Describe(value.ValueKind)} {JsonText.Abbreviate(value.GetRawText())}");

        public string RequiredString(string key) =>
            OptionalString(key) ?? throw Error(key, "required key is missing");

        public string? OptionalString(string key)
        {
            if (Get(key) is not { } value) return null;
            if (value.ValueKind != JsonValueKind.String) throw WrongType(key, "a string", value);
            return value.GetString()!;
        }

        public int RequiredPositiveInt(string key) =>
            OptionalPositiveInt(key) ?? throw Error(key, "required key is missing");

        public int? OptionalPositiveInt(string key)
        {
            if (ReadInt(key) is not { } v) return null;
            if (v <= 0) throw Error(key, $"must be positive, found {v}");
            return v;
        }

        public int? OptionalInt(string key, int? defaultValue) => Has(key) ? ReadInt(key) : defaultValue;

        private int? ReadInt(string key)
        {
            if (Get(key) is not { } value) return null;
            return AsInt(key, value);
        }

        private int AsInt(string key, JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var v))
                throw WrongType(key, "an integer", value);
            return v;
        }

        public bool OptionalBool(string key, bool defaultValue)
        {
            if (Get(key) is not { } value) return defaultValue;
            return value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw WrongType(key, "a boolean", value),
            };
        }

        public float? OptionalPositiveFloat(string key)
        {
            if (Get(key) is not { } value) return null;
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var v))
                throw WrongType(key, "a number", value);
            if (!(v > 0) || double.IsInfinity(v)) throw Error(key, $"must be a positive number, found {v}");
            return (float)v;
        }

        public string ArchitectureClass()
        {
            if (Get("architectures") is not { } value) return "";
            if (value.ValueKind != JsonValueKind.Array) throw WrongType("architectures", "an array of class names", value);
            foreach (var item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) throw WrongType("architectures", "an array of class names", item);
                return item.GetString()!;
            }
            return "";
        }

        /// <summary>`dtype` (transformers 5.x) or `torch_dtype` (4.x); float32 when neither is given, as transformers assumes.</summary>
        public string Dtype()
        {
            var key = Get("dtype") is not null ? "dtype" : "torch_dtype";
            var dtype = OptionalString(key) ?? "float32";
            if (!KnownDtypes.Contains(dtype))
                throw Error(key, $"unknown dtype '{dtype}' (expected one of {string.Join(", ", KnownDtypes)})");
            return dtype;
        }

        /// <summary>
        /// RoPE base: `rope_parameters.rope_theta` (5.x) or top-level `rope_theta` (4.x), 10000 when
        /// absent. Scaled RoPE variants would change the positional encoding, so they are refused
        /// rather than silently run as plain RoPE.
        /// </summary>
        public float RopeTheta()
        {
            const string parametersKey = "rope_parameters";
            float theta = 10000f;
            if (Get(parametersKey) is { } parameters)
            {
                if (parameters.ValueKind != JsonValueKind.Object) throw WrongType(parametersKey, "an object", parameters);
                var nested = new ConfigReader(parameters, Path, parametersKey + ".");
                theta = nested.OptionalPositiveFloat("rope_theta") ?? theta;
                var ropeType = nested.OptionalString("rope_type") ?? "default";
                if (ropeType != "default")
                    throw nested.Error("rope_type", $"RoPE scaling '{ropeType}' is not supported (only 'default')");
            }
            else
            {
                theta = OptionalPositiveFloat("rope_theta") ?? theta;
            }

            if (Get("rope_scaling") is { } scaling)
            {
                if (scaling.ValueKind != JsonValueKind.Object) throw WrongType("rope_scaling", "an object or null", scaling);
                var nested = new ConfigReader(scaling, Path, "rope_scaling.");
                var type = nested.OptionalString("rope_type") ?? nested.OptionalString("type") ?? "default";
                if (type != "default")
                    throw Error("rope_scaling", $"RoPE scaling '{type}' is not supported (only 'default')");
            }
            return theta;
        }

        /// <summary>`eos_token_id`: one id, a list of ids (newer configs) or null.</summary>
        public IReadOnlyList<int> EosTokenIds(int defaultId)
        {
            const string key = "eos_token_id";
            if (!Has(key)) return [defaultId];
            if (Get(key) is not { } value) return [];
            if (value.ValueKind == JsonValueKind.Array)
            {
                var ids = new List<int>();
                foreach (var item in value.EnumerateArray()) ids.Add(AsInt(key, item));
                return ids;
            }
            return [AsInt(key, value)];
        }
    }
}
