#!/usr/bin/env bash
# The test command: installs what the tests need, builds, runs the Python interoperability checks of the model file
# (Scripts/check-interop.sh) and of ONNX files against onnx.checker, ONNX Runtime and PyTorch
# (Scripts/check-onnx.sh), builds and runs Examples/UsingShrink (a package depending on Shrink by path: load, prune,
# quantize, save), then the whole Swift test suite (with a release build of shrink for the tests that run the whole
# demo recipe); then every fuzz target of Fuzz/ for a few seconds on the seed
# corpus (Scripts/fuzz.sh: libFuzzer and AddressSanitizer; any crash, hang or out-of-memory fails), and the Slurm job
# array of docs/nas.md on a one-node Slurm it installs and starts (Scripts/slurm-check.sh, on a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh --with-test-tools
swift build --build-tests
swift build -c release --product shrink
bash Scripts/check-interop.sh .build/debug/shrink
bash Scripts/check-onnx.sh .build/debug/shrink
swift build --package-path Examples/UsingShrink
Examples/UsingShrink/.build/debug/UsingShrink
swift test --skip-build
bash Scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-5}" --fresh --out out/fuzz-ci
bash Scripts/slurm-check.sh .build/release/shrink out/slurm-check
