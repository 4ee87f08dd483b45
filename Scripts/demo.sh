#!/usr/bin/env bash
# The README's first command: installs the Debian packages Shrink needs if any is missing (OpenBLAS, LAPACKE, zlib,
# the Fashion-MNIST package), builds Shrink in release mode, and runs `shrink demo`: fmnist-cnn trained on
# Fashion-MNIST, then pruning, quantization, QAT and binarization, distillation and a short architecture search,
# ending with the comparison table (and out/demo/report.md with its charts; out/demo-quick/ with --quick).
# Usage: Scripts/demo.sh [--quick] [--out DIR] [--threads T]     (about 10 minutes on 2 cores; --quick about 2)
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
swift build -c release --product shrink >&2
start=$(date +%s)
.build/release/shrink demo "$@"
echo "demo finished in $(( $(date +%s) - start )) s" >&2
