# Sourced by the Python interoperability scripts (check-interop.sh, check-onnx.sh, compare-onnx.sh). Two virtual
# environments, kept apart because their numpy differ:
# - $venv ($SHRINK_INTEROP_VENV, default .build/interop-venv) sees the system's site packages, so Debian's
#   python3-torch runs with the Debian numpy it was built for; `safetensors` comes from PyPI.
# - $ortvenv ($SHRINK_ORT_VENV, default .build/ort-venv) sees none of them: onnx and ONNX Runtime from PyPI with the
#   numpy their wheels were built for.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHRINK_INTEROP_VENV:-$root/.build/interop-venv}"
ortvenv="${SHRINK_ORT_VENV:-$root/.build/ort-venv}"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"

# interop_require "import a, b" PACKAGE…: installs the packages into $venv from PyPI unless the import already works.
interop_require() {
  local imports="$1"
  shift
  "$venv/bin/python" -c "$imports" 2>/dev/null || "$venv/bin/pip" install -q "$@"
}

# ort_require "import a, b" PACKAGE…: the same for $ortvenv (created on first use).
ort_require() {
  local imports="$1"
  shift
  [ -x "$ortvenv/bin/python" ] || /usr/bin/python3 -m venv "$ortvenv"
  "$ortvenv/bin/python" -c "$imports" 2>/dev/null || "$ortvenv/bin/pip" install -q "$@"
}
