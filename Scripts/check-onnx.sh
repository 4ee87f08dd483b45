#!/usr/bin/env bash
# ONNX cross-check run by Scripts/test.sh, with real clients installed from PyPI into their own venv (onnx,
# onnxruntime; Scripts/interop-venv.sh): for three trained architectures, `shrink export` files pass onnx.checker and ONNX Runtime reproduces
# Shrink's logits (max abs difference <= 1e-4); `shrink import` of the export gives the same logits again; and
# networks built in PyTorch (Debian's python3-torch, which Scripts/install-deps.sh installs) and exported with
# torch.onnx.export import and reproduce PyTorch's logits, and the export of the one with the mobile families'
# activations runs in ONNX Runtime. Where the Fashion-MNIST package is installed: a small
# model trained on it, quantized to int8 and exported in the QDQ format runs on ONNX Runtime's int8 kernels and agrees
# with Shrink's integer engine on at least 99.5% of the 10,000 test images; a cross-layer-equalized, bias-corrected
# mobilenet-tiny (its ReLU6s become per-channel clamps) agrees as well as the same network without equalization.
# Usage: Scripts/check-onnx.sh [SHRINK_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
shrink="${1:-.build/debug/shrink}"
source Scripts/interop-venv.sh
ort_require "import onnx, onnxruntime" "numpy<2" onnx onnxruntime
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$ortvenv/bin/python" - "$work/data.npz" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(1)
def split(n):
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 90, (n, 12, 12)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, :, 4 * label:4 * label + 4] += 150
    return x, y.astype(np.int64)
