#!/usr/bin/env bash
# Nearest rounding, GPTQ and AdaRound side by side (docs/quantization.md, "Learned rounding"): for each trained
# model, 4-bit weights on the integer engine (w4a8, per-channel, minmax ranges) and 3-bit weight-only weights
# (per-channel, minmax), each rounding method in one explicit `shrink quantize` attempt (no search, nothing kept in
# float, no equalization or bias correction), with the test accuracy and the wall-clock seconds of the whole command
# and of building the attempt (calibration, layer statistics, rounding). Looks for fmnist-cnn and resnet8
# `.safetensors` in MODEL_DIR, trained on Fashion-MNIST; missing ones are skipped. One quantization at a time.
# Usage: Scripts/rounding-table.sh [SHRINK_BINARY] [MODEL_DIR]
#        (defaults .build/release/shrink and $SHRINK_MODEL_DIR, else out/models; progress goes to stderr)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
model_dir="${2:-${SHRINK_MODEL_DIR:-$root/out/models}}"
[ -x "$shrink" ] || { echo "no shrink binary at $shrink" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$(date -u +"%Y-%m-%dT%H:%M:%SZ")"
echo
echo "| network | weights | rounding | float test | quantized test | drop (points) | attempt s | command s |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
for arch in fmnist-cnn resnet8; do
  model="$model_dir/$arch.safetensors"
  [ -f "$model" ] || { echo "skipping $arch: no $model" >&2; continue; }
  for mode in w4a8 w3; do
    for rounding in nearest gptq adaround; do
      options=(--weight-bits 4)
      label="w4a8, per-channel"
      if [ "$mode" = w3 ]; then options=(--weight-bits 3 --weight-only); label="w3 weight-only, per-channel"; fi
      echo "$arch: $label, $rounding" >&2
      start=$(date +%s.%N)
      "$shrink" quantize "$model" --data fashion-mnist --out "$work/out.safetensors" --json "${options[@]}" \
        --observer minmax --granularity per-channel --max-float-layers 0 --equalization off --bias-correction none \
        --rounding "$rounding" > "$work/out.json" 2> "$work/err.log" || { cat "$work/err.log" >&2; exit 1; }
      end=$(date +%s.%N)
      python3 - "$work/out.json" "$arch" "$label" "$rounding" "$start" "$end" <<'PY'
import json, sys
path, arch, label, rounding, start, end = sys.argv[1:]
d = json.load(open(path))
d = d.get("details", d)
f, q = d["float_test_accuracy"], d["quantized_test_accuracy"]
print(f"| {arch} | {label} | {rounding} | {100 * f:.2f}% | {100 * q:.2f}% | {100 * (f - q):.2f} | "
      f"{d['attempts'][0]['seconds']:.1f} | {float(end) - float(start):.1f} |")
PY
    done
  done
done
