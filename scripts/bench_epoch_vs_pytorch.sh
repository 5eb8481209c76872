#!/usr/bin/env bash
# Whole epochs of `bnshift run` against the same work in a PyTorch loop with
# forward hooks (scripts/reference/epoch_torch.py, Debian's python3-torch),
# same config, threads, epochs, data, batch size, sample counts and passes,
# one side after the other: seconds per epoch for training alone and for the
# whole epoch, images/s both ways, and the ratio bnshift/PyTorch.
#
# What one epoch is (lib/run/runner.c run_epoch, lib/train/trainer.c,
# lib/train/evaluate.c; on configs/demo.json: S = 4000, 2000 per evaluation
# set, batch 32):
#   training   floor(|S|/B) SGD steps on augmented batches of S (4000 images);
#   evaluation per set of log.eval_sets (train: S, test: S', each cut to
#              data.eval_subset): an inference pass that also accumulates every
#              BN input's exact statistics, the "bstat" pass (the same samples
#              in training mode, running statistics untouched) and the
#              per-layer ESM (2 x 2 x 2000 = 8000 images).
# Timing, per epoch:
#   bnshift  metrics.csv: `seconds` (training + evaluation, without the CSV
#            and checkpoint writes) and `images_per_s` (training images /
#            training seconds), so training s = training images / images_per_s
#            and evaluation s = seconds - training s. Start-up, data loading
#            and checkpoints fall outside both.
#   PyTorch  time.perf_counter around the same two parts (after data loading
#            and model building); ESM computed, not written.
# Epoch 1 is warm-up on both sides (oneDNN primitives, allocations): with
# --epochs 2 or more the figures are the mean over epochs 2..E, else epoch 1.
# --repeat R runs both sides R times, alternating, and keeps for each side the
# round with the fewest whole-epoch seconds (its training/evaluation split as
# measured). The two sides draw different subsets and augmentations (bnshift's
# RNG vs torch's): the same sizes and sources, not the same images; the script
# checks that both processed the same number of images in every part.
# Writes into --out: run/ (bnshift's last run), torch.log, rounds.dat (every
# epoch of every round), epoch_bench.dat (the kept figures) and
# epoch_bench.png (seconds per epoch, training and evaluation stacked).
# Usage: scripts/bench_epoch_vs_pytorch.sh [--threads N] [--epochs E] [--repeat R]
#          [--out DIR] [--config CONFIG.json] [--set key.path=value]...
#   --set goes to bnshift run; the PyTorch side reads bnshift's
#   config.resolved.json, so it follows (and refuses keys it cannot replicate).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc) epochs=2 repeat=1 out=/tmp/bnshift-epoch-bench config=configs/demo.json
sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift ;;
    --epochs) epochs=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --out) out=$2; shift ;;
    --config) config=$2; shift ;;
    --set) sets+=(--set "$2"); shift ;;
    *) echo "bench_epoch_vs_pytorch.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
. scripts/bench_common.sh
mkdir -p "$out"
rounds=$out/rounds.dat dat=$out/epoch_bench.dat
echo "# side round epoch train_s epoch_s train_images eval_images" >"$rounds"

# bnshift's images per epoch from its resolved config, by the rules of
# cmd/setup.c (S, eval_subset) and lib/train/evaluate.c (batches of
# train.batch_size; bstat skips a last batch under 2 samples):
# "train_images eval_images_on_an_evaluated_epoch eval_every".
bnshift_counts() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
d, t, log = c["data"], c["train"], c["log"]
B = t["batch_size"]
split = {"train": 60000, "test": 10000}  # the IDX splits of (Fashion-)MNIST
n_train = d["train_subset"] or split["train"]
ev = 0
for name in log["eval_sets"]:
    n = n_train if name == "train" else split["test"]
    n = d["eval_subset"] if 0 < d["eval_subset"] < n else n
    ev += n + (n - (1 if n % B == 1 else 0))  # inference + bstat
print(n_train // B * B, ev, log["eval_every"])
PY
}

for r in $(seq "$repeat"); do
  [ "$repeat" = 1 ] || echo "== round $r of $repeat"
  echo "bnshift run ${config} (--threads $threads, --epochs $epochs${sets[*]+ ${sets[*]}})"
  ./bnshift run "$config" --out "$out/run" --overwrite --quiet --threads "$threads" \
    --set train.epochs="$epochs" ${sets[@]+"${sets[@]}"}
  read -r n_train n_eval eval_every < <(bnshift_counts "$out/run/config.resolved.json")
  awk -F, -v r="$r" -v nt="$n_train" -v ne="$n_eval" -v every="$eval_every" -v E="$epochs" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { e = $col["epoch"]; ts = nt / $col["images_per_s"]
      printf "bnshift %d %d %.4f %.4f %d %d\n", r, e, ts, $col["seconds"], nt, (e % every == 0 || e == E) ? ne : 0 }' \
    "$out/run/metrics.csv" | tee -a "$rounds"
  torch_py scripts/reference/epoch_torch.py --config "$out/run/config.resolved.json" \
    --threads "$threads" | tee "$out/torch.log"
  awk -v r="$r" '$1 == "torch" && $2 == "epoch" {
      for (i = 4; i < NF; i += 2) v[$i] = $(i + 1)
      printf "pytorch %d %d %s %s %s %s\n", r, $3, v["train_s"], v["epoch_s"], v["train_images"], v["eval_images"] }' \
    "$out/torch.log" | tee -a "$rounds"
