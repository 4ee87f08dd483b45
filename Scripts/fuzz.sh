#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader (docs/reliability.md): builds the Fuzz package with libFuzzer and
# AddressSanitizer, writes seed corpora with Shrink's own writers (plus the repository's recipes, search spaces
# and Pillow-made images), then runs each target for the given time and prints executions, coverage, corpus size and
# findings (crashes, hangs, out-of-memory) as a Markdown table. The corpora persist between runs under OUT/corpus.
# Usage: Scripts/fuzz.sh [--seconds N] [--jobs J] [--out DIR] [--no-build] [--fresh] [TARGET…]
#   --seconds N  time per target (default 60); --jobs J  targets run at once (default 1)
#   --out DIR    corpora, findings and logs (default out/fuzz); --fresh  start from the seeds only
#   TARGET       any of the targets below (default: all)
# Exits 1 when any target found a crash, a hang or an out-of-memory; the inputs are kept in OUT/findings/TARGET.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
all_targets=(safetensors model onnx npy npz npz-data inflate idx recipe search-space data-spec journal image)
seconds=60 jobs=1 out="$root/out/fuzz" build=1 fresh=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --fresh) fresh=1; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (one of: ${all_targets[*]})" >&2; exit 2; }
done

binary="$root/Fuzz/.build/release/ShrinkFuzz"
if [ "$build" = 1 ]; then
  swift build --package-path "$root/Fuzz" -c release --scratch-path "$root/Fuzz/.build" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address >&2
fi
[ -x "$binary" ] || { echo "fuzz.sh: $binary is missing; run without --no-build" >&2; exit 2; }

# Seeds: the binary's writers, then files.
seeds="$out/seeds"
rm -rf "$seeds" && mkdir -p "$seeds"
[ "$fresh" = 0 ] || rm -rf "$out/corpus"
SHRINK_FUZZ_WRITE_SEEDS="$seeds" "$binary" > /dev/null
mkdir -p "$seeds/recipe" "$seeds/search-space" "$seeds/image" "$seeds/data-spec"
printf 'fashion-mnist' > "$seeds/data-spec/plain"
printf 'data/images?size=96x128&channels=3&skip_corrupt&flip&pad_crop=4&resized_crop=0.25&classes=10' > "$seeds/data-spec/all"
cp "$root"/recipes/*.yaml "$seeds/recipe/"
cat > "$seeds/search-space/tiny.yaml" <<'YAML'
name: tiny
kind: cnn
stem_width: 8
depth_multipliers: [0.5, 1.0]
width_multipliers: [0.5, 1.0]
blocks:
  - operations: [conv3x3, dwsep3x3, identity]
    widths: [16, 32]
    residual: [false, true]
    stride: 2
  - repeat: 2
    operations: [dwsep5x5, maxpool]
    widths: [32]
YAML
cat > "$seeds/search-space/mlp.json" <<'JSON'
{"name": "dense", "kind": "mlp", "blocks": [{"operations": ["linear"], "widths": [64, 128]}, {"operations": ["linear", "identity"], "widths": [32]}]}
JSON
/usr/bin/python3 - "$seeds/image" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
def img(mode, size, fill):
    im = Image.new(mode, size)
    im.putdata([fill(x, y) for y in range(size[1]) for x in range(size[0])])
    return im
rgb = img("RGB", (12, 9), lambda x, y: (x * 20, y * 25, (x + y) * 10))
grey = img("L", (7, 11), lambda x, y: (x * y * 3) % 256)
rgb.save(f"{d}/rgb.jpg", quality=80)
rgb.save(f"{d}/progressive.jpg", quality=60, progressive=True)
grey.save(f"{d}/grey.jpg")
rgb.save(f"{d}/rgb.png")
grey.save(f"{d}/grey.png")
img("RGBA", (5, 5), lambda x, y: (x * 50, y * 50, 9, x * 60)).save(f"{d}/rgba.png")
img("I;16", (4, 6), lambda x, y: x * 9000 + y * 100).save(f"{d}/grey16.png")
rgb.convert("P").save(f"{d}/palette.png")
PY

mkdir -p "$out/logs"
# Per input: at most 256 KiB, 10 s (a hang), 512 MiB in one allocation, 2 GiB resident (docs/reliability.md).
export ASAN_OPTIONS="${ASAN_OPTIONS:-handle_segv=0:detect_leaks=0}" SWIFT_BACKTRACE="enable=no"
run_target() {
  local t="$1" corpus="$out/corpus/$1" findings="$out/findings/$1" extra=()
  mkdir -p "$corpus" "$findings"
  # Inputs that once crashed a reader (the regression tests' files) seed the target too.
  [ -d "$root/Tests/ShrinkTests/FuzzFindings/$t" ] && extra=("$root/Tests/ShrinkTests/FuzzFindings/$t")
  SHRINK_FUZZ_TARGET="$t" SHRINK_FUZZ_SCRATCH="$out/scratch" "$binary" -max_total_time="$seconds" -max_len=262144 \
    -timeout=10 -malloc_limit_mb=512 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$corpus" "$seeds/$t" "${extra[@]}" > "$out/logs/$t.log" 2>&1 || true
}
mkdir -p "$out/scratch"
running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

status=0
printf '| target | seconds | executions | exec/s | coverage (edges) | features | corpus | crashes | hangs | out of memory |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo 0)
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo 0)
  corp=$(ls "$out/corpus/$t" | wc -l)
  crashes=$(ls "$out/findings/$t" | grep -c '^crash-' || true)
  hangs=$(ls "$out/findings/$t" | grep -c '^timeout-' || true)
  ooms=$(ls "$out/findings/$t" | grep -c '^oom-' || true)
  leaks=$(ls "$out/findings/$t" | grep -c '^leak-' || true)
  crashes=$((crashes + leaks))
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" "${execs:-0}" "${rate:-0}" "${cov:-0}" \
    "${ft:-0}" "$corp" "$crashes" "$hangs" "$ooms"
  if [ $((crashes + hangs + ooms)) -gt 0 ]; then
    status=1
    echo "fuzz.sh: $t: findings in $out/findings/$t (log $log)" >&2
  fi
done
exit $status