xtr, ytr = split(120)
xte, yte = split(60)
np.savez_compressed(sys.argv[1], x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
PY
for arch in fmnist-cnn resnet8 mobilenet-tiny; do
  "$shrink" train --arch "$arch" --data "$work/data.npz" --epochs 2 --batch-size 16 --out "$work/$arch.safetensors" \
    --threads 1 > /dev/null 2>&1
  "$shrink" eval "$work/$arch.safetensors" --data "$work/data.npz" --save-logits "$work/$arch.npy" > /dev/null
  "$shrink" export "$work/$arch.safetensors" --out "$work/$arch.onnx" > /dev/null
  "$ortvenv/bin/python" Tests/interop/check_onnx.py export "$work/$arch.onnx" "$work/$arch.npy" "$work/data.npz"
  "$shrink" import "$work/$arch.onnx" --out "$work/$arch-back.safetensors" > /dev/null
  "$shrink" eval "$work/$arch-back.safetensors" --data "$work/data.npz" --save-logits "$work/$arch-back.npy" > /dev/null
  "$ortvenv/bin/python" Tests/interop/check_onnx.py compare "$work/$arch.npy" "$work/$arch-back.npy"
done
# PyTorch is Debian's python3-torch with the Debian numpy it was built for (/usr/bin/python3); ONNX Runtime runs in
# its own venv (Scripts/interop-venv.sh).
/usr/bin/python3 Tests/interop/check_onnx.py torch-export "$work/torch.onnx" "$work/torch.npy" "$work/data.npz"
"$shrink" import "$work/torch.onnx" --out "$work/torch.safetensors" --mean 0 --std 1 > /dev/null
"$shrink" eval "$work/torch.safetensors" --data "$work/data.npz" --save-logits "$work/torch-shrink.npy" > /dev/null
"$ortvenv/bin/python" Tests/interop/check_onnx.py compare "$work/torch.npy" "$work/torch-shrink.npy"
# The mobile families' activations: PyTorch → ONNX → Shrink reproduces PyTorch, and Shrink's export runs in ONNX Runtime.
/usr/bin/python3 Tests/interop/check_onnx.py torch-activations "$work/act.onnx" "$work/act.npy" "$work/data.npz"
"$shrink" import "$work/act.onnx" --out "$work/act.safetensors" --mean 0 --std 1 > /dev/null
"$shrink" eval "$work/act.safetensors" --data "$work/data.npz" --save-logits "$work/act-shrink.npy" > /dev/null
"$ortvenv/bin/python" Tests/interop/check_onnx.py compare "$work/act.npy" "$work/act-shrink.npy"
"$shrink" export "$work/act.safetensors" --out "$work/act-back.onnx" > /dev/null
"$ortvenv/bin/python" Tests/interop/check_onnx.py export "$work/act-back.onnx" "$work/act-shrink.npy" "$work/data.npz"
# torchvision's mobile networks at 224×224 with random weights: imported, Shrink's logits against PyTorch's.
for net in mobilenet_v3_small efficientnet_b0 shufflenet_v2_x0_5; do
  /usr/bin/python3 Tests/interop/check_onnx.py torchvision "$net" "$work/$net.onnx" "$work/$net.npy" "$work/$net.npz" 2>/dev/null
  "$shrink" import "$work/$net.onnx" --out "$work/$net.safetensors" --mean 0 --std 1 > /dev/null
  "$shrink" eval "$work/$net.safetensors" --data "$work/$net.npz?classes=1000" --save-logits "$work/$net-shrink.npy" > /dev/null
  "$ortvenv/bin/python" Tests/interop/check_onnx.py relative "$work/$net.npy" "$work/$net-shrink.npy"
done
fmnist="${SHRINK_DATA_DIR:-/usr/share/datasets/fashion-mnist}"
if [ -f "$fmnist/t10k-images-idx3-ubyte.gz" ]; then
  "$shrink" train --arch fmnist-small --data fashion-mnist --train-limit 12000 --epochs 1 --out "$work/small.safetensors" > /dev/null 2>&1
  # Without VNNI, ONNX Runtime's AVX2 uint8 × int8 kernels add pairs of products in 16 bits, which 8-bit weights can
  # overflow (255·127·2 > 32767; its own quantize_static reduces the range for this): there the check uses 7-bit
  # weights, whose pair sums fit.
  bits=8
  if ! grep -qw -e avx512_vnni -e avx_vnni /proc/cpuinfo; then
    bits=7
    echo "note: this CPU has no VNNI; the int8 check uses 7-bit weights (ONNX Runtime's AVX2 kernels saturate 8-bit ones)"
  fi
  "$shrink" quantize "$work/small.safetensors" --data fashion-mnist --weight-bits "$bits" \
    --out "$work/small-int8.safetensors" > /dev/null 2>&1
  "$shrink" eval "$work/small-int8.safetensors" --data fashion-mnist --save-logits "$work/small-int8.npy" > /dev/null
  "$shrink" export "$work/small-int8.safetensors" --out "$work/small-int8.onnx" > /dev/null
  "$ortvenv/bin/python" Tests/interop/check_onnx.py int8 "$work/small-int8.onnx" "$work/small-int8.npy" "$fmnist"
  # Cross-layer equalization turns mobilenet-tiny's ReLU6s into per-channel clamps (Relu + Min in ONNX): ONNX Runtime
  # runs the QDQ file of the equalized, bias-corrected per-tensor model and agrees with the integer engine as well as
  # on the same network quantized without equalization (a briefly trained network has near-ties, so the baseline,
  # not a fixed share, is the measure), scoring within a point of it.
  "$shrink" train --arch mobilenet-tiny --data fashion-mnist --train-limit 6000 --epochs 1 \
    --out "$work/mobilenet-tiny.safetensors" > /dev/null 2>&1
  for eq in off on; do
    bc=none
    if [ "$eq" = on ]; then bc=empirical; fi
    "$shrink" quantize "$work/mobilenet-tiny.safetensors" --data fashion-mnist --weight-bits "$bits" --observer minmax \
      --granularity per-tensor --max-float-layers 0 --equalization "$eq" --bias-correction "$bc" --rounding nearest \
      --calibration-samples 500 --validation-samples 500 --out "$work/mobilenet-$eq.safetensors" > /dev/null 2>&1
    "$shrink" eval "$work/mobilenet-$eq.safetensors" --data fashion-mnist --save-logits "$work/mobilenet-$eq.npy" > /dev/null
    "$shrink" export "$work/mobilenet-$eq.safetensors" --out "$work/mobilenet-$eq.onnx" > /dev/null
  done
  "$shrink" info "$work/mobilenet-on.safetensors" | grep -q channel_clamp \
    || { echo "FAIL: the equalized mobilenet-tiny has no channel_clamp node" >&2; exit 1; }
  "$ortvenv/bin/python" Tests/interop/check_onnx.py int8-pair "$work/mobilenet-off.onnx" "$work/mobilenet-off.npy" \
    "$work/mobilenet-on.onnx" "$work/mobilenet-on.npy" "$fmnist"
else
  echo "skip: no Fashion-MNIST at $fmnist for the int8 check"
fi
