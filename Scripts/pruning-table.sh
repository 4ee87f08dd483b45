#!/usr/bin/env bash
# Measures pruning on trained Fashion-MNIST models and prints the Markdown tables of docs/pruning.md: unstructured
# global magnitude at 90, 95 and 98% (one-shot without fine-tuning, beside second-order obs; iterative and gradual
# with fine-tuning) beside random scores at the same sparsity, then filter pruning of fmnist-cnn and resnet8 with
# each score, and layer pruning of resnet8. Every row is one
# `shrink prune` run; accuracy is on the 10,000 test images, file bytes as written (sparse storage for unstructured).
# Usage: [SECTIONS="unstructured filter layer"] Scripts/pruning-table.sh [SHRINK_BINARY] [MODEL_DIR]
#        (defaults .build/release/shrink and $SHRINK_MODEL_DIR, else out/models; needs fmnist-cnn.safetensors and,
#        for the resnet8 rows, resnet8.safetensors; SECTIONS picks tables; progress goes to stderr)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
model_dir="${2:-${SHRINK_MODEL_DIR:-$root/out/models}}"
[ -x "$shrink" ] || { echo "no shrink binary at $shrink" >&2; exit 1; }
[ -f "$model_dir/fmnist-cnn.safetensors" ] || { echo "no fmnist-cnn.safetensors in $model_dir" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# row ARCH CELL… -- PRUNE_OPTION…: prunes ARCH once and prints "| ARCH | CELL… | dense | pruned | drop | nonzero |
# MACs | bytes ratio |".
row() {
  local arch="$1"; shift
  local cells=()
  while [ "$1" != "--" ]; do cells+=("$1"); shift; done
  shift
  echo "$arch: shrink prune $*" >&2
  if ! "$shrink" prune "$model_dir/$arch.safetensors" --data fashion-mnist --out "$work/out.safetensors" --json "$@" \
      > "$work/out.json" 2> "$work/log"; then
    cat "$work/log" >&2
    exit 1
  fi
  /usr/bin/python3 - "$work/out.json" "$arch" "${cells[@]}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d, p = r["dense"], r["pruned"]
cells = sys.argv[2:] + [f"{100 * d['test_accuracy']:.2f}%", f"{100 * p['test_accuracy']:.2f}%",
                        f"{100 * (d['test_accuracy'] - p['test_accuracy']):.2f}",
                        f"{p['nonzero_parameters']:,} / {d['parameters']:,}", f"{p['macs']:,}",
                        f"{p['bytes'] / d['bytes']:.3f}"]
print("| " + " | ".join(cells) + " |")
PY
}

sections=" ${SECTIONS:-unstructured filter layer} "
header="| model | sparsity | schedule | score | dense test | pruned test | drop (points) | nonzero parameters | MACs | bytes ratio |"
table_header() {
  echo
  echo "$1"
  echo
  echo "$header"
  echo "|---|---:|---|---|---:|---:|---:|---:|---:|---:|"
}

if [[ "$sections" == *" unstructured "* ]]; then
  table_header "Unstructured, global scope"
  for s in 0.9 0.95 0.98; do
    row fmnist-cnn "$s" "one-shot, no fine-tuning" magnitude -- --sparsity "$s" --finetune-epochs 0
    row fmnist-cnn "$s" "one-shot, no fine-tuning" obs -- --sparsity "$s" --score obs --finetune-epochs 0
    for score in magnitude random; do
      row fmnist-cnn "$s" "iterative 5 × 1 epoch" "$score" -- --sparsity "$s" --score "$score" --schedule iterative \
        --rounds 5 --finetune-epochs 1
    done
    row fmnist-cnn "$s" "gradual, 5 epochs" magnitude -- --sparsity "$s" --schedule gradual --rounds 10 \
      --finetune-epochs 5
  done
fi
if [[ "$sections" == *" filter "* ]]; then
  table_header "Filter pruning (50% of the channels of every conv and hidden linear layer)"
  for score in magnitude taylor random; do
    row fmnist-cnn 0.5 "one-shot + 2 epochs" "$score" -- --sparsity 0.5 --structure filter --score "$score" \
      --finetune-epochs 2
  done
  if [ -f "$model_dir/resnet8.safetensors" ]; then
    for score in magnitude bn-scale random; do
      row resnet8 0.5 "one-shot + 2 epochs" "$score" -- --sparsity 0.5 --structure filter --score "$score" \
        --finetune-epochs 2
    done
  fi
fi
if [[ "$sections" == *" layer "* ]] && [ -f "$model_dir/resnet8.safetensors" ]; then
  table_header "Layer pruning (residual blocks with an identity shortcut; resnet8 has one)"
  row resnet8 1 "one-shot, no fine-tuning" magnitude -- --sparsity 0.99 --structure layer --finetune-epochs 0
  row resnet8 1 "one-shot + 1 epoch" magnitude -- --sparsity 0.99 --structure layer --finetune-epochs 1
fi
