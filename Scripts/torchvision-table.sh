#!/usr/bin/env bash
# The torchvision table of docs/onnx.md: each torchvision classification network (random weights, seed 0) exported
# by torch.onnx.export (opset 13, dynamic batch), imported by `shrink import`, and then — for those that import —
# Shrink's logits against PyTorch's, the float re-export run in ONNX Runtime against Shrink, 50% filter pruning
# (no fine-tuning), int8 quantization (minmax, per-channel, nothing kept in float) and its QDQ export run in ONNX
# Runtime. Prints one Markdown row per network; logs and files go to $work (default out/torchvision).
#
#   Scripts/torchvision-table.sh [NETWORK…]     (default: the list below)
set -uo pipefail
cd "$(dirname "$0")/.."
source Scripts/interop-venv.sh
ort_require "import onnx, onnxruntime" "numpy<2" onnx onnxruntime
/usr/bin/python3 -c "import torch, torchvision" || { echo "torchvision-table: needs python3-torch and python3-torchvision (Scripts/install-deps.sh --with-test-tools)" >&2; exit 1; }
swift build -c release --product shrink > /dev/null || exit 1
shrink="$(swift build -c release --show-bin-path)/shrink"
work="${SHRINK_TABLE_DIR:-out/torchvision}"
mkdir -p "$work"
networks=("$@")
if [ ${#networks[@]} -eq 0 ]; then
  networks=(alexnet vgg11_bn resnet18 resnet50 resnext50_32x4d wide_resnet50_2 googlenet inception_v3 densenet121
            squeezenet1_0 squeezenet1_1 mobilenet_v2 mobilenet_v3_small mobilenet_v3_large mnasnet0_5
            shufflenet_v2_x0_5 efficientnet_b0 efficientnet_v2_s regnet_x_400mf regnet_y_400mf convnext_tiny swin_t
            vit_b_16)
fi

# The first line of a command's error output, for the table (pipes and newlines removed).
reason() { grep -v '^$' "$1" | sed -e 's/^Error: //' -e 's/|/\\|/g' | head -1 | cut -c1-160; }

echo "| network | imported | Shrink vs PyTorch | float re-export in ONNX Runtime vs Shrink | 50% filter pruning | int8 (nodes in float) | QDQ export runs in ONNX Runtime |"
echo "| --- | --- | ---: | ---: | --- | --- | --- |"
for net in "${networks[@]}"; do
  size=224
  [ "$net" = inception_v3 ] && size=299
  base="$work/$net"
  if ! /usr/bin/python3 Tests/interop/check_onnx.py torchvision-data "$net" "$base.onnx" "$base.npy" "$base.npz" "$size" 16 \
      > "$base.export.log" 2>&1; then
    echo "| $net | not exported by torch.onnx.export | | | | | |"
    continue
  fi
  if ! "$shrink" import "$base.onnx" --out "$base.safetensors" --mean 0 --std 1 > /dev/null 2> "$base.import.log"; then
    echo "| $net | no: $(reason "$base.import.log") | | | | | |"
    rm -f "$base.onnx"
    continue
  fi
  "$shrink" eval "$base.safetensors" --data "$base.npz?classes=1000" --save-logits "$base-shrink.npy" > /dev/null 2> "$base.eval.log"
  error="$("$ortvenv/bin/python" Tests/interop/check_onnx.py relative "$base.npy" "$base-shrink.npy" | sed -E 's/.*max error ([^ ]+) .*/\1/')"
  back="failed"
  if "$shrink" export "$base.safetensors" --out "$base-back.onnx" > /dev/null 2> "$base.reexport.log"; then
    back="$("$ortvenv/bin/python" Tests/interop/check_onnx.py ort-relative "$base-back.onnx" "$base-shrink.npy" "$base.npz" 2>&1 | tail -1)"
  else
    back="no: $(reason "$base.reexport.log")"
  fi
  if "$shrink" prune "$base.safetensors" --data "$base.npz?classes=1000" --structure filter --sparsity 0.5 --finetune-epochs 0 \
      --validation-samples 4 --out "$base-pruned.safetensors" > "$base.prune.log" 2>&1; then
    prune="yes: $(grep -o 'MACs [0-9,]* → [0-9,]*' "$base.prune.log" | head -1)"
  else
    prune="no: $(reason "$base.prune.log")"
  fi
  qdq=""
  if "$shrink" quantize "$base.safetensors" --data "$base.npz?classes=1000" --observer minmax --granularity per-channel \
      --max-float-layers 0 --calibration-samples 8 --validation-samples 8 --json \
      --out "$base-int8.safetensors" > "$base.quantize.json" 2> "$base.quantize.log"; then
    floats="$("$ortvenv/bin/python" -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d.get('float_nodes', [])))" "$base.quantize.json")"
    int8="yes ($floats)"
    if "$shrink" export "$base-int8.safetensors" --out "$base-int8.onnx" > /dev/null 2> "$base.qdq.log"; then
      "$shrink" eval "$base-int8.safetensors" --data "$base.npz?classes=1000" --save-logits "$base-int8.npy" > /dev/null 2>&1
      if qerror="$("$ortvenv/bin/python" Tests/interop/check_onnx.py ort-relative "$base-int8.onnx" "$base-int8.npy" "$base.npz" 2> "$base.qdq-ort.log")"; then
        qdq="yes ($qerror)"
      else
        qdq="no: $(reason "$base.qdq-ort.log")"
      fi
    else
      qdq="no: $(reason "$base.qdq.log")"
    fi
  else
    int8="no: $(reason "$base.quantize.log")"
  fi
  echo "| $net | yes | $error | $back | $prune | $int8 | $qdq |"
  rm -f "$base.onnx" "$base-back.onnx" "$base-int8.onnx"
done
