#!/usr/bin/env bash
# Times Shrink beside its peers (PyTorch, ONNX Runtime: ../shared/peers) on this machine in one sitting and
# prints the figures docs/benchmarks.md records. Needs the peers installed once: bash ../shared/peers/setup.sh.
# Usage: Scripts/compare-peers.sh [--quick]   (writes $OUT, default out/compare-peers)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/compare-peers}"
peers="${PEERS_DIR:-../shared/peers}"
mkdir -p "$out"
swift build -c release --product shrink >&2
shrink=.build/release/shrink
date -u +"%Y-%m-%dT%H:%M:%SZ" > "$out/date.txt"
lscpu | grep -E "Model name|^CPU\(s\)" > "$out/machine.txt"
model="$out/fmnist-cnn.safetensors"
[ -f "$model" ] || "$shrink" train --arch fmnist-cnn --data fashion-mnist --epochs 3 --out "$model" --json > "$out/train-t2.json"
int8="$out/fmnist-cnn.int8.safetensors"
"$shrink" quantize "$model" --data fashion-mnist --out "$int8" --json > "$out/quantize.json"
for t in 1 2; do
  "$shrink" bench --kernels --threads "$t" --json > "$out/kernels-t$t.json"
  "$shrink" bench "$model" --batch-sizes 1,256 --threads "$t" --seconds 3 --json > "$out/bench-t$t.json"
  "$shrink" bench "$int8" --batch-sizes 1,256 --threads "$t" --seconds 3 --json > "$out/bench-int8-t$t.json"
  # Training throughput: one epoch of 12,800 samples at batch 128 (the figure is train_seconds over those samples).
  "$shrink" train --arch fmnist-cnn --data fashion-mnist --epochs 1 --train-limit 12800 --test-limit 1000 \
    --threads "$t" --out "$out/throwaway.safetensors" --json > "$out/train-speed-t$t.json"
done
rm -f "$out/throwaway.safetensors"
PEERS_HOME="${PEERS_HOME:-/tmp/shrink-peers}" python3 "$peers/bench_peers.py" "$@" > "$out/peers.txt" 2>&1
cp "${PEERS_HOME:-/tmp/shrink-peers}/results.json" "$out/peers.json"
python3 Scripts/summarize-comparison.py "$out"
