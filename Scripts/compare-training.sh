#!/usr/bin/env bash
# Training speed of Shrink's built-ins beside PyTorch training the same network, in one sitting (docs/benchmarks.md,
# "Training beside PyTorch"). Each built-in is written by `shrink train` (one short epoch), exported to ONNX and
# turned into a PyTorch module by onnx2torch (Conv, BatchNormalization in training mode, the activations, the
# gates: the same layers and shapes); PyTorch then trains it with SGD + Nesterov momentum at batch 128 on 2,048
# images (median of 3 epochs after a warm-up one), and Shrink trains the built-in on 2,048 Fashion-MNIST images at
# batch 128 (`shrink train --train-limit 2048`, its samples_per_second; median of 3 runs). 1 and 2 threads.
#
#   Scripts/compare-training.sh [ARCH…]      (default: fmnist-cnn mobilenet-v3 efficientnet)
set -euo pipefail
cd "$(dirname "$0")/.."
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(fmnist-cnn mobilenet-v3 efficientnet)
source Scripts/interop-venv.sh
# onnx 1.16 with protobuf, no other dependency: newer onnx needs ml_dtypes releases built for numpy 2, and this
# venv keeps Debian's numpy 1.x for its torch.
interop_require "import onnx2torch, onnx" --no-deps onnx2torch "onnx==1.16.2" protobuf
swift build -c release --product shrink > /dev/null
shrink="$(swift build -c release --show-bin-path)/shrink"
work="${SHRINK_TRAINING_DIR:-out/training}"
mkdir -p "$work"
echo "$(date -u +"%Y-%m-%dT%H:%M:%SZ"); PyTorch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
echo "| network | threads | Shrink images/s | PyTorch images/s | Shrink ÷ PyTorch |"
echo "|---|---:|---:|---:|---:|"
for arch in "${archs[@]}"; do
  "$shrink" train --arch "$arch" --data fashion-mnist --epochs 1 --train-limit 128 --test-limit 10 \
    --out "$work/$arch.safetensors" > /dev/null 2>&1
  "$shrink" export "$work/$arch.safetensors" --out "$work/$arch.onnx" > /dev/null
  for t in 1 2; do
    ours=()
    for run in 1 2 3; do
      ours+=("$("$shrink" train --arch "$arch" --data fashion-mnist --epochs 1 --train-limit 2048 --test-limit 10 \
        --threads "$t" --out "$work/throwaway.safetensors" --json 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["samples_per_second"])')")
    done
    theirs="$("$venv/bin/python" - "$work/$arch.onnx" "$t" <<'PY'
import sys, time
import onnx, torch
from onnx2torch import convert
path, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = convert(onnx.load(path)).train()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
loss = torch.nn.CrossEntropyLoss()
x, y = torch.randn(2048, 1, 28, 28), torch.randint(0, 10, (2048,))
def epoch():
    for i in range(0, 2048, 128):
        optimizer.zero_grad()
        loss(model(x[i:i + 128]), y[i:i + 128]).backward()
        optimizer.step()
epoch()
times = []
for _ in range(3):
    start = time.perf_counter()
    epoch()
    times.append(time.perf_counter() - start)
print(2048 / sorted(times)[1])
PY
)"
    python3 - "$arch" "$t" "$theirs" "${ours[@]}" <<'PY'
import statistics, sys
arch, threads, theirs, ours = sys.argv[1], sys.argv[2], float(sys.argv[3]), statistics.median(map(float, sys.argv[4:]))
print(f"| {arch} | {threads} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}× |")
PY
  done
done
rm -f "$work/throwaway.safetensors"
