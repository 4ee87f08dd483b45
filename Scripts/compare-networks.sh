#!/usr/bin/env bash
# Shrink's engine beside ONNX Runtime and PyTorch on the networks edge devices run, in one sitting (docs/benchmarks.md,
# "Torchvision networks at 224×224"). Each torchvision network (random weights, seed 0) is exported by
# torch.onnx.export and imported by `shrink import`; its int8 model is `shrink quantize` (min/max, per channel,
# nothing kept in float) and its QDQ file `shrink export` of that. Then, at batch 1 and 8 with 1 and 2 threads:
# `shrink bench` of the float and int8 model files, ONNX Runtime on the exported float ONNX file and on Shrink's QDQ
# file (which it fuses into QLinearConv), and PyTorch (float) eager — its convolutions on oneDNN — and after
# optimize_for_mobile, on XNNPACK. Medians of single calls over SECONDS each. The engines take turns for each
# network and thread count, ROUNDS times (--rounds, default 2), and each figure is the lowest median of the rounds:
# this machine's speed drifts over minutes, and slowness is the noise. One-thread runs of every engine are pinned
# to the same CPU (--cpu, default 0): the cores of a virtual machine can differ in speed.
#
#   Scripts/compare-networks.sh [--seconds S] [--threads "1 2"] [--batches "1 8"] [--rounds R] [--cpu N] [NETWORK…]
#   (default networks: resnet18 mobilenet_v2 regnet_x_400mf mobilenet_v3_small efficientnet_b0; files in
#    $SHRINK_NETWORKS_DIR, default out/networks)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=2
threads="1 2"
batches="1 8"
cpu=0
rounds=2
networks=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --cpu) cpu="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare-networks: unknown option $1" >&2; exit 2 ;;
    *) networks+=("$1"); shift ;;
  esac
done
[ ${#networks[@]} -gt 0 ] || networks=(resnet18 mobilenet_v2 regnet_x_400mf mobilenet_v3_small efficientnet_b0)
source Scripts/interop-venv.sh
ort_require "import onnx, onnxruntime" "numpy<2" onnx onnxruntime
/usr/bin/python3 -c "import torch, torchvision" || {
  echo "compare-networks: needs python3-torch and python3-torchvision (Scripts/install-deps.sh --with-test-tools)" >&2; exit 1; }
swift build -c release --product shrink > /dev/null
shrink="$(swift build -c release --show-bin-path)/shrink"
work="${SHRINK_NETWORKS_DIR:-out/networks}"
mkdir -p "$work"
date -u +"%Y-%m-%dT%H:%M:%SZ" > "$work/date.txt"
lscpu | grep -E "Model name|^CPU\(s\)|Flags" | sed -E 's/(Flags:).*/\1 '"$(grep -o -w 'avx512f\|avx512_vnni\|avx_vnni\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"'/' > "$work/machine.txt"
batch_list="$(echo $batches | tr ' ' ',')"
for net in "${networks[@]}"; do
  base="$work/$net"
  if [ ! -f "$base.safetensors" ] || [ ! -f "$base.onnx" ]; then
    /usr/bin/python3 Tests/interop/check_onnx.py torchvision-data "$net" "$base.onnx" "$base.npy" "$base.npz" 224 16 > /dev/null
    "$shrink" import "$base.onnx" --out "$base.safetensors" --mean 0 --std 1 > /dev/null
  fi
  if [ ! -f "$base-int8.safetensors" ]; then
    "$shrink" quantize "$base.safetensors" --data "$base.npz?classes=1000" --observer minmax --granularity per-channel \
      --max-float-layers 0 --calibration-samples 8 --validation-samples 8 --out "$base-int8.safetensors" > /dev/null
  fi
  [ -f "$base-int8.onnx" ] || "$shrink" export "$base-int8.safetensors" --out "$base-int8.onnx" > /dev/null
done
# One engine's medians for one network and thread count, as JSON {"net/kind/tT/bB": ms}.
ort_run() {
  "$ortvenv/bin/python" - "$work" "$seconds" "$1" "$batches" "$cpu" "$2" <<'PY'
import json, os, sys, time
import numpy as np
import onnxruntime as ort
work, seconds, t = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
batches, cpu, net = [int(b) for b in sys.argv[4].split()], int(sys.argv[5]), sys.argv[6]
if t == 1:
    os.sched_setaffinity(0, {cpu})
def timed(session, x):
    feed = {session.get_inputs()[0].name: x}
    for _ in range(3):
        session.run(None, feed)
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        s = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - s)
    return 1000 * float(np.median(times))
result = {"version": ort.__version__, "ms": {}}
for kind, path in (("float", f"{work}/{net}.onnx"), ("int8", f"{work}/{net}-int8.onnx")):
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = t, 1
    session = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    for b in batches:
        x = np.random.default_rng(0).random((b, 3, 224, 224), dtype=np.float32)
        result["ms"][f"{net}/{kind}/t{t}/b{b}"] = timed(session, x)
json.dump(result, sys.stdout)
PY
}
# PyTorch (Debian's build): eager mode runs its float convolutions on oneDNN 2.6; optimize_for_mobile rewrites them
# into XNNPACK's prepacked operators (the snapshot Debian ships) — the two libraries a float kernel could come from.
torch_run() {
  /usr/bin/python3 - "$seconds" "$1" "$batches" "$cpu" "$2" <<'PY'
import json, os, sys, time
import numpy as np
import torch, torchvision
from torch.utils.mobile_optimizer import optimize_for_mobile
seconds, t = float(sys.argv[1]), int(sys.argv[2])
batches, cpu, net = [int(b) for b in sys.argv[3].split()], int(sys.argv[4]), sys.argv[5]
if t == 1:
    os.sched_setaffinity(0, {cpu})
torch.set_num_threads(t)
result = {"version": torch.__version__, "ms": {}}
def timed(model, x):
    with torch.no_grad():
        for _ in range(3):
            model(x)
        times, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds or len(times) < 5:
            s = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - s)
    return 1000 * float(np.median(times))
torch.manual_seed(0)
model = getattr(torchvision.models, net)(weights=None).eval()
with torch.no_grad():
    mobile = optimize_for_mobile(torch.jit.trace(model, torch.rand(1, 3, 224, 224)))
for b in batches:
    x = torch.rand(b, 3, 224, 224)
    result["ms"][f"{net}/float/t{t}/b{b}"] = timed(model, x)
    result["ms"][f"{net}/xnnpack/t{t}/b{b}"] = timed(mobile, x)
json.dump(result, sys.stdout)
PY
}
for round in $(seq "$rounds"); do
  for net in "${networks[@]}"; do
    base="$work/$net"
    for t in $threads; do
      pin=()
      [ "$t" = 1 ] && pin=(taskset -c "$cpu")
      "${pin[@]}" "$shrink" bench "$base.safetensors" "$base-int8.safetensors" --batch-sizes "$batch_list" \
        --threads "$t" --seconds "$seconds" --json > "$base-shrink-t$t-r$round.json"
      ort_run "$t" "$net" > "$base-ort-t$t-r$round.json"
      torch_run "$t" "$net" > "$base-torch-t$t-r$round.json"
    done
  done
