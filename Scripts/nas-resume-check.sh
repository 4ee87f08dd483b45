#!/usr/bin/env bash
# Kill-and-resume check of `shrink search` on real data (docs/nas.md, "The journal"): one uninterrupted search, and
# the same search killed with SIGKILL once its journal holds KILL_AFTER trials, then run again; the two journals
# must be byte-identical.
# Usage: Scripts/nas-resume-check.sh [SHRINK_BINARY] [OUT_DIR] [TRIALS] [KILL_AFTER] [STRATEGY] [ESTIMATOR]
#        (defaults .build/release/shrink, out/nas-resume, 8, 3, evolution, low-fidelity)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
out="${2:-$root/out/nas-resume}"
trials="${3:-8}"
kill_after="${4:-3}"
strategy="${5:-evolution}"
estimator="${6:-low-fidelity}"
rm -rf "$out" && mkdir -p "$out"
args=(search --space mobile-cnn --data fashion-mnist --strategy "$strategy" --estimator "$estimator" --population 4
      --trials "$trials" --max-macs 1000000 --final-epochs 0 --seed 7)
echo "uninterrupted run" >&2
"$shrink" "${args[@]}" --out "$out/straight" > /dev/null 2> "$out/straight.log"
echo "run to be killed after $kill_after trials" >&2
"$shrink" "${args[@]}" --out "$out/killed" > /dev/null 2> "$out/killed-1.log" &
pid=$!
journal="$out/killed/journal/journal-0-of-1.jsonl"
while kill -0 "$pid" 2> /dev/null; do
  if [ -f "$journal" ] && [ "$(wc -l < "$journal")" -ge "$kill_after" ]; then kill -KILL "$pid"; break; fi
  sleep 0.2
done
wait "$pid" 2> /dev/null || true
echo "killed with $(wc -l < "$journal") trials in the journal; running the same command again" >&2
"$shrink" "${args[@]}" --out "$out/killed" > /dev/null 2> "$out/killed-2.log"
if cmp "$out/straight/journal/journal-0-of-1.jsonl" "$journal"; then
  echo "journals identical: $(wc -l < "$journal") trials, sha256 $(sha256sum < "$journal" | cut -c1-16)"
else
  echo "journals differ" >&2
  exit 1
fi
