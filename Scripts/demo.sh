#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, trains fmnist-cnn on Fashion-MNIST and prints
# its accuracy, size and latency. Extra arguments go to `shrink train` (e.g. --epochs 1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
swift build -c release --product shrink >&2
shrink=".build/release/shrink"
out="${SHRINK_DEMO_DIR:-out/demo}"
mkdir -p "$out"
"$shrink" train --arch fmnist-cnn --data fashion-mnist --epochs 3 --out "$out/fmnist-cnn.safetensors" "$@"
"$shrink" info "$out/fmnist-cnn.safetensors" | tail -n 1
"$shrink" bench "$out/fmnist-cnn.safetensors" --batch-sizes 1,256
