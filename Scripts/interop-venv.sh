# Sourced by the Python interoperability scripts (check-interop.sh, check-onnx.sh, compare-onnx.sh): sets $venv to
# the virtual environment ($SHRINK_INTEROP_VENV, default .build/interop-venv in the repository), creating it with the
# system's site packages (so Debian's python3-torch is visible) when it is missing.
venv="${SHRINK_INTEROP_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.build/interop-venv}"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"

# interop_require "import a, b" PACKAGE…: installs the packages from PyPI unless the import already works.
interop_require() {
  local imports="$1"
  shift
  "$venv/bin/python" -c "$imports" 2>/dev/null || "$venv/bin/pip" install -q "$@"
}