done
/usr/bin/python3 - "$work" "$threads" "$batches" "$rounds" "${networks[@]}" <<'PY'
import json, sys
work = sys.argv[1]
threads, batches, rounds, networks = sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4]), sys.argv[5:]
def lowest(engine):
    """The lowest median of the rounds for every key of one engine's files."""
    merged, version = {}, ""
    for net in networks:
        for t in threads:
            for r in range(1, rounds + 1):
                data = json.load(open(f"{work}/{net}-{engine}-t{t}-r{r}.json"))
                version = data["version"]
                for key, ms in data["ms"].items():
                    merged[key] = min(ms, merged.get(key, ms))
    return {"version": version, "ms": merged}
ort, torch = lowest("ort"), lowest("torch")
shrink = {}
for net in networks:
    for t in threads:
        for r in range(1, rounds + 1):
            bench = json.load(open(f"{work}/{net}-shrink-t{t}-r{r}.json"))
            for kind, m in zip(("float", "int8"), bench["models"]):
                for l in m["latency"]:
                    key = f"{net}/{kind}/t{t}/b{l['batch_size']}"
                    shrink[key] = min(l["median_ms"], shrink.get(key, l["median_ms"]))
json.dump({"shrink": shrink, "ort": ort, "torch": torch}, open(f"{work}/lowest.json", "w"), indent=1)
print(f"{open(f'{work}/date.txt').read().strip()}; ONNX Runtime {ort['version']}, PyTorch {torch['version']}; "
      + f"lowest median of {rounds} rounds; "
      + open(f"{work}/machine.txt").read().replace("\n", "; ").strip("; "))
print()
print("| network | threads | batch | Shrink float ms | ORT float ms | PyTorch (oneDNN) ms | PyTorch + XNNPACK ms "
      "| Shrink ÷ ORT (float) | Shrink int8 ms | ORT int8 ms | Shrink ÷ ORT (int8) | Shrink float ÷ int8 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
worst = {"float": 0, "int8": 0}
for net in networks:
    for t in threads:
        for b in batches:
            key = lambda kind: f"{net}/{kind}/t{t}/b{b}"
            f, q = shrink[key("float")], shrink[key("int8")]
            of, oq = ort["ms"][key("float")], ort["ms"][key("int8")]
            worst["float"], worst["int8"] = max(worst["float"], f / of), max(worst["int8"], q / oq)
            print(f"| {net} | {t} | {b} | {f:.2f} | {of:.2f} | {torch['ms'][key('float')]:.2f} "
                  f"| {torch['ms'][key('xnnpack')]:.2f} | {f / of:.2f} "
                  f"| {q:.2f} | {oq:.2f} | {q / oq:.2f} | {f / q:.2f} |")
print()
print(f"Largest Shrink ÷ ORT latency ratio: float {worst['float']:.2f}, int8 {worst['int8']:.2f}")
PY
