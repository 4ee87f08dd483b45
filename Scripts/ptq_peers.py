"""The Python half of Scripts/compare-ptq.sh: post-training int8 quantization of one float ONNX file by ONNX Runtime
and by PyTorch, calibrated on the images Shrink calibrates on and scored on the Fashion-MNIST test split.

  ptq_peers.py data WORK ARCH CALIBRATION_SAMPLES   numpy: WORK/ARCH-{calibration,test}.npy from WORK/ARCH.safetensors
  ptq_peers.py ort WORK ARCH                         in .build/ort-venv (onnx, onnxruntime): WORK/ARCH-ort.json
  ptq_peers.py torch WORK ARCH                       in .build/interop-venv (Debian torch, onnx2torch): ARCH-torch.json
  ptq_peers.py shrink-row WORK ARCH METHOD REPORT    appends a `shrink quantize --json` REPORT (or n/a) to ARCH-shrink.json
  ptq_peers.py report WORK OUT.json ARCH…            prints the Markdown table; writes OUT.json

`data` prepares inputs exactly as Shrink feeds its model (Sources/Datasets/DataSource.swift,
Sources/Datasets/Normalization.swift, Model.prepare): the IDX bytes of $SHRINK_DATA_DIR (or its fashion-mnist
subdirectory) or /usr/share/datasets/fashion-mnist, `Float(byte) / 255`, then `(x − mean) / std` with the scalar
mean and std stored in the model file's `shrink.normalization`, all in float32. The calibration images are the first
CALIBRATION_SAMPLES of the *training* split, as `shrink quantize --calibration-samples` takes them
(CalibrationSplit.parts: at most half the training split); the test split is only scored, never calibrated on.

`ort` and `torch` each write WORK/ARCH-ENGINE.json: the float check (the float ONNX file on that engine against
`shrink eval`'s logits in WORK/ARCH-float-logits.npy) and one row per method.
"""
import gzip
import inspect
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

CALIBRATION_BATCH = 100  # images per calibration call, for every engine's observers alike
EVAL_BATCH = 1000


