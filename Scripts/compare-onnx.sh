#!/usr/bin/env bash
# The same int8 model on two engines, in one sitting (docs/benchmarks.md, "ONNX Runtime on Shrink's exported int8
# model"): `shrink bench` of an integer-engine model file, then ONNX Runtime on its `shrink export` QDQ file, at
# batch 1 (median latency) and batch 256 (throughput), with 1 and 2 threads. Also prints both engines' test accuracy
# on Fashion-MNIST and their agreement.
# Usage: Scripts/compare-onnx.sh [SHRINK_BINARY] [INT8_MODEL] [SECONDS]
#        (defaults .build/release/shrink, $SHRINK_MODEL_DIR/fmnist-cnn.int8.safetensors, 2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shrink="${1:-$root/.build/release/shrink}"
model="${2:-${SHRINK_MODEL_DIR:-$root/out/models}/fmnist-cnn.int8.safetensors}"
seconds="${3:-2}"
source "$root/Scripts/interop-venv.sh"
ort_require "import onnx, onnxruntime" "numpy<2" onnx onnxruntime
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$shrink" export "$model" --out "$work/model.onnx" > /dev/null
"$shrink" eval "$model" --data fashion-mnist --save-logits "$work/logits.npy" > /dev/null
for threads in 1 2; do
  "$shrink" bench "$model" --threads "$threads" --batch-sizes 1,256 --seconds "$seconds" --json > "$work/shrink-$threads.json"
done
"$ortvenv/bin/python" - "$work" "$seconds" <<'PY'
import gzip, json, sys, time
import numpy as np
import onnx
import onnxruntime as ort
work, seconds = sys.argv[1], float(sys.argv[2])
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
print("| threads | engine | batch 1 median ms | batch 256 images/s | ONNX Runtime ÷ Shrink (throughput) |")
print("|---:|---|---:|---:|---:|")
for threads in (1, 2):
    bench = json.load(open(f"{work}/shrink-{threads}.json"))
    lat = {l["batch_size"]: l for l in bench["models"][0]["latency"]}
    s = session(threads)
    one, many = timed(s, 1), timed(s, 256)
    ours_tp = lat[256]["samples_per_second"]
    print(f"| {threads} | Shrink integer engine | {lat[1]['median_ms']:.3f} | {ours_tp:,.0f} | |")
    print(f"| {threads} | ONNX Runtime (QDQ export) | {1000 * one:.3f} | {256 / many:,.0f} | {256 / many / ours_tp:.2f}× |")
PY
