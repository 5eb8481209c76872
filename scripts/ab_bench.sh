#!/usr/bin/env bash
# ab_bench.sh A B ROUNDS [bench arguments]: `bnshift bench` of two binaries,
# alternated ROUNDS times (A, B, A, B, ...) so the host's slow and fast
# minutes fall on both, then the median of each figure per binary. For a
# change's before/after on this noisy machine: build the commit before in a
# worktree, then e.g.
#   scripts/ab_bench.sh /tmp/base/build/bnshift build/bnshift 5 --threads 2 --batch 128
# Nothing else may run meanwhile. Prints one line per run, then the medians
# (training ms per step: step, conv, norm, other layers; inference images/s
# without and with the ESM statistics; its other layers, ms per 1000 images).
set -euo pipefail
# shellcheck source=scripts/median.sh
. "$(dirname "$0")/median.sh"

if [ $# -lt 3 ] || ! [[ $3 =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/ab_bench.sh BINARY_A BINARY_B ROUNDS [bnshift bench arguments]" >&2
    exit 2
fi
a=$1 b=$2 rounds=$3
shift 3
for bin in "$a" "$b"; do
    [ -x "$bin" ] || { echo "ab_bench.sh: $bin: not an executable" >&2; exit 2; }
done

# One bench run as "step conv norm other inference esm inference_other".
figures() {
    "$1" bench "${@:2}" | awk '
        /^train step:/ { step = $3 }
        /^  conv .* norm .* other layers .* loss/ { conv = $2; norm = $5; other = $9 }
        /^inference:/ { inf = $2 }
        /^inference \+ ESM pass:/ { esm = $5 }
        /^  per 1000 images:/ { for (i = 1; i <= NF; i++) if ($i == "other") iother = $(i + 2) }
        END { if (step == "" || esm == "") exit 1; print step, conv, norm, other, inf, esm, iother }'
}

rows=$(mktemp "${TMPDIR:-/tmp}/ab_bench.XXXXXX")
trap 'rm -f "$rows"' EXIT
echo "run          step ms  conv  norm  other  inference img/s  + ESM img/s  inference other ms/1000"
for r in $(seq 1 "$rounds"); do
    for side in A B; do
        bin=$a; [ $side = B ] && bin=$b
        f=$(figures "$bin" "$@") || { echo "ab_bench.sh: $bin bench $*: failed or printed no figures" >&2; exit 1; }
        echo "$side $f" >> "$rows"
        echo "$side round $r   $f"
    done
done
for side in A B; do
    printf 'median %s   ' "$side"
    for col in 2 3 4 5 6 7 8; do
        printf '%s ' "$(awk -v s="$side" -v c=$col '$1 == s { print $c }' "$rows" | median)"
    done
    echo
done
echo "A = $a, B = $b"
