#!/usr/bin/env bash
# Post-training quantization of one float network by three engines, on the same float weights and the same
# calibration images: Shrink (`shrink quantize`), ONNX Runtime (`quantize_static`, QDQ) and PyTorch (FX graph mode
# `prepare_fx`/`convert_fx`), all with per-tensor symmetric int8 weights and per-tensor affine uint8 activations, all
# scored on the 10,000 Fashion-MNIST test images. Each built-in (default mobilenet-tiny) is trained once by
# `shrink train --epochs 3 --seed 1` (reused when its file exists) and exported by `shrink export`; ONNX Runtime
# quantizes that ONNX file and PyTorch the module onnx2torch makes of it. The calibration images are the ones
# `shrink quantize --calibration-samples N` takes: the first N of the *training* split (default 1000); the test
# split is never calibrated on. Scripts/ptq_peers.py writes them as float32 NPY prepared as Shrink prepares them
# (pixel / 255, then (x − mean) / std with the model file's shrink.normalization) and checks that the float ONNX
# file on ONNX Runtime gives Shrink's logits on both, and that onnx2torch's module scores what `shrink eval` does.
#
# Rows:
# - Shrink: `--observer O --granularity per-tensor --max-float-layers 0` (one attempt, nothing kept in float) for
#   minmax, entropy and percentile, and minmax and entropy with `--equalization on --bias-correction empirical`
#   or `analytic`; the fixes a row does not ask for are pinned off (`--equalization off --bias-correction none
#   --rounding nearest`, where the binary has those options: their auto default would add them to an attempt that
#   falls short). A binary without --equalization / --bias-correction prints n/a for their rows instead of stopping.
# - ONNX Runtime: quantize_static (per_channel=False, weights QInt8 symmetric, activations QUInt8, QDQ, after
#   quant_pre_process, which folds BatchNorm) with MinMax, Entropy, Entropy with 2048 histogram bins (quantize_static
#   does not pass its calibrator a bin count, and at its default of 128 bins Entropy can pick only the whole range,
#   MinMax's; ptq_peers.py explains) and Percentile (99.999, its default).
# - PyTorch (Debian's 1.13 on its own numpy, in .build/interop-venv; ONNX Runtime lives in .build/ort-venv on
#   numpy from PyPI, Scripts/interop-venv.sh): weights MinMaxObserver qint8 per_tensor_symmetric, activations
#   MinMaxObserver or HistogramObserver quint8 per_tensor_affine (reduce_range off), on the first of the x86,
#   fbgemm, onednn and qnnpack engines the build has (Debian's: onednn). prepare_fx traces onnx2torch's module as
#   it is (a torch.fx GraphModule of standard modules), so no eager rebuild is needed. PyTorch 1.13 fuses
#   Conv + BatchNorm but not ReLU6: a conv's output is observed before the clamp and ReLU6 keeps those qparams.
#
# Prints the date and versions, each network's float check and a Markdown table (engine, method, float and int8
# test accuracy, drop in points) on stdout, progress on stderr; writes every figure to $work/ptq.json. Uses the
# built binary (.build/release/shrink, or $SHRINK_BINARY) and does not build it.
#
#   Scripts/compare-ptq.sh [--calibration-samples N] [ARCH…]   (default mobilenet-tiny; N 1…30000, default 1000;
#                                                               files in $SHRINK_PTQ_DIR, default out/ptq)
set -euo pipefail
cd "$(dirname "$0")/.."
calibration=1000
archs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --calibration-samples) calibration="$2"; shift 2 ;;
    -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare-ptq: unknown option $1" >&2; exit 2 ;;
    *) archs+=("$1"); shift ;;
  esac
