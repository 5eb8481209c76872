# Shared by the PyTorch comparison scripts (source it after cd to the
# repository root): Debian's python3-torch (installed when missing; the
# python3 on PATH may be another interpreter, hence /usr/bin/python3) and
# a built ./bnshift.
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get install -y --no-install-recommends python3-torch
fi
[ -x ./bnshift ] || make --no-print-directory bnshift

# PyTorch's CPU allocator is glibc's malloc, which maps every block over
# its mmap threshold fresh and so page-faults a training step's large
# tensors in again each step: measured here, PyTorch trained 1.3-2.2x
# faster with the threshold raised (inference unchanged). The comparison
# is against PyTorch at its best, so the PyTorch side runs with
# BENCH_TORCH_MALLOC=tuned (default): blocks up to 32 MiB come from the
# heap, which is not trimmed. BENCH_TORCH_MALLOC=glibc keeps glibc's
# defaults (the tables before 2026-12-03 "allocator" in PERFORMANCE.md).
case ${BENCH_TORCH_MALLOC:=tuned} in
  tuned) torch_env=(env MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824) ;;
  glibc) torch_env=(env) ;;
  *) echo "BENCH_TORCH_MALLOC takes tuned or glibc, got '$BENCH_TORCH_MALLOC'" >&2; exit 2 ;;
esac
# PyTorch's BLAS is the same OpenBLAS; where OpenBLAS falls back to its
# SSE3 kernels on a CPU it does not know, bnshift names better ones itself
# (cmd/startup_env.c), so PyTorch gets the kernels bnshift runs.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  blas_core=$(./bnshift --version | sed -n 's/^OpenBLAS core: //p')
  [ -z "$blas_core" ] || torch_env+=(OPENBLAS_CORETYPE="$blas_core")
fi
torch_py() { "${torch_env[@]}" /usr/bin/python3 "$@"; }
