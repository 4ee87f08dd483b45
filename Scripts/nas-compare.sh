#!/usr/bin/env bash
# Compares the search strategies on Fashion-MNIST under a MAC limit (docs/nas.md, "Measured"): for each seed and
# strategy one `shrink search` with the same space, estimator, trial count and limit; the best architecture is
# retrained fully and scored on the test split. Prints one Markdown row per run, then the mean per strategy.
# Usage: Scripts/nas-compare.sh [SHRINK_BINARY] [OUT_DIR] [TRIALS] [FINAL_EPOCHS] [SEEDS…]
#        (defaults .build/release/shrink, out/nas-compare, 20, 5, seeds 1 2 3; STRATEGIES and ESTIMATOR in the
#        environment override "random evolution reinforce bayesian" and "low-fidelity"; EXTRA_ARGS adds options to
#        every search and TAG to the run names, e.g. EXTRA_ARGS="--population 5" TAG=p5; progress goes to stderr)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
out="${2:-$root/out/nas-compare}"
trials="${3:-20}"
final_epochs="${4:-5}"
shift $(( $# > 4 ? 4 : $# )) || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
strategies=(${STRATEGIES:-random evolution reinforce bayesian})
estimator="${ESTIMATOR:-low-fidelity}"
max_macs="${MAX_MACS:-1000000}"
tag="${TAG:+-$TAG}"
read -r -a extra <<< "${EXTRA_ARGS:-}"
[ -x "$shrink" ] || { echo "no shrink binary at $shrink" >&2; exit 1; }
mkdir -p "$out"
for seed in "${seeds[@]}"; do
  for strategy in "${strategies[@]}"; do
    dir="$out/$strategy$tag-$estimator-seed$seed"
    echo "search: $strategy, $estimator, seed $seed → $dir" >&2
    "$shrink" search --space mobile-cnn --data fashion-mnist --out "$dir" --strategy "$strategy" \
      --estimator "$estimator" --trials "$trials" --max-macs "$max_macs" --final-epochs "$final_epochs" \
      --seed "$seed" "${extra[@]}" --json > "$dir.json" 2> "$dir.log" || { cat "$dir.log" >&2; exit 1; }
  done
done
/usr/bin/python3 - "$out" "$estimator" "$trials" "$final_epochs" "${seeds[*]}" "${strategies[*]}" "$tag" <<'PY'
import json, sys, statistics
out, estimator, trials, final_epochs, seeds, strategies, tag = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(), sys.argv[6].split(), sys.argv[7]
strategies = [s + tag for s in strategies]
print(f"| strategy | seed | best architecture | MACs | estimate | test accuracy ({final_epochs} epochs) | search CPU s |")
print("|---|---:|---|---:|---:|---:|---:|")
summary = {}
for strategy in strategies:
    for seed in seeds:
        r = json.load(open(f"{out}/{strategy}-{estimator}-seed{seed}.json"))
        best = r["best"]
        summary.setdefault(strategy, []).append((r["final_test_accuracy"], r["search_cpu_seconds"]))
        print(f"| {strategy} | {seed} | {best['architecture']} | {best['macs']:,} | {100 * best['accuracy']:.2f}% | "
              f"{100 * r['final_test_accuracy']:.2f}% | {r['search_cpu_seconds']:.0f} |")
print()
print(f"| strategy ({trials} trials, {estimator}) | mean test accuracy | min | max | mean search CPU s |")
print("|---|---:|---:|---:|---:|")
for strategy, rows in summary.items():
    accuracies = [100 * a for a, _ in rows]
    print(f"| {strategy} | {statistics.mean(accuracies):.2f}% | {min(accuracies):.2f}% | {max(accuracies):.2f}% | "
          f"{statistics.mean(c for _, c in rows):.0f} |")
PY
