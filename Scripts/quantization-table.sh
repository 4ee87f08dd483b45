#!/usr/bin/env bash
# Measures post-training quantization on trained models and prints the Markdown tables of docs/quantization.md:
# the integer engine (int8 weights, uint8 activations) for every observer × granularity, then weight-only
# quantization at 8, 4, 3 and 2 bits. Each row is one `shrink quantize` attempt (`--max-float-layers 0`, explicit
# observer and granularity, no equalization, bias correction or learned rounding: no retry). Looks for fmnist-cnn, mlp, lenet5 and resnet8 `.safetensors` in MODEL_DIR,
# trained on Fashion-MNIST; missing ones are skipped. Runs one quantization at a time.
# Usage: Scripts/quantization-table.sh [SHRINK_BINARY] [MODEL_DIR]
#        (defaults .build/release/shrink and $SHRINK_MODEL_DIR, else out/models; progress goes to stderr)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
model_dir="${2:-${SHRINK_MODEL_DIR:-$root/out/models}}"
[ -x "$shrink" ] || { echo "no shrink binary at $shrink" >&2; exit 1; }
architectures=()
for arch in fmnist-cnn mlp lenet5 resnet8; do
  if [ -f "$model_dir/$arch.safetensors" ]; then architectures+=("$arch"); fi
done
[ ${#architectures[@]} -gt 0 ] || { echo "no fmnist-cnn, mlp, lenet5 or resnet8 .safetensors in $model_dir" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# row ARCH CELL… -- QUANTIZE_OPTION…: quantizes ARCH once with the options and prints the Markdown row
# "| ARCH | CELL… | float test | quantized test | drop | bytes ratio |".
row() {
  local arch="$1"; shift
  local cells=()
  while [ "$1" != "--" ]; do cells+=("$1"); shift; done
  shift
  echo "$arch: shrink quantize $*" >&2
  if ! "$shrink" quantize "$model_dir/$arch.safetensors" --data fashion-mnist --out "$work/out.safetensors" \
      --max-float-layers 0 --equalization off --bias-correction none --rounding nearest --json "$@" > "$work/out.json" 2> "$work/log"; then
    cat "$work/log" >&2
    exit 1
  fi
  /usr/bin/python3 - "$work/out.json" "$arch" "${cells[@]}" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
floating, quantized = 100 * report["float_test_accuracy"], 100 * report["quantized_test_accuracy"]
ratio = report["quantized_bytes"] / report["float_bytes"]
cells = sys.argv[2:] + [f"{floating:.2f}%", f"{quantized:.2f}%", f"{floating - quantized:.2f}", f"{ratio:.3f}"]
print("| " + " | ".join(cells) + " |")
PY
}

echo "Integer engine: int8 weights, uint8 activations"
echo
echo "| architecture | observer | granularity | float test | int8 test | drop (points) | bytes ratio |"
echo "|---|---|---|---:|---:|---:|---:|"
for arch in "${architectures[@]}"; do
  for observer in minmax moving-average percentile mse entropy; do
    for granularity in per-channel per-tensor; do
      row "$arch" "$observer" "$granularity" -- --observer "$observer" --granularity "$granularity"
    done
  done
done

echo
echo "Weight-only: weights stored in B bits, dequantized at load, float engine"
echo
echo "| architecture | weight bits | observer | granularity | float test | quantized test | drop (points) | bytes ratio |"
echo "|---|---:|---|---|---:|---:|---:|---:|"
for arch in "${architectures[@]}"; do
  for setting in 8:mse 4:mse 4:minmax 3:mse 2:mse; do
    bits="${setting%%:*}" observer="${setting#*:}"
    row "$arch" "$bits" "$observer" per-channel -- \
      --weight-only --weight-bits "$bits" --observer "$observer" --granularity per-channel
  done
done
