#!/usr/bin/env bash
# The test command: installs what the tests need, builds, runs the Python interoperability checks of the model file
# (Scripts/check-interop.sh) and of ONNX files against onnx.checker, ONNX Runtime and PyTorch
# (Scripts/check-onnx.sh), builds and runs Examples/UsingShrink (a package depending on Shrink by path: load, prune,
# quantize, save), then the whole Swift test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh --with-test-tools
swift build --build-tests
bash Scripts/check-interop.sh .build/debug/shrink
bash Scripts/check-onnx.sh .build/debug/shrink
swift build --package-path Examples/UsingShrink
Examples/UsingShrink/.build/debug/UsingShrink
swift test --skip-build
