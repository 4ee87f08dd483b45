#!/usr/bin/env bash
# Measures quantization-aware training on a trained fmnist-cnn and prints the Markdown table of docs/quantization.md
# ("Multi-bit, ternary and binarized QAT"): each row is one `shrink qat` run (test accuracy of the converted model,
# of the trained fake-quantized graph, their agreement, file bytes), then one `shrink bench` of every file in the
# same sitting (1 thread; batch-1 latency and batch-256 throughput, medians). Runs one job at a time.
# Usage: Scripts/qat-table.sh [SHRINK_BINARY] [MODEL_FILE] [EPOCHS]
#        (defaults .build/release/shrink, $SHRINK_MODEL_DIR/fmnist-cnn.safetensors, 3; progress goes to stderr)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
model="${2:-${SHRINK_MODEL_DIR:-$root/out/models}/fmnist-cnn.safetensors}"
epochs="${3:-3}"
[ -x "$shrink" ] || { echo "no shrink binary at $shrink" >&2; exit 1; }
[ -f "$model" ] || { echo "no model file at $model" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each configuration: a label, then the `shrink qat` options.
configurations=(
  "w8a8|--weight-bits 8 --activation-bits 8"
  "w4a4|--weight-bits 4 --activation-bits 4"
  "w4a4 LSQ|--weight-bits 4 --activation-bits 4 --learnable-scales"
  "w3a3|--weight-bits 3 --activation-bits 3"
  "w3a3 LSQ|--weight-bits 3 --activation-bits 3 --learnable-scales"
  "w2a2|--weight-bits 2 --activation-bits 2"
  "w2a2 LSQ|--weight-bits 2 --activation-bits 2 --learnable-scales"
  "ternary, a8|--ternary"
  "ternary, a4 LSQ|--ternary --activation-bits 4 --learnable-scales"
  "binarized (first/last 8-bit)|--binary"
)
files=()
for i in "${!configurations[@]}"; do
  label="${configurations[$i]%%|*}"; options="${configurations[$i]#*|}"
  echo "shrink qat $options --epochs $epochs" >&2
  # shellcheck disable=SC2086
  "$shrink" qat "$model" --data fashion-mnist --out "$work/$i.safetensors" --epochs "$epochs" --json $options \
    > "$work/$i.json" 2> "$work/$i.log" || { cat "$work/$i.log" >&2; exit 1; }
  files+=("$work/$i.safetensors")
done
echo "shrink bench (1 thread)" >&2
"$shrink" bench "${files[@]}" --threads 1 --seconds 2 --json > "$work/bench.json"
/usr/bin/python3 - "$work" "$epochs" "${configurations[@]}" <<'PY'
import json, sys
work, epochs, configurations = sys.argv[1], sys.argv[2], sys.argv[3:]
bench = json.load(open(f"{work}/bench.json"))
def timing(path, batch):
    model = next(m for m in bench["models"] if m["path"] == path)
    return next(r for r in model["latency"] if r["batch_size"] == batch)
print(f"| QAT ({epochs} epochs) | test accuracy | trained graph | agree | bytes | batch 1 | batch 256 |")
print("|---|---:|---:|---:|---:|---:|---:|")
for i, configuration in enumerate(configurations):
    label = configuration.split("|")[0]
    report = json.load(open(f"{work}/{i}.json"))
    accuracy = report.get("integer_test_accuracy", report.get("binarized_test_accuracy"))
    trained = report.get("fake_quantized_test_accuracy", report.get("trained_test_accuracy"))
    size = report.get("quantized_bytes", report.get("binarized_bytes"))
    one, many = timing(f"{work}/{i}.safetensors", 1), timing(f"{work}/{i}.safetensors", 256)
    print(f"| {label} | {100 * accuracy:.2f}% | {100 * trained:.2f}% | {100 * report['agreement']:.2f}% | "
          f"{size:,} ({size / report['float_bytes']:.3f}×) | {one['median_ms']:.3f} ms | "
          f"{many['samples_per_second']:,.0f}/s |")
PY
