using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// One sequence being decoded: its KV cache and the scratch buffers of the forward pass. Many
/// sessions may share one loaded model (weights are read-only); a session itself is used by one
/// thread at a time. Everything is allocated here, up front: the forward allocates no buffers.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly DecoderWeights _w;
    private readonly NativeContext _ctx;
    private readonly NativeTensor[] _kCache, _vCache;
    // Scratch, sized for MaxChunk rows (shapes in comments: T = rows of the current forward).
    private readonly NativeTensor _h;       // [T, Hidden]   residual stream
    private readonly NativeTensor _x;       // [T, Hidden]   normed input / block output
    private readonly NativeTensor _q;       // [T, Hq·Dh]
    private readonly NativeTensor _k;       // [T, Hkv·Dh]   keys before RoPE
    private readonly NativeTensor _attn;    // [T, Hq·Dh]
    private readonly NativeTensor _a, _b;   // [T, Intermediate]
    private readonly NativeTensor _emb;     // [T, EmbedDim] embeddings before project_in / after project_out
    private readonly NativeTensor _ids;     // I32 [T]
    private readonly NativeTensor _pos;     // I32 [T]  RoPE positions, or learned-table rows
    private NativeTensor? _logits;          // [T, Vocab] (allocated on first use)
    private readonly int[] _posHost;

    /// <summary>Tokens the cache can hold (prompt + generated).</summary>
    public int Capacity { get; }
    /// <summary>Largest number of tokens one forward call accepts.</summary>
    public int MaxChunk { get; }
    /// <summary>Tokens already in the cache.</summary>
    public int Length { get; private set; }

    internal InferenceSession(DecoderWeights weights, NativeContext context, int capacity, int maxChunk)
    {
        _w = weights;
        _ctx = context;
        Capacity = capacity;
        MaxChunk = Math.Min(maxChunk, capacity);
        var c = weights.Config;
        int layers = weights.Layers.Count, t = MaxChunk;
        _kCache = new NativeTensor[layers];
        _vCache = new NativeTensor[layers];
        try
        {
            for (int i = 0; i < layers; i++)
            {
                _kCache[i] = context.Tensor(NativeDType.F32, capacity, c.NumKvHeads, c.HeadDim);
                _vCache[i] = context.Tensor(NativeDType.F32, capacity, c.NumKvHeads, c.HeadDim);
            }
            _h = context.Tensor(NativeDType.F32, t, c.HiddenSize);
            _x = context.Tensor(NativeDType.F32, t, c.HiddenSize);
            _q = context.Tensor(NativeDType.F32, t, c.QDim);
            _k = context.Tensor(NativeDType.F32, t, c.KvDim);
            _attn = context.Tensor(NativeDType.F32, t, c.QDim);
            _a = context.Tensor(NativeDType.F32, t, c.IntermediateSize);
            _b = context.Tensor(NativeDType.F32, t, c.IntermediateSize);
            _emb = context.Tensor(NativeDType.F32, t, weights.EmbedDim);
            _ids = context.Tensor(NativeDType.I32, t);
            _pos = context.Tensor(NativeDType.I32, t);
        }
        catch
        {
            Dispose();
            throw;
        }
        _posHost = new int[t];
    }

    /// <summary>Forgets the cached tokens (the buffers are kept).</summary>
    public void Reset() => Length = 0;

    /// <summary>
    /// Runs <paramref name="ids"/> through the model after the cached tokens and returns their
    /// logits: [T, Vocab] if <paramref name="allPositions"/>, else [1, Vocab] for the last one.
    /// The returned view is valid until the next call; dispose it when done.
    /// </summary>
    public NativeTensor Forward(ReadOnlySpan<int> ids, bool allPositions)
    {
        int T = ids.Length, p0 = Length;
        if (T == 0) throw new InvalidOptionException("ids", "a forward needs at least one token");
        if (T > MaxChunk) throw new InvalidOptionException("ids", $"{T} tokens exceed this session's chunk of {MaxChunk}");
        if (p0 + T > Capacity)
            throw new InvalidOptionException("prompt", $"{p0 + T} tokens exceed the context of {Capacity} tokens");

        var c = _w.Config;
        var info = _w.Info;
        using var rows = new RowViews(this, T);
        rows.Ids.Upload(ids);
        int offset = info.Positional == PositionalKind.Learned ? info.PositionOffset : 0;
        for (int t = 0; t < T; t++) _posHost[t] = p0 + t + offset;
        rows.Pos.Upload<int>(_posHost.AsSpan(0, T));

        // Embeddings (+ learned positions).
        if (_w.ProjectIn is null) _ctx.Embedding(_w.Embed, rows.Ids, rows.H);
        else { _ctx.Embedding(_w.Embed, rows.Ids, rows.Emb); _w.ProjectIn.Forward(_ctx, rows.Emb, rows.H); }
        if (_w.Positions is not null)
        {
            _ctx.Embedding(_w.Positions, rows.Pos, rows.X);
            _ctx.Add(rows.H, rows.X, rows.H);
        }

        bool preNorm = c.DoLayerNormBefore || info.Norm == NormKind.RmsNorm;
        int window = info.Attention == AttentionKind.GroupedQuery && c.SlidingWindow is int sw ? sw : 0;
        float scale = 1f / MathF.Sqrt(c.HeadDim);
        for (int i = 0; i < _w.Layers.Count; i++)
        {
            var layer = _w.Layers[i];
            using var kRows = _kCache[i].Rows(p0, T);                  // [T, Hkv, Dh]
            using var vRows = _vCache[i].View((long)p0 * c.KvDim, T, c.KvDim);

            // Attention block: x = norm(h); q,k,v; RoPE writes k straight into the cache.
            var attnIn = preNorm ? Norm(rows.H, layer.AttnNorm, layer.AttnNormBias, rows.X) : rows.H;
            layer.Q.Forward(_ctx, attnIn, rows.Q);
            layer.V.Forward(_ctx, attnIn, vRows);
            if (info.Positional == PositionalKind.Rope)
            {
                layer.K.Forward(_ctx, attnIn, rows.K);
                _ctx.Rope(rows.K3, rows.Pos, c.RopeTheta, kRows);
                _ctx.Rope(rows.Q3, rows.Pos, c.RopeTheta, rows.Q3);
            }
            else
            {
                using var kFlat = _kCache[i].View((long)p0 * c.KvDim, T, c.KvDim);
                layer.K.Forward(_ctx, attnIn, kFlat);
            }
            _ctx.Attention(rows.Q3, _kCache[i], _vCache[i], p0, window, scale, rows.Attn3);
            layer.O.Forward(_ctx, rows.Attn, rows.X);
            _ctx.Add(rows.H, rows.X, rows.H);
            if (!preNorm) Norm(rows.H, layer.AttnNorm, layer.AttnNormBias, rows.H);

            // MLP block.
            var mlpIn = preNorm ? Norm(rows.H, layer.MlpNorm, layer.MlpNormBias, rows.X) : rows.H;
            if (layer.Gate is not null)
            {
                layer.Gate.Forward(_ctx, mlpIn, rows.A);
                layer.Up.Forward(_ctx, mlpIn, rows.B);
                _ctx.SwiGlu(rows.A, rows.B, rows.A);
            }
            else
            {
                layer.Up.Forward(_ctx, mlpIn, rows.A);
                Activate(rows.A);
            }
            layer.Down.Forward(_ctx, rows.A, rows.X);
            _ctx.Add(rows.H, rows.X, rows.H);
            if (!preNorm) Norm(rows.H, layer.MlpNorm, layer.MlpNormBias, rows.H);
        }
        Length = p0 + T;

        // Head: final norm → (project_out) → logits, for every row or only the last.
        int first = allPositions ? 0 : T - 1, n = T - first;
        using var h = _h.Rows(first, n);
        using var x = _x.Rows(first, n);
        var normed = _w.FinalNorm is null ? h : Norm(h, _w.FinalNorm, _w.FinalNormBias, x);
        using var emb = _emb.Rows(0, n);
        if (_w.ProjectOut is not null) { _w.ProjectOut.Forward(_ctx, normed, emb); normed = emb; }
        _logits ??= _ctx.Tensor(NativeDType.F32, MaxChunk, _w.LmHead.Shape[0]);
        var logits = _logits.Rows(0, n);
        _ctx.MatMul(normed, _w.LmHead, null, logits);
        return logits;
    }

    private NativeTensor Norm(NativeTensor x, NativeTensor weight, NativeTensor? bias, NativeTensor y)
    {
        if (_w.Info.Norm == NormKind.RmsNorm) _ctx.RmsNorm(x, weight, _w.Config.NormEps, y);
        else _ctx.LayerNorm(x, weight, bias, _w.Config.NormEps, y);
        return y;
    }

    private void Activate(NativeTensor a)
    {
        switch (_w.Info.Activation)
        {
            case ActivationKind.ReLU: _ctx.Relu(a, a); break;
            case ActivationKind.SiLU: _ctx.Silu(a, a); break;
            case ActivationKind.GeLU: _ctx.Gelu(a, tanhApproximation: false, a); break;
        }
    }

    /// <summary>The first T rows of every scratch buffer, plus the [T, H, Dh] shapes attention uses.</summary>
    private sealed class RowViews : IDisposable
    {
        public readonly NativeTensor H, X, Q, K, Attn, A, B, Emb, Ids, Pos, Q3, K3, Attn3;

        public RowViews(InferenceSession s, int t)
        {
            var c = s._w.Config;
            H = s._h.Rows(0, t); X = s._x.Rows(0, t); Q = s._q.Rows(0, t); K = s._k.Rows(0, t);
            Attn = s._attn.Rows(0, t); A = s._a.Rows(0, t); B = s._b.Rows(0, t); Emb = s._emb.Rows(0, t);
            Ids = s._ids.Rows(0, t); Pos = s._pos.Rows(0, t);
            Q3 = s._q.View(0, t, c.NumHeads, c.HeadDim);
            K3 = s._k.View(0, t, c.NumKvHeads, c.HeadDim);
            Attn3 = s._attn.View(0, t, c.NumHeads, c.HeadDim);
        }

        public void Dispose()
        {
            foreach (var v in new[] { H, X, Q, K, Attn, A, B, Emb, Ids, Pos, Q3, K3, Attn3 }) v.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var t in _kCache) t?.Dispose();
        foreach (var t in _vCache) t?.Dispose();
        foreach (var t in new[] { _h, _x, _q, _k, _attn, _a, _b, _emb, _ids, _pos, _logits }) t?.Dispose();
    }
}
