#!/usr/bin/env bash
# Quantizes a model with every method/width/sparsity of the README's results table and evaluates
# each on WikiText-2 (and C4 unless --no-c4) with the CPU backend.
#   tools/results/quant-table.sh MODEL_DIR OUT_DIR [--limit W] [--nsamples N] [--no-c4]
# Prints one line per configuration: method, bits, sparsity, bits/weight, size on disk, ppl.
set -euo pipefail
MODEL="$1"; OUT="$2"; shift 2
LIMIT=""; NSAMPLES=100; C4=1
while [ $# -gt 0 ]; do
    case "$1" in
        --limit) LIMIT="--limit $2"; shift 2 ;;
        --nsamples) NSAMPLES="$2"; shift 2 ;;
        --no-c4) C4=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SQ="dotnet $ROOT/src/SqueezeNative.Cli/bin/Release/net10.0/squeeze.dll"
mkdir -p "$OUT"
ppl() { $SQ eval "$1" --dataset "$2" $LIMIT 2>/dev/null | sed -n 's/.* ppl \([0-9.]*\).*/\1/p'; }
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
    $SQ quantize "$MODEL" --method rtn --wbits $bits --out "$OUT/rtn-w$bits" --force >/dev/null 2>&1
    row "rtn w$bits" "$OUT/rtn-w$bits"
    $SQ quantize "$MODEL" --method gptq --wbits $bits --nsamples "$NSAMPLES" --out "$OUT/gptq-w$bits" --force >/dev/null 2>&1
    row "gptq w$bits" "$OUT/gptq-w$bits"
    for sp in 0 0.45; do
        $SQ quantize "$MODEL" --method squeezellm --wbits $bits --sparsity $sp --nsamples "$NSAMPLES" --out "$OUT/sq-w$bits-s$sp" --force >/dev/null 2>&1
        row "squeezellm w$bits s$sp" "$OUT/sq-w$bits-s$sp"
    done
done
