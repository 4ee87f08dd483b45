#!/usr/bin/env bash
# One model on two engines, in one sitting (docs/benchmarks.md): `shrink bench` of a model file (float or the integer
# engine's int8), then ONNX Runtime on its `shrink export` ONNX file (an int8 model exports as QDQ), at batch 1
# (median latency) and batch 256 (throughput), with 1 and 2 threads. The engines take turns ROUNDS times (default
# 2) and each figure is the best of the rounds (this machine's speed drifts over minutes); one-thread runs of both
# are pinned to CPU 0 (a virtual machine's cores can differ in speed). Also prints both engines' test accuracy on
# Fashion-MNIST and their agreement.
# Usage: Scripts/compare-onnx.sh [SHRINK_BINARY] [MODEL] [SECONDS] [ROUNDS]
#        (defaults .build/release/shrink, $SHRINK_MODEL_DIR/fmnist-cnn.int8.safetensors, 2, 2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
model="${2:-${SHRINK_MODEL_DIR:-$root/out/models}/fmnist-cnn.int8.safetensors}"
seconds="${3:-2}"
rounds="${4:-2}"
source "$root/Scripts/interop-venv.sh"
ort_require "import onnx, onnxruntime" "numpy<2" onnx onnxruntime
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$shrink" export "$model" --out "$work/model.onnx" > /dev/null
"$shrink" eval "$model" --data fashion-mnist --save-logits "$work/logits.npy" > /dev/null
"$ortvenv/bin/python" - "$work" "$seconds" "$rounds" "$shrink" "$model" <<'PY'
import gzip, json, os, subprocess, sys, time
import numpy as np
import onnx
import onnxruntime as ort
work, seconds, rounds, shrink, path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
everywhere = os.sched_getaffinity(0)
model = onnx.load(f"{work}/model.onnx")
norm = json.loads({p.key: p.value for p in model.metadata_props}["shrink.normalization"])
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)
x = ((x.astype(np.float32) / 255.0 - norm["mean"]) / norm["std"]).astype(np.float32)
def session(threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    return ort.InferenceSession(f"{work}/model.onnx", o, providers=["CPUExecutionProvider"])
def timed(s, batch):
    feed = {s.get_inputs()[0].name: x[:batch]}
    for _ in range(5):
        s.run(None, feed)
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t = time.perf_counter()
        s.run(None, feed)
        times.append(time.perf_counter() - t)
    return float(np.median(times))
s1 = session(1)
logits = s1.run(None, {s1.get_inputs()[0].name: x})[0]
ours = np.load(f"{work}/logits.npy")
print(f"ONNX Runtime {ort.__version__}: test accuracy {100 * np.mean(logits.argmax(1) == y):.2f}%, Shrink "
      f"{100 * np.mean(ours.argmax(1) == y):.2f}%, predictions agree on {100 * np.mean(logits.argmax(1) == ours.argmax(1)):.2f}%")
print()
def shrink_bench(threads):
    cmd = [shrink, "bench", path, "--threads", str(threads), "--batch-sizes", "1,256", "--seconds", str(seconds),
           "--json"]
    if threads == 1:
        cmd = ["taskset", "-c", "0"] + cmd
    lat = {l["batch_size"]: l for l in json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                                                 text=True).stdout)["models"][0]["latency"]}
    return lat[1]["median_ms"], lat[256]["samples_per_second"]
def ort_bench(threads):
    # one thread pinned to CPU 0, as Shrink's; the session's threads take the affinity it is created with
    os.sched_setaffinity(0, {0} if threads == 1 else everywhere)
    s = session(threads)
    one, many = timed(s, 1), timed(s, 256)
    os.sched_setaffinity(0, everywhere)
    return 1000 * one, 256 / many
best = {}
for _ in range(rounds):
    for threads in (1, 2):
        for engine, run in (("shrink", shrink_bench), ("ort", ort_bench)):
            ms, rate = run(threads)
            old = best.get((engine, threads), (float("inf"), 0.0))
            best[(engine, threads)] = (min(old[0], ms), max(old[1], rate))
print(f"best of {rounds} rounds, {seconds:g} s a figure")
print("| threads | engine | batch 1 median ms | batch 256 images/s | Shrink ÷ ONNX Runtime (batch-1 time) | ONNX Runtime ÷ Shrink (throughput) |")
print("|---:|---|---:|---:|---:|---:|")
for threads in (1, 2):
    (ms, rate), (oms, orate) = best[("shrink", threads)], best[("ort", threads)]
    print(f"| {threads} | Shrink | {ms:.3f} | {rate:,.0f} | | |")
    print(f"| {threads} | ONNX Runtime (Shrink's ONNX export) | {oms:.3f} | {orate:,.0f} | {ms / oms:.2f} | {orate / rate:.2f}× |")
PY
