# Shared by the PyTorch comparison scripts (source it after cd to the
# repository root): Debian's python3-torch (installed when missing; the
# python3 on PATH may be another interpreter, hence /usr/bin/python3) and
# a built ./bnshift.
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get install -y --no-install-recommends python3-torch
fi
[ -x ./bnshift ] || make --no-print-directory bnshift
