using SqueezeNative.Bindings.Interop;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Quantization.Sensitivity;

/// <summary>
/// Forward and backward of one window's causal-LM loss through a decoder, on the model's context.
/// <para>
/// Loss = mean over t &lt; T−1 of −log softmax(logits[t])[ids[t+1]] (the T−1 next-token
/// predictions of the window, as transformers' LlamaForCausalLM computes it with labels = ids).
/// </para>
/// <para>
/// The forward is <see cref="InferenceSession"/>'s (same ops, same <see cref="ArchitectureInfo"/>
/// traits, no KV cache: the layer's own keys and values are the cache) and keeps, per layer, what
/// the backward reads — the tape. The backward walks the layers in reverse; at every quantizable
/// linear y = x·Wᵀ it hands (dy, x) to the linear's Fisher accumulator, which adds (dyᵀ·x)², the
/// square of this window's weight gradient. Only input gradients flow further: no weight other
/// than the quantizable linears' needs one (embeddings, positions, norms and the LM head stay
/// 16-bit).
/// </para>
/// Every buffer is F32 and allocated once for windows of <see cref="T"/> tokens.
/// </summary>
internal sealed class DecoderTrainingPass : IDisposable
{
    private readonly DecoderWeights _w;
    private readonly NativeContext _ctx;
    private readonly IReadOnlyList<LayerLinears> _linears;
    private readonly List<NativeTensor> _owned = [];
    private readonly bool _preNorm, _rope;
    private readonly int _window;
    private readonly float _scale;
    private readonly SnActivation _activation;
    private readonly NativeTensor? _projectOut;   // [E, D] weight of OPT-350m's project_out

    // Inputs.
    private readonly NativeTensor _ids;           // I32 [T]
    private readonly NativeTensor _targets;       // I32 [T−1]  ids[1..T): the token each row predicts
    private readonly NativeTensor _pos;           // I32 [T]    0..T−1

    // Forward.
    private readonly NativeTensor _h;             // [T, D]   residual stream
    private readonly NativeTensor? _posEmb;       // [T, D]   learned positions of the window
    private readonly NativeTensor? _emb;          // [T, E]   embeddings before project_in / after project_out
    private readonly NativeTensor? _headNormed;   // [T, D]   final norm's output
    private readonly NativeTensor _logits;        // [T, V]
    private readonly NativeTensor _predicting;    // [T−1, V] the rows of _logits in the loss
    private readonly NativeTensor _losses;        // [T−1]
    private readonly float[] _hostLosses;         // [T−1]
    private readonly LayerTape[] _tape;

    // Backward (shared by every layer).
    private readonly NativeTensor _dH;            // [T, D]   gradient of the residual stream
    private readonly NativeTensor _dNorm;         // [T, D]   a norm's input gradient
    private readonly NativeTensor _dSubIn;        // [T, D]   gradient of a sub-block's input
    private readonly NativeTensor _dAttn, _dQ;    // [T, Hq·Dh]
    private readonly NativeTensor _dK, _dV;       // [T, Hkv·Dh]
    private readonly NativeTensor _dAttn3, _dQ3, _dK3, _dV3;   // the same as [T, H, Dh]
    private readonly NativeTensor _dAct, _dGate;  // [T, I]   gradients of down's input and of gate (or fc1's output)
    private readonly NativeTensor? _dUp;          // [T, I]   gated MLPs
    private readonly NativeTensor _dLogits;       // [T, V]   row T−1 stays 0: it predicts nothing
    private readonly NativeTensor _dPredicting;   // [T−1, V]
    private readonly NativeTensor? _dEmb;         // [T, E]   gradient of project_out's output

    /// <summary>Tokens per window.</summary>
    public int T { get; }

    /// <summary>
    /// Called with (linear, dy [T, N], x [T, K]) wherever a quantizable linear's weight gradient
    /// dyᵀ·x is available, whether or not it is being accumulated: a test and diagnostics hook.
    /// The tensors are valid only during the call.
    /// </summary>
    public Action<FisherLinear, NativeTensor, NativeTensor>? WeightGradientProbe { get; set; }

