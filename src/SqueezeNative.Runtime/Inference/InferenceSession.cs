using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// One sequence being decoded: its KV cache and the scratch buffers of the forward pass. Many
/// sessions may share one loaded model (weights are read-only); a session is used by one thread
/// at a time. Buffers are allocated up front; a decode step allocates nothing and, by default,
/// replays a graph recorded on the first step (one CUDA graph launch per token on the GPU).
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly DecoderWeights _w;
    private readonly NativeContext _ctx;
    private readonly NativeTensor[] _kCache, _vCache;  // [S, Hkv, Dh] each, activation dtype
    // Scratch for up to MaxChunk rows (T = rows of the current forward), activation dtype:
    private readonly NativeTensor _h;       // [T, Hidden]     residual stream
    private readonly NativeTensor _x;       // [T, Hidden]     normed input of a block
    private readonly NativeTensor _q;       // [T, Hq·Dh]
    private readonly NativeTensor _k, _v;   // [T, Hkv·Dh]
    private readonly NativeTensor _qkv1;    // [1, Hq·Dh + 2·Hkv·Dh]  fused q|k|v of a decode step
    private readonly NativeTensor _attn;    // [T, Hq·Dh]
    private readonly NativeTensor _a, _b;   // [T, Intermediate]
    private readonly NativeTensor _gateUp1; // [1, 2·Intermediate]    fused gate|up of a decode step
    private readonly NativeTensor _emb;     // [T, EmbedDim]   embeddings before project_in / after project_out
    private readonly NativeTensor _logits;  // F32 [T, Vocab]
    private readonly NativeTensor _ids;     // I32 [T]
    private readonly NativeTensor _pos;     // I32 [T]   absolute positions
    private readonly NativeTensor _step;    // I32 [2]   a decode step's id and position (graph inputs)
    // Stacks with no parts (LUT-quantized q|k|v, gate|up) run in prefill into _stacked and are split:
    private readonly ColumnSplit? _qkvSplit, _gateUpSplit;
    private readonly NativeTensor? _stacked; // [T, max ΣN] of those stacks, activation dtype
    private readonly int[] _hostInputs;
    private Views? _decodeViews;            // T = 1 views over _step (kept: the graph records them)
    private Views? _transient;              // views of the last prefill (freed at the next call)
    private NativeGraph? _decodeGraph;

    /// <summary>Tokens the cache can hold (prompt + generated).</summary>
    public int Capacity { get; }
    /// <summary>Largest number of tokens one forward call accepts.</summary>
    public int MaxChunk { get; }
    /// <summary>Tokens already in the cache.</summary>
    public int Length { get; private set; }
    /// <summary>Replay a recorded graph for decode steps (default); false issues every op each step.</summary>
    public bool UseGraph { get; set; } = true;
    /// <summary>Operations per decode step (kernel launches on CUDA), known after the first graph replay.</summary>
    public long? DecodeOpsPerToken => _decodeGraph?.NodeCount;

    internal InferenceSession(DecoderWeights weights, NativeContext context, int capacity, int maxChunk)
    {
        _w = weights;
        _ctx = context;
        Capacity = capacity;
        MaxChunk = Math.Min(maxChunk, capacity);
        var c = weights.Config;
        var adt = context.ActivationDType;
        int layers = weights.Layers.Count, t = MaxChunk;
        _kCache = new NativeTensor[layers];
        _vCache = new NativeTensor[layers];
        try
        {
            for (int i = 0; i < layers; i++)
            {
                _kCache[i] = context.Tensor(adt, capacity, c.NumKvHeads, c.HeadDim);
                _vCache[i] = context.Tensor(adt, capacity, c.NumKvHeads, c.HeadDim);
            }
            _h = context.Tensor(adt, t, c.HiddenSize);
            _x = context.Tensor(adt, t, c.HiddenSize);
            _q = context.Tensor(adt, t, c.QDim);
            _k = context.Tensor(adt, t, c.KvDim);
            _v = context.Tensor(adt, t, c.KvDim);
            _qkv1 = context.Tensor(adt, 1, c.QDim + 2 * c.KvDim);
            _attn = context.Tensor(adt, t, c.QDim);
            _a = context.Tensor(adt, t, c.IntermediateSize);
            _b = context.Tensor(adt, t, c.IntermediateSize);
            _gateUp1 = context.Tensor(adt, 1, 2 * c.IntermediateSize);
            _emb = context.Tensor(adt, t, weights.EmbedDim);
            _logits = context.Tensor(NativeDType.F32, t, weights.LmHead.Shape[0]);
            _ids = context.Tensor(NativeDType.I32, t);
            _pos = context.Tensor(NativeDType.I32, t);
            _step = context.Tensor(NativeDType.I32, 2);
            if (t > 1)
            {
                _qkvSplit = SplitFor(context, weights.Layers.Select(l => l.Qkv), t);
                _gateUpSplit = SplitFor(context, weights.Layers.Select(l => l.GateUp), t);
                int width = Math.Max(_qkvSplit?.Width ?? 0, _gateUpSplit?.Width ?? 0);
                if (width > 0) _stacked = context.Tensor(adt, t, width);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        _hostInputs = new int[t];
    }

    /// <summary>
    /// The split of the stacks without parts among <paramref name="stacks"/> (one per layer, all of
    /// one shape), or null when every stack has parts.
    /// </summary>
    private static ColumnSplit? SplitFor(NativeContext context, IEnumerable<FusedLinear?> stacks, int maxRows)
    {
        var unsplit = stacks.Where(f => f is { HasParts: false }).Select(f => f!).ToList();
        if (unsplit.Count == 0) return null;
        var widths = unsplit[0].Widths;
        if (unsplit.Any(f => !f.Widths.SequenceEqual(widths)))
            throw new InvalidOperationException("stacked linears of the same role differ in shape between layers");
        return new ColumnSplit(context, widths, maxRows);
    }

    /// <summary>Forgets the cached tokens (buffers and the recorded decode graph are kept).</summary>
    public void Reset() => Length = 0;

    /// <summary>
    /// Runs <paramref name="ids"/> through the model after the cached tokens and returns their
    /// logits (F32): [T, Vocab] if <paramref name="allPositions"/>, else [1, Vocab] for the last
    /// one. The returned tensor belongs to the session and is valid until the next call.
    /// </summary>
    public NativeTensor Forward(ReadOnlySpan<int> ids, bool allPositions)
    {
        lock (_ctx.ExecutionLock) return ForwardLocked(ids, allPositions);
    }

    /// <summary>
    /// Runs <paramref name="ids"/> and copies the last position's logits to
    /// <paramref name="lastLogits"/> (length Vocab), issue and copy under the context's lock, so
    /// concurrent sessions on one model never see each other's graph capture.
    /// </summary>
    public void Forward(ReadOnlySpan<int> ids, Span<float> lastLogits)
    {
        lock (_ctx.ExecutionLock) ForwardLocked(ids, allPositions: false).Download(lastLogits);
    }

    private NativeTensor ForwardLocked(ReadOnlySpan<int> ids, bool allPositions)
    {
        int T = ids.Length, p0 = Length;
        if (T == 0) throw new InvalidOptionException("ids", "a forward needs at least one token");
        if (T > MaxChunk) throw new InvalidOptionException("ids", $"{T} tokens exceed this session's chunk of {MaxChunk}");
        if (p0 + T > Capacity)
            throw new InvalidOptionException("prompt", $"{p0 + T} tokens exceed the context of {Capacity} tokens");

        NativeTensor logits;
        if (T == 1)
        {
            // Decode step: the id and position are the graph's only inputs, uploaded together.
            _hostInputs[0] = ids[0];
            _hostInputs[1] = p0;
            _step.Upload<int>(_hostInputs.AsSpan(0, 2));
            _decodeViews ??= new Views(this, 1, _step.View(0, 1), _step.View(1, 1));
            if (UseGraph)
            {
                _decodeGraph ??= _ctx.Capture(() => Emit(_decodeViews, allPositions: false));
                _decodeGraph.Launch();
            }
            else
            {
                Emit(_decodeViews, allPositions: false);
            }
            logits = _decodeViews.LastLogits;
            if (allPositions) logits = _decodeViews.AllLogits;
        }
        else
        {
            _transient?.Dispose();
            _transient = new Views(this, T, _ids.Rows(0, T), _pos.Rows(0, T));
            _transient.Ids.Upload(ids);
            for (int t = 0; t < T; t++) _hostInputs[t] = p0 + t;
            _transient.Pos.Upload<int>(_hostInputs.AsSpan(0, T));
            Emit(_transient, allPositions);
            logits = allPositions ? _transient.AllLogits : _transient.LastLogits;
        }
        Length = p0 + T;
        return logits;
    }

    /// <summary>
    /// The decoder forward over the rows of <paramref name="v"/>, as a sequence of native ops with
    /// no host-side values that change per token (so it can be recorded once and replayed).
    /// Pre-norm: h += Attn(norm(h)); h += Mlp(norm(h)). Post-norm (OPT-350m): h = norm(h + Attn(h)).
    /// </summary>
    private void Emit(Views v, bool allPositions)
    {
        var c = _w.Config;
        var info = _w.Info;
        int T = v.T;

        // Embeddings (+ learned positions: Positions already starts at the offset row).
        if (_w.ProjectIn is null) _ctx.Embedding(_w.Embed, v.Ids, v.H);
        else { _ctx.Embedding(_w.Embed, v.Ids, v.Emb); _w.ProjectIn.Forward(_ctx, v.Emb, v.H); }
        if (_w.Positions is not null)
        {
            _ctx.Embedding(_w.Positions, v.Pos, v.X);
            _ctx.Add(v.H, v.X, v.H);
        }

        bool preNorm = info.Norm == NormKind.RmsNorm || c.DoLayerNormBefore;
        int window = c.SlidingWindow ?? 0;
        float scale = 1f / MathF.Sqrt(c.HeadDim);
        // RoPE and the cache writes are one op; theta 0 rotates nothing (learned positions, OPT).
        float ropeTheta = info.Positional == PositionalKind.Rope ? c.RopeTheta : 0f;
        for (int i = 0; i < _w.Layers.Count; i++)
        {
            var layer = _w.Layers[i];

            // Attention: q, k, v (one stacked product for a single token), RoPE + cache write.
            var attnIn = preNorm ? Norm(v.H, layer.AttnNorm, layer.AttnNormBias, v.X) : v.H;
            if (T == 1) layer.Qkv.All.Forward(_ctx, attnIn, _qkv1);
            else if (!layer.Qkv.HasParts) v.QkvSplit!.Forward(_ctx, layer.Qkv.All, attnIn);
            else
            {
                layer.Qkv.Parts[0].Forward(_ctx, attnIn, v.Q);
                layer.Qkv.Parts[1].Forward(_ctx, attnIn, v.K);
                layer.Qkv.Parts[2].Forward(_ctx, attnIn, v.V);
            }
            _ctx.RopeKvWrite(v.Q3, v.K3, v.V3, v.Pos, ropeTheta, _kCache[i], _vCache[i]);
            _ctx.Attention(v.Q3, v.Pos, _kCache[i], _vCache[i], window, scale, v.Attn3);
            if (preNorm) layer.O.ForwardAdd(_ctx, v.Attn, v.H);
            else
            {
                layer.O.Forward(_ctx, v.Attn, v.X);
                _ctx.Add(v.H, v.X, v.H);
                Norm(v.H, layer.AttnNorm, layer.AttnNormBias, v.H);
            }

            // MLP: down(silu(gate) · up) or fc2(act(fc1)); the residual add fused into down/fc2.
            var mlpIn = preNorm ? Norm(v.H, layer.MlpNorm, layer.MlpNormBias, v.X) : v.H;
            if (layer.GateUp is { } gateUp)
            {
                if (T == 1)
                {
                    // A dense or LUT stack: one GEMV with SwiGLU in its epilogue; else product + swiglu.
                    if (!gateUp.TryForwardSwiGlu(_ctx, mlpIn, v.A))
                    {
                        gateUp.All.Forward(_ctx, mlpIn, _gateUp1);
                        _ctx.SwiGlu(v.Gate1!, v.Up1!, v.A);
                    }
                }
                else
                {
                    if (gateUp.HasParts)
                    {
                        gateUp.Parts[0].Forward(_ctx, mlpIn, v.A);
                        gateUp.Parts[1].Forward(_ctx, mlpIn, v.B);
                    }
                    else
                    {
                        v.GateUpSplit!.Forward(_ctx, gateUp.All, mlpIn);
                    }
                    _ctx.SwiGlu(v.A, v.B, v.A);
                }
            }
            else
            {
                layer.Fc1!.Forward(_ctx, mlpIn, v.A);
                Activate(v.A);
            }
            if (preNorm) layer.Down.ForwardAdd(_ctx, v.A, v.H);
            else
            {
                layer.Down.Forward(_ctx, v.A, v.X);
                _ctx.Add(v.H, v.X, v.H);
                Norm(v.H, layer.MlpNorm, layer.MlpNormBias, v.H);
            }
        }

        // Head: final norm → (project_out) → logits, for every row or only the last.
        var (h, x, emb, logits) = allPositions ? (v.H, v.X, v.Emb, v.AllLogits) : (v.LastH, v.LastX, v.LastEmb, v.LastLogits);
        var normed = _w.FinalNorm is null ? h : Norm(h, _w.FinalNorm, _w.FinalNormBias, x);
        if (_w.ProjectOut is not null) { _w.ProjectOut.Forward(_ctx, normed, emb); normed = emb; }
        _ctx.MatMul(normed, _w.LmHead, null, logits);
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

    /// <summary>The first T rows of every buffer, in the shapes the ops take.</summary>
    private sealed class Views : IDisposable
    {
        private readonly List<IDisposable> _all = [];
        public readonly int T;
        public readonly NativeTensor Ids, Pos, H, X, Q, K, V, Attn, A, B, Emb, Q3, K3, V3, Attn3, AllLogits;
        public readonly NativeTensor LastH, LastX, LastEmb, LastLogits;
        public readonly NativeTensor? Gate1, Up1;
        public readonly ColumnSplit.Bound? QkvSplit, GateUpSplit;   // T > 1, stacks without parts

        public Views(InferenceSession s, int t, NativeTensor ids, NativeTensor pos)
        {
            var c = s._w.Config;
            T = t;
            Ids = Keep(ids); Pos = Keep(pos);
            H = Keep(s._h.Rows(0, t)); X = Keep(s._x.Rows(0, t)); Attn = Keep(s._attn.Rows(0, t));
            A = Keep(s._a.Rows(0, t)); B = Keep(s._b.Rows(0, t)); Emb = Keep(s._emb.Rows(0, t));
            AllLogits = Keep(s._logits.Rows(0, t));
            if (t == 1)
            {
                // A decode step reads q, k, v from the fused product's contiguous column ranges.
                Q = Keep(s._qkv1.View(0, 1, c.QDim));
                K = Keep(s._qkv1.View(c.QDim, 1, c.KvDim));
                V = Keep(s._qkv1.View(c.QDim + c.KvDim, 1, c.KvDim));
                Gate1 = Keep(s._gateUp1.View(0, 1, c.IntermediateSize));
                Up1 = Keep(s._gateUp1.View(c.IntermediateSize, 1, c.IntermediateSize));
            }
            else
            {
                Q = Keep(s._q.Rows(0, t)); K = Keep(s._k.Rows(0, t)); V = Keep(s._v.Rows(0, t));
                if (s._qkvSplit is { } qkv) { QkvSplit = qkv.Bind(s._stacked!, t, [Q, K, V]); _all.Add(QkvSplit); }
                if (s._gateUpSplit is { } gateUp) { GateUpSplit = gateUp.Bind(s._stacked!, t, [A, B]); _all.Add(GateUpSplit); }
            }
            Q3 = Keep(Q.View(0, t, c.NumHeads, c.HeadDim));
            K3 = Keep(K.View(0, t, c.NumKvHeads, c.HeadDim));
            V3 = Keep(V.View(0, t, c.NumKvHeads, c.HeadDim));
            Attn3 = Keep(Attn.View(0, t, c.NumHeads, c.HeadDim));
            LastH = Keep(s._h.Rows(t - 1, 1)); LastX = Keep(s._x.Rows(t - 1, 1));
            LastEmb = Keep(s._emb.Rows(t - 1, 1)); LastLogits = Keep(s._logits.Rows(0, 1));
        }

        private NativeTensor Keep(NativeTensor t) { _all.Add(t); return t; }

        public void Dispose()
        {
            foreach (var t in _all) t.Dispose();
        }
    }

    public void Dispose()
    {
        _decodeGraph?.Dispose();
        _decodeViews?.Dispose();
        _transient?.Dispose();
        foreach (var t in _kCache) t?.Dispose();
        foreach (var t in _vCache) t?.Dispose();
        foreach (var t in new[] { _h, _x, _q, _k, _v, _qkv1, _attn, _a, _b, _gateUp1, _emb, _logits, _ids, _pos, _step, _stacked }) t?.Dispose();
        _qkvSplit?.Dispose();
        _gateUpSplit?.Dispose();
    }
}
