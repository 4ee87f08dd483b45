#!/usr/bin/env bash
# The test command: installs what the tests need, builds, runs the whole Swift test suite, then the Python
# interoperability check of the model file (Scripts/check-interop.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh --with-test-tools
swift build --build-tests
swift test --skip-build
bash Scripts/check-interop.sh .build/debug/shrink