def log(message):
    print(f"ptq_peers: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------- data


def fashion_mnist_directory():
    """Where `shrink ... --data fashion-mnist` reads the IDX files (DataSource.loadFashionMNIST)."""
    custom = os.environ.get("SHRINK_DATA_DIR", "")
    if not custom:
        return "/usr/share/datasets/fashion-mnist"
    nested = os.path.join(custom, "fashion-mnist")
    if find_idx(custom, "train-images-idx3-ubyte") is None and os.path.isdir(nested):
        return nested
    return custom


def find_idx(directory, base):
    for name in (base, base + ".gz"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def read_idx(directory, base):
    path = find_idx(directory, base)
    if path is None:
        sys.exit(f"ptq_peers: {directory} holds no {base} or {base}.gz")
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    zero, kind, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        sys.exit(f"ptq_peers: {path} is not an IDX file of unsigned bytes")
    shape = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(shape)


def model_normalization(path):
    """The `shrink.normalization` metadata of a Shrink .safetensors file, as float32 mean and std."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    norm = json.loads(header["__metadata__"]["shrink.normalization"])
    return np.float32(norm["mean"]), np.float32(norm["std"])


def prepare(images, mean, std):
    """(N, 28, 28) uint8 → (N, 1, 28, 28) float32, as Shrink computes it (float32 throughout)."""
    x = images.astype(np.float32) / np.float32(255)
    x = (x - mean) / std
    return np.ascontiguousarray(x.reshape(len(images), 1, *images.shape[1:]), dtype=np.float32)


def command_data(work, arch, calibration_samples):
    directory = fashion_mnist_directory()
    mean, std = model_normalization(os.path.join(work, f"{arch}.safetensors"))
    train = read_idx(directory, "train-images-idx3-ubyte")
    count = min(int(calibration_samples), max(1, len(train) // 2))  # CalibrationSplit.parts
    if count != int(calibration_samples):
        log(f"{calibration_samples} calibration samples asked for; Shrink takes {count} of {len(train)}")
    test = read_idx(directory, "t10k-images-idx3-ubyte")
    labels = read_idx(directory, "t10k-labels-idx1-ubyte").astype(np.int64)
    np.save(os.path.join(work, f"{arch}-calibration.npy"), prepare(train[:count], mean, std))
    np.save(os.path.join(work, f"{arch}-test.npy"), prepare(test, mean, std))
    np.save(os.path.join(work, f"{arch}-test-labels.npy"), labels)
    with open(os.path.join(work, f"{arch}-data.json"), "w") as f:
        json.dump({"source": directory, "mean": float(mean), "std": float(std), "calibration_samples": count,
                   "calibration_split": "train[0:%d]" % count, "test_samples": len(test)}, f)
    log(f"{arch}: data from {directory}: calibration train[0:{count}], test {len(test)}, mean {mean}, std {std}")


def load_data(work, arch):
    return tuple(np.load(os.path.join(work, f"{arch}-{part}.npy")) for part in ("calibration", "test", "test-labels"))


def float_check(work, arch, logits, labels):
    """Accuracy of an engine's float logits beside `shrink eval`'s, and how far they are apart."""
    shrink_logits = np.load(os.path.join(work, f"{arch}-float-logits.npy"))
    with open(os.path.join(work, f"{arch}-float-eval.json")) as f:
        shrink_accuracy = json.load(f)["accuracy"]
    return {
        "accuracy": float(np.mean(logits.argmax(1) == labels)),
        "shrink_eval_accuracy": shrink_accuracy,
        "shrink_logits_accuracy": float(np.mean(shrink_logits.argmax(1) == labels)),
        "agreement_with_shrink": float(np.mean(logits.argmax(1) == shrink_logits.argmax(1))),
        "max_abs_logit_difference": float(np.max(np.abs(logits - shrink_logits))),
    }


def write_rows(work, arch, engine, version, check, rows):
    path = os.path.join(work, f"{arch}-{engine}.json")
    with open(path, "w") as f:
        json.dump({"engine": engine, "version": version, "float_check": check, "rows": rows}, f, indent=1)
    log(f"wrote {path}")


# ----------------------------------------------------------------------------------------------------- ONNX Runtime


def command_ort(work, arch):
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration, test, labels = load_data(work, arch)
    float_path = os.path.join(work, f"{arch}.onnx")
    metadata = {p.key: p.value for p in onnx.load(float_path).metadata_props}
    with open(os.path.join(work, f"{arch}-data.json")) as f:
        data = json.load(f)
    norm = json.loads(metadata["shrink.normalization"])
    if (np.float32(norm["mean"]), np.float32(norm["std"])) != (np.float32(data["mean"]), np.float32(data["std"])):
        sys.exit(f"ptq_peers: the ONNX file's normalisation {norm} is not the model file's {data}")

    def session(path):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def logits_of(path):
        s = session(path)
        name = s.get_inputs()[0].name
        return np.concatenate([s.run(None, {name: test[i:i + EVAL_BATCH]})[0] for i in range(0, len(test), EVAL_BATCH)])

    check = float_check(work, arch, logits_of(float_path), labels)
    # The calibration images too: `shrink eval --split train --limit N` logits of train[0:N] against ORT's on
    # WORK/ARCH-calibration.npy (a different image or order would show as a large difference).
    s = session(float_path)
    calibration_logits = s.run(None, {s.get_inputs()[0].name: calibration})[0]
    shrink_calibration_logits = np.load(os.path.join(work, f"{arch}-calibration-logits.npy"))
    if calibration_logits.shape != shrink_calibration_logits.shape:
        sys.exit(f"ptq_peers: {len(calibration)} calibration images here, {len(shrink_calibration_logits)} from Shrink")
    check["calibration_max_abs_logit_difference"] = float(np.max(np.abs(calibration_logits - shrink_calibration_logits)))
    if check["calibration_max_abs_logit_difference"] > 1e-3 or check["max_abs_logit_difference"] > 1e-3:
        sys.exit(f"ptq_peers: ONNX Runtime's float logits differ from Shrink's by up to "
                 f"{max(check['calibration_max_abs_logit_difference'], check['max_abs_logit_difference']):.3g}: "
                 "the inputs are not prepared as Shrink prepares them")
    log(f"{arch}: float ONNX on ONNX Runtime {100 * check['accuracy']:.2f}%, shrink eval "
        f"{100 * check['shrink_eval_accuracy']:.2f}%, predictions agree on {100 * check['agreement_with_shrink']:.2f}%, largest logit difference "
        f"{check['max_abs_logit_difference']:.1e} (test), {check['calibration_max_abs_logit_difference']:.1e} (calibration)")

    # ORT's recommended pre-processing: shape inference and the basic graph optimisations, which fold each
    # BatchNormalization into its Conv (as Shrink and PyTorch's convert do before quantizing).
    pre_path = os.path.join(work, f"{arch}-ort-pre.onnx")
    quant_pre_process(float_path, pre_path, skip_symbolic_shape=True)
    left = sorted({n.op_type for n in onnx.load(pre_path).graph.node})
    log(f"{arch}: after quant_pre_process the graph has {left}")

    class Reader(CalibrationDataReader):
        def __init__(self, name):
            self.name = name
            self.rewind()

        def get_next(self):
            return next(self.batches, None)

        def rewind(self):
            self.batches = iter([{self.name: calibration[i:i + CALIBRATION_BATCH]}
                                 for i in range(0, len(calibration), CALIBRATION_BATCH)])

    input_name = session(pre_path).get_inputs()[0].name

    def entropy_2048_cache(path):
        """quantize_static does not pass num_bins / num_quantized_bins on to its calibrator, and its Entropy default
        (128 and 128) leaves a single candidate threshold, the whole histogram: MinMax's range. So this row runs
        ORT's own EntropyCalibrater with TensorRT's 2048 bins and 128 quantized bins (create_calibrator, over the
        op types quantize_static calibrates) and hands its ranges to quantize_static as a calibration cache."""
        from onnxruntime.quantization import create_calibrator, save_tensors_data
        from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
        with tempfile.TemporaryDirectory(prefix="ptq-ort.") as tmp:
            calibrator = create_calibrator(
                pre_path, sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
                augmented_model_path=os.path.join(tmp, "augmented.onnx"), calibrate_method=CalibrationMethod.Entropy,
                extra_options={"num_bins": 2048, "num_quantized_bins": 128})
            calibrator.collect_data(Reader(input_name))
            save_tensors_data(calibrator.compute_data(), path)
        return {"calibration_cache_path": path}

    has_cache = "calibration_cache_path" in inspect.signature(quantize_static).parameters
    methods = [("minmax", "MinMax", CalibrationMethod.MinMax, {}, None),
               ("entropy", "Entropy (defaults: 128 bins)", CalibrationMethod.Entropy, {}, None),
               ("entropy-2048", "Entropy, 2048 bins / 128 quantized", CalibrationMethod.Entropy, {},
                entropy_2048_cache if has_cache else "n/a"),
               ("percentile", "Percentile 99.999", CalibrationMethod.Percentile, {"CalibPercentile": 99.999}, None)]
    rows = []
    for tag, label, method, calibration_options, prepare_cache in methods:
        row = {"engine": f"ONNX Runtime {ort.__version__}", "method": f"quantize_static {label}, QDQ, per-tensor",
               "float_test_accuracy": check["accuracy"], "int8_test_accuracy": None}
        rows.append(row)
        if prepare_cache == "n/a":
            log(f"{arch}: ORT {label}: n/a (this quantize_static takes no calibration_cache_path)")
            continue
        out_path = os.path.join(work, f"{arch}-ort-{tag}.onnx")
        start = time.perf_counter()
        cache = prepare_cache(os.path.join(work, f"{arch}-ort-{tag}-ranges.json")) if prepare_cache else {}
        quantize_static(pre_path, out_path, Reader(input_name), quant_format=QuantFormat.QDQ, per_channel=False,
                        reduce_range=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=method,
                        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False, **calibration_options},
                        **cache)
        row["calibration_seconds"] = time.perf_counter() - start
        row["int8_test_accuracy"] = float(np.mean(logits_of(out_path).argmax(1) == labels))
        row["file"] = out_path
        log(f"{arch}: ORT {label}: {100 * row['int8_test_accuracy']:.2f}% ({row['calibration_seconds']:.1f} s to quantize)")
    write_rows(work, arch, "ort", ort.__version__, check, rows)


# ----------------------------------------------------------------------------------------------------- PyTorch


def command_torch(work, arch):
    import copy

    import onnx
    import torch
    from onnx2torch import convert
    from torch.ao.quantization import HistogramObserver, MinMaxObserver, QConfig, QConfigMapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    # Debian's torch 1.13 is built without FBGEMM (supported_engines: qnnpack, onednn): take the first of x86,
    # fbgemm, onednn (all server-CPU int8 back ends) that it has, else qnnpack.
    engines = torch.backends.quantized.supported_engines
    engine = next((e for e in ("x86", "fbgemm", "onednn", "qnnpack") if e in engines), None)
    if engine is None:
        sys.exit(f"ptq_peers: this PyTorch has no quantized engine ({engines})")
    torch.backends.quantized.engine = engine
    version = torch.__version__
    try:  # Debian's build calls itself 1.13.0a0; name the package too
        package = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "python3-torch"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        if package and torch.__file__.startswith("/usr/lib/python3/"):
            version += f" (Debian python3-torch {package})"
    except (OSError, subprocess.CalledProcessError):
        pass

    calibration, test, labels = load_data(work, arch)
    calibration, test = torch.from_numpy(calibration), torch.from_numpy(test)
    # onnx2torch turns the ONNX graph into a torch.fx.GraphModule of standard modules: Conv2d, BatchNorm2d,
    # ReLU6 (from Clip 0…6), a global-average-pool module calling torch.mean, Flatten and Linear (from Gemm).
    model = convert(onnx.load(os.path.join(work, f"{arch}.onnx"))).eval()

    def logits_of(m):
        with torch.no_grad():
            return torch.cat([m(test[i:i + EVAL_BATCH]) for i in range(0, len(test), EVAL_BATCH)]).numpy()

    check = float_check(work, arch, logits_of(model), labels.astype(np.int64))
    log(f"{arch}: float onnx2torch module on PyTorch {100 * check['accuracy']:.2f}%, shrink eval "
        f"{100 * check['shrink_eval_accuracy']:.2f}%, predictions agree on {100 * check['agreement_with_shrink']:.2f}%")

    # Per-tensor qconfigs: symmetric int8 weights (MinMaxObserver), affine uint8 activations over the full 0…255
    # (reduce_range=False, as ONNX Runtime's and Shrink's activations; PyTorch's fbgemm default reduces to 7 bits).
    weight = MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    observers = [("MinMaxObserver", MinMaxObserver), ("HistogramObserver", HistogramObserver)]
    rows = []
    for label, observer in observers:
        qconfig = QConfig(activation=observer.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                                                        reduce_range=False), weight=weight)
        start = time.perf_counter()
        # FX graph mode: prepare_fx retraces the onnx2torch GraphModule as it is (its modules are FX-traceable; no
        # eager rebuild needed), fuses Conv2d + BatchNorm2d and inserts the observers; convert_fx folds the
        # BatchNorm and swaps in quantized Conv2d and Linear. PyTorch 1.13 fuses Conv + ReLU but not Conv + ReLU6:
        # a conv's output is observed before the clamp (its range includes the negatives), and ReLU6 and the mean
        # of the global pool keep their input's qparams. Flatten runs in float between a dequantize and a quantize.
        prepared = prepare_fx(copy.deepcopy(model), QConfigMapping().set_global(qconfig),
                              example_inputs=(calibration[:1],))
        with torch.no_grad():
            for i in range(0, len(calibration), CALIBRATION_BATCH):
                prepared(calibration[i:i + CALIBRATION_BATCH])
        quantized = convert_fx(prepared)
        seconds = time.perf_counter() - start
        kinds = sorted({type(m).__module__ + "." + type(m).__name__ for m in quantized.modules()
                        if "quantized" in type(m).__module__})
        accuracy = float(np.mean(logits_of(quantized).argmax(1) == labels))
        rows.append({"engine": f"PyTorch {torch.__version__} ({engine})",
                     "method": f"FX prepare_fx/convert_fx, {label}, per-tensor",
                     "float_test_accuracy": check["accuracy"], "int8_test_accuracy": accuracy,
                     "calibration_seconds": seconds, "quantized_modules": kinds})
        log(f"{arch}: PyTorch {label}: {100 * accuracy:.2f}% ({seconds:.1f} s to calibrate and convert; {kinds})")
    write_rows(work, arch, "torch", version, check, rows)


# ----------------------------------------------------------------------------------------------------- report


def command_shrink_row(work, arch, method, report):
    """Appends one Shrink row: the figures of a `shrink quantize --json` report, or n/a when REPORT is `n/a` (an
    option this binary does not have yet)."""
    path = os.path.join(work, f"{arch}-shrink.json")
    rows = json.load(open(path))["rows"] if os.path.exists(path) else []
    with open(os.path.join(work, f"{arch}-float-eval.json")) as f:
        floating = json.load(f)["accuracy"]  # `shrink eval` of the same float model, for a row that could not run
    row = {"engine": "Shrink", "method": method, "float_test_accuracy": floating, "int8_test_accuracy": None}
    if report != "n/a":
        with open(report) as f:
            figures = json.load(f)
        chosen = figures["chosen"]
        row.update(float_test_accuracy=figures["float_test_accuracy"],
                   int8_test_accuracy=figures["quantized_test_accuracy"], chosen=chosen,
                   attempts=len(figures.get("attempts", [])), test_samples=figures["test_samples"],
                   settings=figures.get("settings"))
        # With the auto defaults of the newer options, the search may add fixes when an attempt falls short of
        # --max-accuracy-drop; name any the row did not ask for, so the method column says what was measured.
        added = []
        if chosen.get("equalization") and "equalization" not in method:
            added.append("equalization")
        if chosen.get("bias_correction") not in (None, "none") and "bias correction" not in method:
            added.append(f"{chosen['bias_correction']} bias correction")
        if chosen.get("rounding") not in (None, "nearest"):
            added.append(f"{chosen['rounding']} rounding")
        if chosen.get("observer") and chosen["observer"] not in method:
            added.append(f"observer {chosen['observer']}")
        if chosen.get("float_layers"):
            added.append("float: " + ", ".join(chosen["float_layers"]))
        if added:
            row["method"] = f"{method} (the search added {', '.join(added)})"
    rows.append(row)
    with open(path, "w") as f:
        json.dump({"engine": "shrink", "rows": rows}, f, indent=1)


def command_report(work, out_path, archs, started):
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "networks": {}}
    versions = {}
    for arch in archs:
        with open(os.path.join(work, f"{arch}-data.json")) as f:
            network = {"data": json.load(f), "float_checks": {}, "rows": []}
        with open(os.path.join(work, f"{arch}-float-eval.json")) as f:
            network["float_checks"]["shrink_eval"] = json.load(f)["accuracy"]
        with open(os.path.join(work, f"{arch}-shrink.json")) as f:
            network["rows"] += json.load(f)["rows"]
        for engine in ("ort", "torch"):
            with open(os.path.join(work, f"{arch}-{engine}.json")) as f:
                peer = json.load(f)
            versions[engine] = peer["version"]
            network["float_checks"][engine] = peer["float_check"]
            network["rows"] += peer["rows"]
        for row in network["rows"]:
            row["drop_points"] = None if row["int8_test_accuracy"] is None else \
                100 * (row["float_test_accuracy"] - row["int8_test_accuracy"])
        result["networks"][arch] = network
    result["versions"] = {"onnxruntime": versions.get("ort"), "torch": versions.get("torch")}
    if started:
        result["seconds"] = round(time.time() - float(started), 1)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)

    def percent(value):
        return "n/a" if value is None else f"{100 * value:.2f}%"

    data = next(iter(result["networks"].values()))["data"]
    print(f"{result['date']}; ONNX Runtime {versions.get('ort')}, PyTorch {versions.get('torch')}; int8 per-tensor "
          f"symmetric weights, uint8 per-tensor activations; calibration: Fashion-MNIST {data['calibration_split']} "
          f"(training split), scored on the {data['test_samples']:,} test images")
    for arch, network in result["networks"].items():
        checks = network["float_checks"]
        print()
        print(f"{arch}, the float model: shrink eval {percent(checks['shrink_eval'])}; the exported ONNX file on "
              f"ONNX Runtime {percent(checks['ort']['accuracy'])} (same prediction as Shrink on "
              f"{percent(checks['ort']['agreement_with_shrink'])} of the images, largest logit difference "
              f"{checks['ort']['max_abs_logit_difference']:.1e}); onnx2torch on PyTorch {percent(checks['torch']['accuracy'])} "
              f"({percent(checks['torch']['agreement_with_shrink'])}, {checks['torch']['max_abs_logit_difference']:.1e})")
        print()
        print("| engine | method | float test accuracy | int8 test accuracy | drop (points) |")
        print("|---|---|---:|---:|---:|")
        for row in network["rows"]:
            drop = row["drop_points"]
            print(f"| {row['engine']} | {row['method']} | {percent(row['float_test_accuracy'])} | "
                  f"{percent(row['int8_test_accuracy'])} | {'n/a' if drop is None else f'{drop:.2f}'} |")


def main(argv):
    if len(argv) == 4 and argv[0] == "data":
        command_data(argv[1], argv[2], argv[3])
    elif len(argv) == 3 and argv[0] == "ort":
        command_ort(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "torch":
        command_torch(argv[1], argv[2])
    elif len(argv) == 5 and argv[0] == "shrink-row":
        command_shrink_row(argv[1], argv[2], argv[3], argv[4])
    elif len(argv) >= 4 and argv[0] == "report":
        command_report(argv[1], argv[2], argv[3:], os.environ.get("PTQ_STARTED"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
