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
        # Shrink's float engine multiplies with its built-in kernel (sgemm-builtin); "sgemm" is OpenBLAS.
        kernels = {(k["m"], k["n"], k["k"]): k for k in load(os.path.join(d, "kernels-t%d.json" % t))["kernels"]
                   if k["name"] == "sgemm-builtin"}
        row("fmnist-cnn training, images/s (batch 128)", t, train["samples_per_second"],
            peer("torch_debian", "FMNIST-CNN train step bs128", t), None)
        row("fmnist-cnn inference latency, ms (batch 1)", t, by_batch[1]["median_ms"],
            peer("torch_debian", "FMNIST-CNN fp32 infer bs1 latency", t),
            peer("ort", "FMNIST-CNN fp32 infer bs1 latency", t), lower_is_better=True)
        row("fmnist-cnn inference, images/s (batch 256)", t, by_batch[256]["samples_per_second"],
            peer("torch_debian", "FMNIST-CNN fp32 infer bs256 throughput", t),
            peer("ort", "FMNIST-CNN fp32 infer bs256 throughput", t))
        row("sgemm 1024³ (built-in kernel), GFLOP/s", t, kernels[(1024, 1024, 1024)]["gops"],
            peer("torch_debian", "sgemm 1024x1024x1024 cblas_sgemm(ctypes)", t),
            peer("ort", "sgemm 1024x1024x1024 ORT MatMul", t))
        int8_path = os.path.join(d, "bench-int8-t%d.json" % t)
        if os.path.exists(int8_path):
            q = {b["batch_size"]: b for b in load(int8_path)["models"][0]["latency"]}
            row("fmnist-cnn int8 inference latency, ms (batch 1)", t, q[1]["median_ms"],
                peer("torch_debian", "FMNIST-CNN int8 [onednn] infer bs1 latency", t),
                peer("ort", "FMNIST-CNN int8 QDQ per-channel infer bs1 latency", t), lower_is_better=True)
            row("fmnist-cnn int8 inference, images/s (batch 256)", t, q[256]["samples_per_second"],
                peer("torch_debian", "FMNIST-CNN int8 [onednn] infer bs256 throughput", t),
                peer("ort", "FMNIST-CNN int8 QDQ per-channel infer bs256 throughput", t))
        # The u8 × s8 kernel runs on one thread (the integer engine splits batches across threads instead), so it
        # is compared at one thread only.
        native = {(k["m"], k["n"], k["k"]): k for k in load(os.path.join(d, "kernels-t%d.json" % t))["kernels"]
                  if k["name"] == "u8s8-native" and k["threads"] == t}
        if native:
            row("int8 GEMM 1024³, Gop/s", t, native[(1024, 1024, 1024)]["gops"],
                peer("torch_debian", "int8 linear 1024x1024x1024 [onednn]", t),
                peer("ort", "int8 1024x1024x1024 ORT MatMulInteger", t))
            row("int8 GEMM 1×512×512, Gop/s", t, native[(1, 512, 512)]["gops"],
                peer("torch_debian", "int8 linear 1x512x512 [onednn]", t),
                peer("ort", "int8 1x512x512 ORT MatMulInteger", t))

    # Shrink's own ratios at one thread count (what the issues' speed targets are stated in).
    print()
    print("| Shrink, same run | threads | value |")
    print("|---|---:|---:|")
    for t in (1, 2):
        kernels = load(os.path.join(d, "kernels-t%d.json" % t))["kernels"]
        by = {(k["name"], k["m"], k["n"], k["k"]): k["gops"] for k in kernels if k["threads"] == t}
        for shape in [(1024, 1024, 1024), (256, 128, 3136), (1, 512, 512)]:
            for sgemm in ("sgemm", "sgemm-builtin"):  # OpenBLAS, and Shrink's own float kernel
                if ("u8s8-native",) + shape in by and (sgemm,) + shape in by:
                    print("| u8s8-native ÷ %s at %s | %d | %.2f× |" % (sgemm, "×".join(map(str, shape)), t,
                          by[("u8s8-native",) + shape] / by[(sgemm,) + shape]))
        int8_path = os.path.join(d, "bench-int8-t%d.json" % t)
        if os.path.exists(int8_path):
            f = {b["batch_size"]: b for b in load(os.path.join(d, "bench-t%d.json" % t))["models"][0]["latency"]}
            q = {b["batch_size"]: b for b in load(int8_path)["models"][0]["latency"]}
            print("| int8 ÷ float fmnist-cnn throughput at batch 256 | %d | %.2f× |" % (
                t, q[256]["samples_per_second"] / f[256]["samples_per_second"]))
            print("| float ÷ int8 fmnist-cnn latency at batch 1 | %d | %.2f× |" % (
                t, f[1]["median_ms"] / q[1]["median_ms"]))
    quantize_path = os.path.join(d, "quantize.json")
    if os.path.exists(quantize_path):
        qz = load(quantize_path)
        print()
        print("| int8 PTQ, Fashion-MNIST test accuracy | float | int8 | bytes |")
        print("|---|---:|---:|---:|")
        print("| Shrink (%s) | %.2f%% | %.2f%% | %s of %s |" % (
            qz["chosen"]["observer"], 100 * qz["float_test_accuracy"], 100 * qz["quantized_test_accuracy"],
            "{:,}".format(qz["quantized_bytes"]), "{:,}".format(qz["float_bytes"])))
        for runtime, name, label in [("torch_debian", "FMNIST-CNN int8 PTQ [onednn] test accuracy", "PyTorch oneDNN"),
                                     ("ort", "FMNIST-CNN int8 QDQ per-channel test accuracy", "ONNX Runtime QDQ")]:
            v, f = peer(runtime, name, None), peer(runtime, "FMNIST-CNN fp32 test accuracy", None)
            if v is not None:
                print("| %s (its own 2-epoch float model) | %s | %.2f%% | — |" % (
                    label, "—" if f is None else "%.2f%%" % (100 * f), 100 * v))


if __name__ == "__main__":
    main()
