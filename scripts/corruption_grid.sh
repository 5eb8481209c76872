#!/usr/bin/env bash
# The README's pictures of data.corruption: one Fashion-MNIST test image
# and one synthetic 32x32 RGB image, clean and at severities 1-5 (columns)
# under every corruption (rows, in `bnshift corruptions` order), as PNGs in
# docs/. Usage: scripts/corruption_grid.sh [OUT_DIR]   (default docs)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs}
BNSHIFT=${BNSHIFT:-./bnshift}
[ -x "$BNSHIFT" ] || make --no-print-directory bnshift
mkdir -p "$out"
"$BNSHIFT" corruptions --grid "$out/corruptions-fashion-mnist.png" configs/demo.json --image 0 --scale 3
"$BNSHIFT" corruptions --grid "$out/corruptions-rgb.png" configs/synthetic-smoke.json --image 3 --scale 3 \
  --set data.synthetic.size=32 --set data.synthetic.noise=0.3
