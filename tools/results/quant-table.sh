#!/usr/bin/env bash
# Quantizes a model with every method/width/sparsity of the README's results table and evaluates
# each on WikiText-2 (and C4 unless --no-c4) with the CPU backend.
#   tools/results/quant-table.sh MODEL_DIR OUT_DIR [--limit W] [--nsamples N] [--no-c4] [--device cpu|cuda]
# Prints one line per configuration: method, bits, sparsity, bits/weight, size on disk, ppl.
# Quantization always runs on the CPU; --device picks where the evaluations run. SQUEEZE names the
# CLI to call (default: the Release build of this checkout through dotnet; the GPU bundle sets it to
# its self-contained binary). Each quantization's log, with its per-stage timings, is kept in OUT_DIR.
set -euo pipefail
MODEL="$1"; OUT="$2"; shift 2
LIMIT=""; NSAMPLES=100; C4=1; DEVICE=cpu
while [ $# -gt 0 ]; do
    case "$1" in
        --limit) LIMIT="--limit $2"; shift 2 ;;
        --nsamples) NSAMPLES="$2"; shift 2 ;;
        --no-c4) C4=0; shift ;;
        --device) DEVICE="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SQ="${SQUEEZE:-dotnet $ROOT/src/SqueezeNative.Cli/bin/Release/net10.0/squeeze.dll}"
mkdir -p "$OUT"
ppl() { $SQ eval "$1" --dataset "$2" --device "$DEVICE" $LIMIT 2>>"$OUT/eval.log" | sed -n 's/.* ppl \([0-9.]*\).*/\1/p'; }
quant() {  # folder-name quantize-options...  (log with per-stage timings in OUT/folder-name.log)
    local name="$1"; shift
    $SQ quantize "$MODEL" "$@" --out "$OUT/$name" --force > "$OUT/$name.log" 2>&1 \
        || { echo "quantize $name failed; see $OUT/$name.log" >&2; tail -5 "$OUT/$name.log" >&2; exit 1; }
}
row() {  # name folder
    local w c4="-" bpw="16" size
    w=$(ppl "$2" wikitext2); [ "$C4" = 1 ] && c4=$(ppl "$2" c4)
    [ -f "$2/quant_config.json" ] && bpw=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d.get('average_bits_per_weight', d.get('averageBitsPerWeight', 0)), 3))" "$2/quant_config.json" 2>/dev/null || echo "?")
    size=$(du -sb --exclude='tokenizer*' "$2" | cut -f1)
    printf '%-28s %8s %10s %10s %10s\n' "$1" "$bpw" "$((size / 1000))kB" "$w" "$c4" | tee -a "$OUT/table.txt"
}
printf '%-28s %8s %10s %10s %10s\n' config bits/w size wikitext2 c4 | tee "$OUT/table.txt"
row fp16 "$MODEL"
for bits in 4 3; do
    quant "rtn-w$bits" --method rtn --wbits $bits
    row "rtn w$bits" "$OUT/rtn-w$bits"
    quant "gptq-w$bits" --method gptq --wbits $bits --nsamples "$NSAMPLES"
    row "gptq w$bits" "$OUT/gptq-w$bits"
    for sp in 0 0.45; do
        quant "sq-w$bits-s$sp" --method squeezellm --wbits $bits --sparsity $sp --nsamples "$NSAMPLES"
        row "squeezellm w$bits s$sp" "$OUT/sq-w$bits-s$sp"
    done
done
