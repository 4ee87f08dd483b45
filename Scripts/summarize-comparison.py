#!/usr/bin/env python3
"""Prints the Shrink-versus-peers table of docs/benchmarks.md from one Scripts/compare-peers.sh run (stdlib only).

    python3 Scripts/summarize-comparison.py out/compare-peers
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "out/compare-peers"
    peers = {(r["runtime"], r["bench"], r["threads"]): r for r in load(os.path.join(d, "peers.json"))["rows"]}

    def peer(runtime, bench, threads):
        r = peers.get((runtime, bench, threads))
        return None if r is None else r.get("median", r.get("value"))

    print("date:", open(os.path.join(d, "date.txt")).read().strip())
    print(open(os.path.join(d, "machine.txt")).read().strip())
    print()
    print("| figure | threads | Shrink | PyTorch (Debian) | ONNX Runtime | Shrink ÷ PyTorch | Shrink ÷ ORT |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def row(name, t, ours, torch, ort, lower_is_better=False):
        def ratio(other):
            if ours is None or other is None:
                return "—"
            # Ratios are "how many times better Shrink is": > 1 means Shrink wins.
            return "%.2f×" % ((other / ours) if lower_is_better else (ours / other))

        def fmt(v):
            return "—" if v is None else ("%.3f" % v if v < 10 else "{:,.0f}".format(v))

        print("| %s | %d | %s | %s | %s | %s | %s |" % (name, t, fmt(ours), fmt(torch), fmt(ort), ratio(torch), ratio(ort)))

    for t in (1, 2):
        bench = load(os.path.join(d, "bench-t%d.json" % t))["models"][0]["latency"]
        by_batch = {b["batch_size"]: b for b in bench}
        train = load(os.path.join(d, "train-speed-t%d.json" % t))
        kernels = {(k["m"], k["n"], k["k"]): k for k in load(os.path.join(d, "kernels-t%d.json" % t))["kernels"]}
        row("fmnist-cnn training, images/s (batch 128)", t, train["samples_per_second"],
            peer("torch_debian", "FMNIST-CNN train step bs128", t), None)
        row("fmnist-cnn inference latency, ms (batch 1)", t, by_batch[1]["median_ms"],
            peer("torch_debian", "FMNIST-CNN fp32 infer bs1 latency", t),
            peer("ort", "FMNIST-CNN fp32 infer bs1 latency", t), lower_is_better=True)
        row("fmnist-cnn inference, images/s (batch 256)", t, by_batch[256]["samples_per_second"],
            peer("torch_debian", "FMNIST-CNN fp32 infer bs256 throughput", t),
            peer("ort", "FMNIST-CNN fp32 infer bs256 throughput", t))
        row("sgemm 1024³, GFLOP/s", t, kernels[(1024, 1024, 1024)]["gops"],
            peer("torch_debian", "sgemm 1024x1024x1024 cblas_sgemm(ctypes)", t),
            peer("ort", "sgemm 1024x1024x1024 ORT MatMul", t))


if __name__ == "__main__":
    main()