    public DecoderTrainingPass(DecoderWeights weights, IReadOnlyList<LayerLinears> linears, int tokens)
    {
        _w = weights;
        _ctx = weights.Embed.Context;
        _linears = linears;
        T = tokens;
        var c = weights.Config;
        var info = weights.Info;
        _preNorm = info.Norm == NormKind.RmsNorm || c.DoLayerNormBefore;
        _rope = info.Positional == PositionalKind.Rope;
        _window = c.SlidingWindow ?? 0;
        _scale = 1f / MathF.Sqrt(c.HeadDim);
        _activation = info.Activation switch
        {
            ActivationKind.ReLU => SnActivation.Relu,
            ActivationKind.SiLU => SnActivation.Silu,
            ActivationKind.GeLU => SnActivation.Gelu,
            _ => throw new SqueezeException($"activation {info.Activation} has no backward"),
        };
        if (weights.ProjectOut is { } projectOut)
            _projectOut = projectOut is DenseLinear dense ? dense.Weight
                : throw new SqueezeException($"project_out is a {projectOut.GetType().Name}: the Fisher pass needs a dense weight");

        int d = c.HiddenSize, qDim = c.QDim, kvDim = c.KvDim, inter = c.IntermediateSize;
        int e = weights.EmbedDim, vocab = (int)weights.LmHead.Shape[0];
        bool gated = weights.Layers.Count > 0 && weights.Layers[0].GateUp is not null;
        try
        {
            _ids = F(NativeDType.I32, T);
            _targets = Own(_ids.Rows(1, T - 1));
            _pos = F(NativeDType.I32, T);
            _pos.Upload<int>(Enumerable.Range(0, T).ToArray());

            _h = F(T, d);
            _posEmb = weights.Positions is null ? null : F(T, d);
            _emb = weights.ProjectIn is null && weights.ProjectOut is null ? null : F(T, e);
            _headNormed = weights.FinalNorm is null ? null : F(T, d);
            _logits = F(T, vocab);
            _predicting = Own(_logits.Rows(0, T - 1));
            _losses = F(T - 1);
            _hostLosses = new float[T - 1];
            _tape = new LayerTape[weights.Layers.Count];
            for (int i = 0; i < _tape.Length; i++) _tape[i] = new LayerTape(this, c, gated);

            _dH = F(T, d);
            _dNorm = F(T, d);
            _dSubIn = F(T, d);
            _dAttn = F(T, qDim);
            _dQ = F(T, qDim);
            _dK = F(T, kvDim);
            _dV = F(T, kvDim);
            _dAttn3 = Heads(_dAttn, c.NumHeads, c.HeadDim);
            _dQ3 = Heads(_dQ, c.NumHeads, c.HeadDim);
            _dK3 = Heads(_dK, c.NumKvHeads, c.HeadDim);
            _dV3 = Heads(_dV, c.NumKvHeads, c.HeadDim);
            _dAct = F(T, inter);
            _dGate = F(T, inter);
            _dUp = gated ? F(T, inter) : null;
            _dLogits = F(T, vocab);
            _dPredicting = Own(_dLogits.Rows(0, T - 1));
            _dEmb = _projectOut is null ? null : F(T, e);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Runs the forward of <paramref name="ids"/> (T tokens) and returns the window's mean loss.</summary>
    public double Forward(ReadOnlySpan<int> ids)
    {
        _ids.Upload(ids);
        var w = _w;

        // Embeddings (+ learned positions: Positions already starts at the offset row).
        if (w.ProjectIn is null) _ctx.Embedding(w.Embed, _ids, _h);
        else { _ctx.Embedding(w.Embed, _ids, _emb!); w.ProjectIn.Forward(_ctx, _emb!, _h); }
        if (w.Positions is not null)
        {
            _ctx.Embedding(w.Positions, _pos, _posEmb!);
            _ctx.Add(_h, _posEmb!, _h);
        }

        for (int i = 0; i < w.Layers.Count; i++)
        {
            var layer = w.Layers[i];
            var tape = _tape[i];

            // Attention: q, k, v, RoPE; the layer's keys and values are the whole cache.
            var attnIn = EnterSubBlock(tape.AttnNormIn, tape.AttnIn, layer.AttnNorm, layer.AttnNormBias);
            layer.Qkv.Parts[0].Forward(_ctx, attnIn, tape.Q);
            layer.Qkv.Parts[1].Forward(_ctx, attnIn, tape.K);
            layer.Qkv.Parts[2].Forward(_ctx, attnIn, tape.V);
            if (_rope)
            {
                _ctx.Rope(tape.Q3, _pos, w.Config.RopeTheta, tape.Q3);
                _ctx.Rope(tape.K3, _pos, w.Config.RopeTheta, tape.K3);
            }
            _ctx.Attention(tape.Q3, _pos, tape.K3, tape.V3, _window, _scale, tape.Attn3);
            layer.O.ForwardAdd(_ctx, tape.Attn, _h);
            LeaveSubBlock(tape.AttnNormIn, layer.AttnNorm, layer.AttnNormBias);

            // MLP: down(silu(gate) · up) or fc2(act(fc1)).
            var mlpIn = EnterSubBlock(tape.MlpNormIn, tape.MlpIn, layer.MlpNorm, layer.MlpNormBias);
            if (layer.GateUp is { } gateUp)
            {
                gateUp.Parts[0].Forward(_ctx, mlpIn, tape.Gate);
                gateUp.Parts[1].Forward(_ctx, mlpIn, tape.Up!);
                _ctx.SwiGlu(tape.Gate, tape.Up!, tape.Act);
            }
            else
            {
                layer.Fc1!.Forward(_ctx, mlpIn, tape.Gate);
                Activate(tape.Gate, tape.Act);
            }
            layer.Down.ForwardAdd(_ctx, tape.Act, _h);
            LeaveSubBlock(tape.MlpNormIn, layer.MlpNorm, layer.MlpNormBias);
        }

        // Head: final norm → (project_out) → logits → the loss of the T−1 predicting rows.
        var normed = w.FinalNorm is null ? _h : Norm(_h, w.FinalNorm, w.FinalNormBias, _headNormed!);
        if (w.ProjectOut is not null) { w.ProjectOut.Forward(_ctx, normed, _emb!); normed = _emb!; }
        _ctx.MatMul(normed, w.LmHead, null, _logits);
        _ctx.CrossEntropy(_predicting, _targets, _losses);

        _losses.Download<float>(_hostLosses);
        double sum = 0;
        foreach (var l in _hostLosses) sum += l;
        return sum / (T - 1);
    }

    /// <summary>
    /// Backpropagates the loss of the last <see cref="Forward"/> from the head down to layer
    /// <paramref name="lowestLayer"/>, feeding each quantizable linear's (dy, x) to its accumulator
    /// (when it has one) and to the probe. Layers below <paramref name="lowestLayer"/> are skipped.
    /// </summary>
    public void Backward(int lowestLayer)
    {
        var w = _w;

        // dlogits of the mean over T−1 rows; the head's input gradient lands in the stream's.
        _ctx.CrossEntropyBackward(_predicting, _targets, 1f / (T - 1), _dPredicting);
        var dNormed = w.FinalNorm is null ? _dH : _dNorm;
        _ctx.MatMulBackwardInput(_dLogits, w.LmHead, accumulate: false, _dEmb ?? dNormed);
        if (_projectOut is not null) _ctx.MatMulBackwardInput(_dEmb!, _projectOut, accumulate: false, dNormed);
        if (w.FinalNorm is not null) NormBackward(_h, w.FinalNorm, _dNorm, _dH);

        for (int i = w.Layers.Count - 1; i >= lowestLayer; i--)
        {
            var layer = w.Layers[i];
            var tape = _tape[i];
            var lin = _linears[i];

            // MLP.
            var dOut = EnterSubBlockBackward(tape.MlpNormIn, layer.MlpNorm);
            Accumulate(lin.Down, dOut, tape.Act);
            _ctx.MatMulBackwardInput(dOut, lin.Down.Weight, accumulate: false, _dAct);
            if (lin.Gate is not null)
            {
                _ctx.SwiGluBackward(tape.Gate, tape.Up!, _dAct, _dGate, _dUp!);
                Accumulate(lin.Gate, _dGate, tape.MlpIn);
                Accumulate(lin.Up!, _dUp!, tape.MlpIn);
                _ctx.MatMulBackwardInput(_dGate, lin.Gate.Weight, accumulate: false, _dSubIn);
                _ctx.MatMulBackwardInput(_dUp!, lin.Up!.Weight, accumulate: true, _dSubIn);
            }
            else
            {
                _ctx.ActivationBackward(_activation, tape.Gate, _dAct, _dGate);
                Accumulate(lin.Fc1!, _dGate, tape.MlpIn);
                _ctx.MatMulBackwardInput(_dGate, lin.Fc1!.Weight, accumulate: false, _dSubIn);
            }
            LeaveSubBlockBackward(tape.MlpNormIn, layer.MlpNorm, dOut);

            // Attention.
            dOut = EnterSubBlockBackward(tape.AttnNormIn, layer.AttnNorm);
            Accumulate(lin.O, dOut, tape.Attn);
            _ctx.MatMulBackwardInput(dOut, lin.O.Weight, accumulate: false, _dAttn);
            _ctx.AttentionBackward(tape.Q3, _pos, tape.K3, tape.V3, _window, _scale, _dAttn3, _dQ3, _dK3, _dV3);
            if (_rope)
            {
                _ctx.RopeBackward(_dQ3, _pos, w.Config.RopeTheta, _dQ3);
                _ctx.RopeBackward(_dK3, _pos, w.Config.RopeTheta, _dK3);
            }
            Accumulate(lin.Q, _dQ, tape.AttnIn);
            Accumulate(lin.K, _dK, tape.AttnIn);
            Accumulate(lin.V, _dV, tape.AttnIn);
            if (i == lowestLayer) break;   // nothing below needs the stream's gradient
            _ctx.MatMulBackwardInput(_dQ, lin.Q.Weight, accumulate: false, _dSubIn);
            _ctx.MatMulBackwardInput(_dK, lin.K.Weight, accumulate: true, _dSubIn);
            _ctx.MatMulBackwardInput(_dV, lin.V.Weight, accumulate: true, _dSubIn);
            LeaveSubBlockBackward(tape.AttnNormIn, layer.AttnNorm, dOut);
        }
    }

    // A residual sub-block (attention or MLP) with input stream h and body f:
    //   pre-norm   h ← h + f(norm(h))    tape: normIn = h,          subIn = norm(h)
    //   post-norm  h ← norm(h + f(h))    tape: normIn = h + f(h),   subIn = h
    // The body adds its output into _h (residual fused into its last linear) between Enter and Leave.

    /// <summary>Tapes the sub-block's inputs; returns the body's input.</summary>
    private NativeTensor EnterSubBlock(NativeTensor normIn, NativeTensor subIn, NativeTensor weight, NativeTensor? bias)
    {
        if (_preNorm)
        {
            _ctx.Copy(_h, normIn);
            Norm(normIn, weight, bias, subIn);
        }
        else
        {
            _ctx.Copy(_h, subIn);
        }
        return subIn;
    }

    private void LeaveSubBlock(NativeTensor normIn, NativeTensor weight, NativeTensor? bias)
    {
        if (_preNorm) return;
        _ctx.Copy(_h, normIn);
        Norm(normIn, weight, bias, _h);
    }

    // Backward, with _dH = ∂loss/∂(the sub-block's output stream) on entry and ∂loss/∂(its input)
    // after Leave; the body writes ∂loss/∂subIn into _dSubIn in between:
    //   pre-norm   dOut = dH;                      dH ← dH + normᵀ(normIn, dSubIn)
    //   post-norm  dOut = normᵀ(normIn, dH);       dH ← dOut + dSubIn

    /// <summary>Returns the gradient of the body's output.</summary>
    private NativeTensor EnterSubBlockBackward(NativeTensor normIn, NativeTensor weight)
    {
        if (_preNorm) return _dH;
        NormBackward(normIn, weight, _dH, _dNorm);
        return _dNorm;
    }

    private void LeaveSubBlockBackward(NativeTensor normIn, NativeTensor weight, NativeTensor dOut)
    {
        if (_preNorm)
        {
            NormBackward(normIn, weight, _dSubIn, _dNorm);
            _ctx.Add(_dH, _dNorm, _dH);
        }
        else
        {
            _ctx.Add(dOut, _dSubIn, _dH);
        }
    }

    private void Accumulate(FisherLinear linear, NativeTensor dy, NativeTensor x)
    {
        if (linear.Fisher is { } fisher) _ctx.FisherAccumulate(dy, x, fisher);
        WeightGradientProbe?.Invoke(linear, dy, x);
    }

    private NativeTensor Norm(NativeTensor x, NativeTensor weight, NativeTensor? bias, NativeTensor y)
    {
        if (_w.Info.Norm == NormKind.RmsNorm) _ctx.RmsNorm(x, weight, _w.Config.NormEps, y);
        else _ctx.LayerNorm(x, weight, bias, _w.Config.NormEps, y);
        return y;
    }

    private void NormBackward(NativeTensor x, NativeTensor weight, NativeTensor dy, NativeTensor dx)
    {
        if (_w.Info.Norm == NormKind.RmsNorm) _ctx.RmsNormBackward(x, weight, _w.Config.NormEps, dy, dx);
        else _ctx.LayerNormBackward(x, weight, _w.Config.NormEps, dy, dx);
    }

    private void Activate(NativeTensor x, NativeTensor y)
    {
        switch (_w.Info.Activation)
        {
            case ActivationKind.ReLU: _ctx.Relu(x, y); break;
            case ActivationKind.SiLU: _ctx.Silu(x, y); break;
            case ActivationKind.GeLU: _ctx.Gelu(x, tanhApproximation: false, y); break;
        }
    }

    private NativeTensor Own(NativeTensor t) { _owned.Add(t); return t; }
    private NativeTensor F(params long[] shape) => Own(_ctx.Tensor(NativeDType.F32, shape));
    private NativeTensor F(NativeDType dtype, params long[] shape) => Own(_ctx.Tensor(dtype, shape));
    private NativeTensor Heads(NativeTensor x, int heads, int headDim) => Own(x.View(0, T, heads, headDim));

    /// <summary>What one layer's backward reads, written by its forward. [T, ·] F32.</summary>
    private sealed class LayerTape
    {
        public readonly NativeTensor AttnNormIn, AttnIn;  // [T, D]   see EnterSubBlock
        public readonly NativeTensor Q, Attn;             // [T, Hq·Dh] q after RoPE; attention output (o's input)
        public readonly NativeTensor K, V;                // [T, Hkv·Dh] k after RoPE, v: the attention's cache
        public readonly NativeTensor Q3, K3, V3, Attn3;   // the same as [T, H, Dh]
        public readonly NativeTensor MlpNormIn, MlpIn;    // [T, D]
        public readonly NativeTensor Gate;                // [T, I]   gate's output, or fc1's before the activation
        public readonly NativeTensor? Up;                 // [T, I]   up's output (gated MLPs)
        public readonly NativeTensor Act;                 // [T, I]   down's (fc2's) input

        public LayerTape(DecoderTrainingPass p, ModelConfig c, bool gated)
        {
            int t = p.T;
            AttnNormIn = p.F(t, c.HiddenSize);
            AttnIn = p.F(t, c.HiddenSize);
            Q = p.F(t, c.QDim);
            K = p.F(t, c.KvDim);
            V = p.F(t, c.KvDim);
            Attn = p.F(t, c.QDim);
            Q3 = p.Heads(Q, c.NumHeads, c.HeadDim);
            K3 = p.Heads(K, c.NumKvHeads, c.HeadDim);
            V3 = p.Heads(V, c.NumKvHeads, c.HeadDim);
            Attn3 = p.Heads(Attn, c.NumHeads, c.HeadDim);
            MlpNormIn = p.F(t, c.HiddenSize);
            MlpIn = p.F(t, c.HiddenSize);
            Gate = p.F(t, c.IntermediateSize);
            Up = gated ? p.F(t, c.IntermediateSize) : null;
            Act = p.F(t, c.IntermediateSize);
        }
    }

    /// <summary>Bytes of the buffers the pass holds (the Fisher accumulators are not its own).</summary>
    public long BufferBytes => _owned.Where(t => !t.IsView).Sum(t => t.ByteLength);

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
