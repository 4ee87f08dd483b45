#!/usr/bin/env bash
# The test command: installs what the tests need, builds, runs the Python interoperability check of the model file
# (Scripts/check-interop.sh), then the whole Swift test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh --with-test-tools
swift build --build-tests
bash Scripts/check-interop.sh .build/debug/shrink
swift test --skip-build
