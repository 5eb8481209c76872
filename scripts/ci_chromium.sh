#!/usr/bin/env bash
# Renders `bnshift report` of a tiny run in headless Chromium (Debian's
# `chromium`), at a desktop and a phone width, and fails when the page logs
# anything to the console (a script error, a blocked or broken resource) or
# asks the network for anything (the page must be one self-contained file),
# or when no screenshot comes out. First it renders a deliberately broken
# page and fails unless both detectors catch it, so that a Chromium whose
# log format changed cannot pass silently. Without chromium it skips (exit
# 0) unless CI_CHROMIUM_REQUIRED=1. Every step is time-bounded.
# Usage: scripts/ci_chromium.sh [BNSHIFT]   (default $BNSHIFT or ./bnshift)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BNSHIFT=${1:-${BNSHIFT:-./bnshift}}
CHROMIUM=${CHROMIUM:-chromium}
say() { echo "ci_chromium: $*"; }
if ! command -v "$CHROMIUM" >/dev/null 2>&1; then
  if [ "${CI_CHROMIUM_REQUIRED:-0}" = 1 ]; then
    say "FAILED: $CHROMIUM is not installed (CI_CHROMIUM_REQUIRED=1; apt-get install chromium)"
    exit 1
  fi
  say "skipped: $CHROMIUM is not installed (apt-get install chromium)"
  exit 0
fi
[ -x "$BNSHIFT" ] || { say "FAILED: no bnshift binary at $BNSHIFT"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bnshift-chromium.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# render NAME HTML WIDTH,HEIGHT: a screenshot $tmp/NAME.png, Chromium's log
# $tmp/NAME.log (console messages as lines with "CONSOLE") and its net log
# $tmp/NAME.net.json (every request). Every host name fails to resolve, so
# a page asking for one is logged, not waited for; a fresh profile and no
# background services keep Chromium's own requests out of the net log.
render() {
  rm -rf "$tmp/profile"
  timeout -k 10 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$tmp/profile" --no-first-run --disable-extensions --disable-sync \
    --disable-background-networking --disable-component-update --host-resolver-rules='MAP * ~NOTFOUND' \
    --enable-logging=stderr --v=0 --log-net-log="$tmp/$1.net.json" \
    --window-size="$3" --screenshot="$tmp/$1.png" "file://$2" >"$tmp/$1.log" 2>&1
}

# problems NAME: console lines, then the requests the page made (the net log
# has an event a line; it keys a page's requests by the page's site,
# file://, and Chromium's own by others).
problems() {
  grep -h -e 'CONSOLE' -e 'Uncaught' "$tmp/$1.log"
  grep -h '"network_isolation_key":"file:' "$tmp/$1.net.json" 2>/dev/null | grep -o '"url":"[^"]*"' |
    sort -u | sed 's/^"url":/request: /'
}

is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

# The detectors, on a page with a script error and two outside resources.
cat >"$tmp/broken.html" <<'EOF'
<!DOCTYPE html><html><head><title>broken</title><link rel="stylesheet" href="http://example.invalid/x.css"></head>
<body><p>broken on purpose</p><img src="https://example.invalid/a.png" alt="">
<script>console.error("injected console error"); no_such_function();</script></body></html>
EOF
render broken "$tmp/broken.html" 800,600
found=$(problems broken)
if ! grep -q 'no_such_function' <<<"$found" || ! grep -q 'request: "http://example.invalid/x.css"' <<<"$found"; then
  say "FAILED: the detectors missed the broken page's errors; what they found:"
  echo "${found:-(nothing)}" | sed 's/^/    /'
  say "Chromium's log:"
  sed 's/^/    /' "$tmp/broken.log" | tail -20
  exit 1
fi

# A tiny run with an eval.csv, and its report.
cat >"$tmp/tiny.json" <<'EOF'
{"name": "chromium-check", "seed": 1,
 "data": {"dataset": "synthetic", "synthetic": {"train": 128, "test": 64, "size": 12}},
 "model": {"arch": "resnet", "depth": 8, "width": 4, "norm": "bn", "groups": 2},
 "train": {"epochs": 3, "batch_size": 32, "lr": 0.05}}
EOF
for step in "run $tmp/tiny.json --out $tmp/run --threads 2 --quiet" "eval $tmp/run --recalibrate test --threads 2" \
    "report $tmp/run --out $tmp/report.html"; do
  # shellcheck disable=SC2086 # the words of step
  if ! timeout -k 10 300 "$BNSHIFT" $step >"$tmp/step.log" 2>&1; then
    say "FAILED: bnshift $step:"
    sed 's/^/    /' "$tmp/step.log"
    exit 1
  fi
done

failed=0
for size in 1280,2400 390,2400; do
  name=report-${size%,*}
  render "$name" "$tmp/report.html" "$size"
  found=$(problems "$name")
  if [ -n "$found" ]; then
    say "FAILED: the report at width ${size%,*} logged or requested:"
    echo "$found" | sed 's/^/    /'
    failed=1
  elif ! is_png "$tmp/$name.png"; then
    say "FAILED: no screenshot at width ${size%,*}; Chromium's log:"
    tail -20 "$tmp/$name.log" | sed 's/^/    /'
    failed=1
  else
    say "ok: width ${size%,*}, $(wc -c <"$tmp/$name.png") bytes of screenshot, no console message, no request"
  fi
done
exit $failed
