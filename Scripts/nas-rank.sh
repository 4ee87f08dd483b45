#!/usr/bin/env bash
# Weight sharing against stand-alone training (docs/nas.md, "Weight sharing"): the same random candidates under the
# MAC limit are estimated once by the weight-sharing supernet and once by full training (each trained alone); the
# script prints both costs in CPU seconds, their ratio, and the Kendall rank correlation between the two estimates.
# Random search proposes the same candidates for the same seed whatever the estimator, which pairs the trials.
# Usage: Scripts/nas-rank.sh [SHRINK_BINARY] [OUT_DIR] [TRIALS] [SEED] [FULL_EPOCHS]
#        (defaults .build/release/shrink, out/nas-rank, 20, 1, 3; progress goes to stderr)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
out="${2:-$root/out/nas-rank}"
trials="${3:-20}"
seed="${4:-1}"
full_epochs="${5:-3}"
[ -x "$shrink" ] || { echo "no shrink binary at $shrink" >&2; exit 1; }
mkdir -p "$out"
for estimator in weight-sharing full; do
  epochs=()
  [ "$estimator" = full ] && epochs=(--epochs "$full_epochs")
  echo "search: random, $estimator, $trials trials, seed $seed" >&2
  "$shrink" search --space mobile-cnn --data fashion-mnist --out "$out/$estimator" --strategy random \
    --estimator "$estimator" "${epochs[@]}" --trials "$trials" --max-macs "${MAX_MACS:-1000000}" --final-epochs 0 \
    --seed "$seed" --json > "$out/$estimator.json" 2> "$out/$estimator.log" || { cat "$out/$estimator.log" >&2; exit 1; }
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def load(name):
    trials = [json.loads(l) for l in open(f"{out}/{name}/journal/journal-0-of-1.jsonl")]
    timing = [json.loads(l) for l in open(f"{out}/{name}/journal/timing-0-of-1.jsonl")]
    return {t["index"]: t for t in trials}, sum(t["cpu_seconds"] for t in timing)
shared, shared_cpu = load("weight-sharing")
full, full_cpu = load("full")
pairs = [(shared[i]["accuracy"], full[i]["accuracy"]) for i in sorted(shared) if i in full]
assert all(shared[i]["candidate"] == full[i]["candidate"] for i in sorted(shared) if i in full), "trials differ"
concordant = discordant = 0
for a in range(len(pairs)):
    for b in range(a + 1, len(pairs)):
        s = (pairs[a][0] - pairs[b][0]) * (pairs[a][1] - pairs[b][1])
        concordant += s > 0
        discordant += s < 0
n = len(pairs)
tau = (concordant - discordant) / (n * (n - 1) / 2)
print(f"| candidates | weight-sharing CPU s | full training CPU s | cost ratio | Kendall τ |")
print(f"|---:|---:|---:|---:|---:|")
print(f"| {n} | {shared_cpu:.0f} | {full_cpu:.0f} | {full_cpu / shared_cpu:.1f}× | {tau:.3f} |")
print()
print("| trial | architecture | MACs | supernet estimate | stand-alone |")
print("|---:|---|---:|---:|---:|")
for i in sorted(shared):
    if i in full:
        print(f"| {i} | {shared[i]['architecture']} | {shared[i]['macs']:,} | {100 * shared[i]['accuracy']:.2f}% | {100 * full[i]['accuracy']:.2f}% |")
PY
