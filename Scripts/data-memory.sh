#!/usr/bin/env bash
# Peak resident memory and training speed of `shrink train` on one generated image set stored four ways: a folder
# of JPEG files (decoded a batch at a time), a directory of .npy files and an uncompressed .npz (both read from the
# file as needed), and a compressed .npz (uint8 pixels held in memory: the in-memory baseline), against the size of
# the same samples as Float32. Prints a Markdown table.
#
# Usage: Scripts/data-memory.sh [SHRINK] [--images N] [--size S] [--epochs E] [--threads T] [--batch-size B]
#                                [--arch A] [--work DIR]
#   SHRINK defaults to .build/release/shrink; N (default 20000) training images of S×S RGB (default 96) in 2
#   classes, plus 500 test images a class; the set is written once into DIR (default .build/data-memory). Training is
#   A (default fmnist-cnn) with Adam at batch B (default 32): the activations of a batch are part of the peak.
set -euo pipefail
cd "$(dirname "$0")/.."
shrink=.build/release/shrink
images=20000 size=96 epochs=1 threads=2 batch=32 arch=fmnist-cnn work=.build/data-memory
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then shrink=$1; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --images) images=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$shrink" ] || { echo "no shrink binary at $shrink (swift build -c release first)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
set_dir="$work/set-$images-$size"
if [ ! -f "$set_dir/done" ]; then
  rm -rf "$set_dir"
  /usr/bin/python3 Scripts/make-image-folder.py --out "$set_dir/folder" --classes 2 \
    --train-per-class $((images / 2)) --test-per-class 500 --size "$size" --format jpg --npy "$set_dir/npy" >&2
  /usr/bin/python3 -c "import numpy as np, sys; d = sys.argv[1]; np.savez_compressed(d + '/compressed.npz', \
**{k: np.load(f'{d}/{k}.npy') for k in ('x_train', 'y_train', 'x_test', 'y_test')})" "$set_dir/npy"
  touch "$set_dir/done"
fi
float_bytes=$(( (images + 1000) * 3 * size * size * 4 ))
echo "| data ($images + 1000 images of ${size}×${size}, $arch, batch $batch) | peak RSS | training images/s | test accuracy | wall |"
echo "|---|---:|---:|---:|---:|"
for spec in "$set_dir/folder" "$set_dir/npy" "$set_dir/npy/data.npz" "$set_dir/npy/compressed.npz"; do
  log="$work/run.log"
  /usr/bin/time -v "$shrink" train --arch "$arch" --data "$spec" --epochs "$epochs" --threads "$threads" \
    --batch-size "$batch" --optimizer adam --out "$work/model.safetensors" --json > "$work/run.json" 2> "$log" \
    || { tail -5 "$log" >&2; exit 1; }
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  read -r speed accuracy < <(/usr/bin/python3 -c "import json; d = json.load(open('$work/run.json')); \
print(round(d['samples_per_second']), '%.2f%%' % (100 * d['test_accuracy']))")
  printf '| %s | %d MiB | %s | %s | %s |\n' "${spec#$set_dir/}" $((rss_kb / 1024)) "$speed" "$accuracy" "$wall"
done
echo
echo "The same $((images + 1000)) samples as Float32: $((float_bytes / 1048576)) MiB; as uint8: $((float_bytes / 4 / 1048576)) MiB."
