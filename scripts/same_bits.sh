#!/usr/bin/env bash
# same_bits.sh A B [--quick]: whether two bnshift binaries give the same
# numbers. Trains small synthetic runs (configs/synthetic-smoke.json with
# the norms and families below, both convolution backends, 2 threads) with
# each binary and compares shift.csv and metrics.csv but for its timing
# columns (scripts/same_run.sh). For a change that must keep results
# byte-identical: build the commit before in a worktree, then
#   scripts/same_bits.sh /tmp/base/build/bnshift build/bnshift
# Prints one line per run and exits 1 if any differ. About 20 s on the
# 2-core machine (--quick: the four ResNet-20 norms at width 8, ~5 s).
# SAME_BITS_BACKENDS: the convolution backends to run (default "onednn
# im2col"; --quick "onednn"; a reference build has only im2col). `make
# test` runs it with one binary twice: reruns must be bit-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/same_run.sh
. scripts/same_run.sh

if [ $# -lt 2 ]; then
    echo "usage: scripts/same_bits.sh BINARY_A BINARY_B [--quick]" >&2
    exit 2
fi
a=$1 b=$2 quick=${3:-}
for bin in "$a" "$b"; do
    [ -x "$bin" ] || { echo "same_bits.sh: $bin: not an executable" >&2; exit 2; }
done

variants=(
    "model.norm=bn"
    "model.norm=gn"
    "model.norm=xbnblock"
    "model.norm=gnbn"
)
if [ "$quick" != --quick ]; then
    variants+=(
        "model.norm=bn model.width=16"
        "model.norm=xbnblock model.width=16"
        "model.norm=ibn"
        "model.norm=none"
        "model.shortcut=identity"
        "model.block=bottleneck model.depth=11"
        "model.block=bottleneck model.depth=11 model.norm=xbnblock"
        "model.arch=resnext model.depth=11 model.cardinality=2 model.group_width=4"
    )
fi
default_backends="onednn im2col"
[ "$quick" = --quick ] && default_backends=onednn
read -r -a backends <<< "${SAME_BITS_BACKENDS:-$default_backends}"

work=$(mktemp -d "${TMPDIR:-/tmp}/same_bits.XXXXXX")
trap 'rm -rf "$work"' EXIT
differ=0 n=0
for backend in "${backends[@]}"; do
    for v in "${variants[@]}"; do
        n=$((n + 1))
        sets=()
        for kv in $v; do sets+=(--set "$kv"); done
        for side in a b; do
            bin=$a; [ $side = b ] && bin=$b
            if ! BNSHIFT_CONV=$backend BNSHIFT_SHARE_CORES=1 "$bin" run configs/synthetic-smoke.json \
                --out "$work/$n.$side" --threads 2 --quiet "${sets[@]}" >/dev/null; then
                echo "same_bits.sh: $bin failed on $backend $v" >&2
                exit 2
            fi
        done
        if same_run "$work/$n.a" "$work/$n.b"; then
            echo "same    $backend $v"
        else
            echo "DIFFER  $backend $v"
            differ=1
        fi
    done
done
exit $differ
