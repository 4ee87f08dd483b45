#!/usr/bin/env bash
# Interoperability check run by Scripts/test.sh: a model file written by `shrink train` opens in Python's
# `safetensors` package, and the same architecture in PyTorch (Debian's python3-torch, which Scripts/install-deps.sh
# installs) loads its tensors unchanged and reproduces Shrink's logits.
# Usage: Scripts/check-interop.sh [SHRINK_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
shrink="${1:-.build/debug/shrink}"
source Scripts/interop-venv.sh
interop_require "import safetensors, numpy" safetensors numpy
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" - "$work/data.npz" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(0)
def split(n):
    y = rng.integers(0, 4, n)
    x = rng.integers(0, 90, (n, 12, 12)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 3 * label:3 * label + 3, :] += 150
    return x, y.astype(np.int64)
xtr, ytr = split(160)
xte, yte = split(40)
np.savez_compressed(sys.argv[1], x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
PY
for arch in fmnist-cnn resnet8 mobilenet-tiny; do
  "$shrink" train --arch "$arch" --data "$work/data.npz" --epochs 2 --batch-size 16 --out "$work/$arch.safetensors" \
    --threads 1 > /dev/null 2>&1
  "$shrink" eval "$work/$arch.safetensors" --data "$work/data.npz" --save-logits "$work/$arch.npy" > /dev/null
  "$venv/bin/python" Tests/interop/check_model_file.py "$work/$arch.safetensors" "$work/$arch.npy" "$work/data.npz"
done
