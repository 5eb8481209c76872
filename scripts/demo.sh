#!/usr/bin/env bash
# The README's main job: ResNet-20 with BN and with XBNBlock on a Fashion-MNIST
# subset, then one figure of per-layer estimation shift and test error.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)}
./bnshift run configs/demo.json --overwrite --threads "$threads"
./bnshift run configs/demo.json --overwrite --threads "$threads" \
  --set model.norm=xbnblock --set name=demo-xbnblock
scripts/plot_demo.sh runs/demo-bn runs/demo-xbnblock runs/demo.png
echo
echo "CSVs: runs/demo-bn/{metrics,shift}.csv, runs/demo-xbnblock/{metrics,shift}.csv"
echo "Figure: runs/demo.png"
