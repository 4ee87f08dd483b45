#!/usr/bin/env bash
# Installs the Debian packages Shrink needs when any is missing (idempotent; uses sudo when not root).
set -euo pipefail
# Usage: install-deps.sh [--with-test-tools]
packages=(libopenblas-dev liblapacke-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev pkg-config dataset-fashion-mnist)
# The tests also need Debian's Python venv module, PyTorch and torchvision (with Debian's numpy) for the ONNX
# cross-checks, and Pillow to write the image folders the image tests read.
if [ "${1:-}" = "--with-test-tools" ]; then packages+=(python3-venv python3-torch python3-torchvision python3-numpy python3-pil); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >&2
fi