done
[ ${#archs[@]} -gt 0 ] || archs=(mobilenet-tiny)
# shrink quantize calibrates on at most half the training split (CalibrationSplit.parts): 30,000 of Fashion-MNIST's.
[[ "$calibration" =~ ^[0-9]+$ ]] && [ "$calibration" -ge 1 ] && [ "$calibration" -le 30000 ] || {
  echo "compare-ptq: --calibration-samples takes 1…30000 (half the training split), not $calibration" >&2; exit 2; }
shrink="${SHRINK_BINARY:-.build/release/shrink}"
[ -x "$shrink" ] || { echo "compare-ptq: no shrink binary at $shrink (swift build -c release --product shrink)" >&2; exit 1; }
source Scripts/interop-venv.sh
ort_require "import onnx, onnxruntime" "numpy<2" onnx onnxruntime
# onnx 1.16 with protobuf, no other dependency: newer onnx needs ml_dtypes releases built for numpy 2, and this
# venv keeps Debian's numpy 1.x for its torch.
interop_require "import onnx2torch, onnx" --no-deps onnx2torch "onnx==1.16.2" protobuf
"$venv/bin/python" -c "import torch" || {
  echo "compare-ptq: needs python3-torch (Scripts/install-deps.sh --with-test-tools)" >&2; exit 1; }
# The options this binary's `shrink quantize` has (for shrink_row's pins).
read -r -a quantize_options <<< "$("$shrink" quantize --help | grep -o -E -- '--[a-z-]+' | sort -u | tr '\n' ' ')"
work="${SHRINK_PTQ_DIR:-out/ptq}"
mkdir -p "$work"
started=$(date +%s)

for arch in "${archs[@]}"; do
  model="$work/$arch.safetensors"
  if [ ! -f "$model" ]; then
    echo "$arch: training (3 epochs, seed 1) → $model" >&2
    "$shrink" train --arch "$arch" --data fashion-mnist --epochs 3 --seed 1 --out "$model" >&2
  fi
  "$shrink" export "$model" --out "$work/$arch.onnx" >&2
  "$shrink" eval "$model" --data fashion-mnist --json --save-logits "$work/$arch-float-logits.npy" \
    > "$work/$arch-float-eval.json"
  "$shrink" eval "$model" --data fashion-mnist --split train --limit "$calibration" \
    --save-logits "$work/$arch-calibration-logits.npy" > /dev/null
  "$ortvenv/bin/python" Scripts/ptq_peers.py data "$work" "$arch" "$calibration" >&2
  "$ortvenv/bin/python" Scripts/ptq_peers.py ort "$work" "$arch" >&2
  "$venv/bin/python" Scripts/ptq_peers.py torch "$work" "$arch" >&2

  # shrink_row TAG METHOD OPTION…: one `shrink quantize` attempt, per-tensor, nothing kept in float; its figures
  # go to $work/$arch-shrink.json. An option the binary does not know yet (--equalization, --bias-correction)
  # makes the row n/a. Where the binary has them, --equalization, --bias-correction and --rounding default to auto,
  # which adds those fixes when an attempt falls short of --max-accuracy-drop; every row pins the ones it does not
  # set (off, none, nearest), so that it measures exactly the method it names.
  shrink_row() {
    local tag="$1" method="$2"
    shift 2
    local out="$work/$arch-shrink-$tag" pins=() pin
    for pin in equalization=off bias-correction=none rounding=nearest; do
      if [[ " ${quantize_options[*]} " == *" --${pin%%=*} "* && " $* " != *" --${pin%%=*} "* ]]; then
        pins+=("--${pin%%=*}" "${pin#*=}")
      fi
    done
    echo "$arch: shrink quantize $* ${pins[*]}" >&2
    rm -f "$out.json"
    if "$shrink" quantize "$model" --data fashion-mnist --granularity per-tensor --max-float-layers 0 \
        --calibration-samples "$calibration" --json --out "$out.safetensors" "$@" "${pins[@]}" \
        > "$out.json" 2> "$out.log"; then
      cat "$out.log" >&2
      /usr/bin/python3 Scripts/ptq_peers.py shrink-row "$work" "$arch" "$method" "$out.json"
    elif grep -q -E "(Unknown option|is invalid for) '--(equalization|bias-correction)" "$out.log"; then
      echo "$arch: $(grep -m1 Error "$out.log") — n/a with this binary" >&2
      /usr/bin/python3 Scripts/ptq_peers.py shrink-row "$work" "$arch" "$method" n/a
    else
      cat "$out.log" >&2
      exit 1
    fi
  }
  rm -f "$work/$arch-shrink.json"
  for observer in minmax entropy; do
    shrink_row "$observer" "$observer" --observer "$observer"
    shrink_row "$observer-eq-bc-empirical" "$observer + equalization + empirical bias correction" \
      --observer "$observer" --equalization on --bias-correction empirical
    shrink_row "$observer-eq-bc-analytic" "$observer + equalization + analytic bias correction" \
      --observer "$observer" --equalization on --bias-correction analytic
  done
  shrink_row percentile "percentile (99.99)" --observer percentile
done

PTQ_STARTED="$started" /usr/bin/python3 Scripts/ptq_peers.py report "$work" "$work/ptq.json" "${archs[@]}"
echo "compare-ptq: $(( $(date +%s) - started )) s; figures in $work/ptq.json" >&2
