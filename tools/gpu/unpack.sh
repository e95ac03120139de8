#!/usr/bin/env bash
# Expands a bundle made by ./build.sh gpu-bundle in place: payload.tar.xz (CLI, native sources,
# GoogleTest, data) and models/*.tar.xz. Uses xz when present, else Python's lzma module.
set -euo pipefail
B="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
extract() {  # archive destination
    if command -v xz >/dev/null; then xz -dc "$1" | tar -C "$2" -xf -
    else python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])" "$1" "$2"; fi
}
[ -d "$B/squeeze" ] || extract "$B/payload.tar.xz" "$B"
for f in "$B"/models/*.tar.xz; do
    [ -e "$f" ] || continue
    name="$(basename "$f" .tar.xz)"
    [ -d "$B/models/$name" ] || extract "$f" "$B/models"
done
chmod +x "$B/squeeze/squeeze"
echo "unpacked: $(ls "$B") ; models: $(ls -d "$B"/models/*/ 2>/dev/null | xargs -n1 basename | tr '\n' ' ')"