done

# Same images in every part of every epoch on both sides, or no comparison.
awk '!/^#/ { k = $2 " " $3; n = $6 " " $7
  if ($1 == "bnshift") b[k] = n; else p[k] = n }
  END { for (k in b) if (b[k] != p[k]) { printf "bench_epoch_vs_pytorch.sh: round/epoch %s: bnshift processed %s " \
          "(training, evaluation) images, PyTorch %s\n", k, b[k], p[k] > "/dev/stderr"; bad = 1 }
        exit bad }' "$rounds"

# Per side: the round with the fewest whole-epoch seconds over the timed
# epochs (2..E, or 1), as per-epoch means.
first=$([ "$epochs" -ge 2 ] && echo 2 || echo 1)
awk -v first="$first" '!/^#/ && $3 >= first {
    k = $1 " " $2; tr[k] += $4; ep[k] += $5; ni[k] += $6; ne[k] += $7; ne_[k]++ ; side[k] = $1 }
  END { for (k in ep) { s = side[k]; if (!(s in best) || ep[k] < ep[best[s]]) best[s] = k }
    print "# side train_s eval_s epoch_s train_images_per_s epoch_images_per_s train_images eval_images (per epoch)"
    split("bnshift pytorch", order, " ")
    for (i = 1; i <= 2; i++) { k = best[order[i]]; n = ne_[k]
      printf "%s %.4f %.4f %.4f %.1f %.1f %d %d\n", (i == 1 ? "bnshift" : "PyTorch"), tr[k] / n, (ep[k] - tr[k]) / n,
        ep[k] / n, ni[k] / tr[k], (ni[k] + ne[k]) / ep[k], ni[k] / n, ne[k] / n } }' "$rounds" >"$dat"

read -r _ b_tr b_ev b_ep b_tri b_epi n_tr n_ev < <(sed -n 2p "$dat")
read -r _ t_tr t_ev t_ep t_tri t_epi _ _ < <(sed -n 3p "$dat")
torch_version=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')
case $epochs in
  1) what="epoch 1" ;;
  2) what="epoch 2 (epoch 1: warm-up)" ;;
  *) what="mean of epochs 2..$epochs" ;;
esac
echo
echo "bnshift vs PyTorch $torch_version, $config${sets[*]+ ${sets[*]}}, $threads thread(s), PyTorch malloc $BENCH_TORCH_MALLOC, $what$([ "$repeat" = 1 ] ||
  echo ", best of $repeat alternating rounds"), $(date -u +%F)"
echo "per epoch: $n_tr training images, $n_ev evaluation images (inference with BN-input statistics + bstat, every eval set)"
line() { awk -v l="$1" -v a="$2" -v b="$3" -v r="$4" -v f="$5" 'BEGIN { printf "%-28s " f " " f " %8.2f\n", l, a, b, r }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
printf '%-28s %10s %10s %8s\n' "" bnshift pytorch ratio
line "training s/epoch" "$b_tr" "$t_tr" "$(ratio "$t_tr" "$b_tr")" %10.3f
line "evaluation s/epoch" "$b_ev" "$t_ev" "$(ratio "$t_ev" "$b_ev")" %10.3f
line "whole epoch s/epoch" "$b_ep" "$t_ep" "$(ratio "$t_ep" "$b_ep")" %10.3f
line "training images/s" "$b_tri" "$t_tri" "$(ratio "$b_tri" "$t_tri")" %10.1f
line "whole-epoch images/s (*)" "$b_epi" "$t_epi" "$(ratio "$b_epi" "$t_epi")" %10.1f
echo "ratio: bnshift/PyTorch in images/s (PyTorch seconds / bnshift seconds); above 1 = bnshift faster."
echo "(*) training + evaluation images over the epoch's seconds."

gnuplot <<GP
set terminal pngcairo size 800,560 font "sans,10"
set output "$out/epoch_bench.png"
set title "Seconds per epoch, bnshift vs PyTorch $torch_version: ResNet-20 BN, $(basename "$config" .json)\n$threads thread(s), PyTorch malloc $BENCH_TORCH_MALLOC, $what$([ "$repeat" = 1 ] || echo ", best of $repeat")" noenhanced
set ylabel "seconds per epoch"
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.5
set key inside left top
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.25, 0
plot "$dat" using 2:xtic(1) title "training ($n_tr images)", \
     "" using 3 title "evaluation ($n_ev images)", \
     "" using 0:4:(sprintf("%.2f s", \$4)) with labels offset 0,0.8 notitle
GP
echo "wrote $dat, $rounds, $out/epoch_bench.png"
