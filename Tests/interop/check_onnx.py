#!/usr/bin/env python3
"""Cross-checks Shrink's ONNX files with real clients.

    check_onnx.py export MODEL.onnx LOGITS.npy DATA.npz
        onnx.checker accepts the file (full check), and ONNX Runtime's outputs on DATA's test inputs, normalised as
        the file's metadata says, match Shrink's logits (written by `shrink eval --save-logits`): max abs difference
        <= 1e-4.
    check_onnx.py torch-export OUT.onnx LOGITS_OUT.npy DATA.npz
        Builds a small network in PyTorch (conv, BatchNorm, ReLU, max-pooling, a residual add, a concat, ReLU6,
        global average pooling, flatten, linear), exports it with torch.onnx.export (opset 13, dynamic batch) and
        saves PyTorch's logits on DATA's test inputs scaled to [0, 1].
    check_onnx.py torch-activations OUT.onnx LOGITS_OUT.npy DATA.npz
        The same for a network of the mobile families' activations (hard-swish, hard-sigmoid, leaky ReLU, sigmoid)
        between convs, exported at opset 14 (where HardSwish is one operator).
    check_onnx.py torchvision NAME OUT.onnx LOGITS_OUT.npy DATA_OUT.npz
        Builds torchvision's NAME with random weights (seed 0), exports it (opset 13, dynamic batch, 224×224) and saves
        two random images as DATA (float32, train and test splits) and PyTorch's logits on them.
    check_onnx.py torchvision-data NAME OUT.onnx LOGITS_OUT.npy DATA_OUT.npz SIZE TRAIN
        The same at SIZE×SIZE with TRAIN random training images (and two test images), for the torchvision table.
    check_onnx.py ort-relative MODEL.onnx LOGITS.npy DATA.npz
        Runs MODEL in ONNX Runtime on DATA's test inputs as they are and prints its largest difference from LOGITS
        relative to the largest |logit| (no threshold: a figure for a table).
    check_onnx.py relative A.npy B.npy
        The two logit arrays match within 1e-4 of the largest |logit|.
    check_onnx.py int8 MODEL.onnx LOGITS.npy [FASHION_MNIST_DIR]
        An int8 QDQ export passes onnx.checker, ONNX Runtime runs it on its int8 kernels (QLinearConv/QGemm after
        its graph optimisation), and its predictions on the 10,000 Fashion-MNIST test images agree with Shrink's
        integer engine (LOGITS.npy from `shrink eval --save-logits`) on at least 99.5% of them.
    check_onnx.py compare A.npy B.npy
        The two logit arrays match (max abs difference <= 1e-4).
Prints one line per check that passed; exits non-zero with a message on the first that failed.
"""
import json
import sys

import numpy as np


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def export_check(model_path, logits_path, data_path):
    import onnx
    import onnxruntime as ort
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    print("ok: onnx.checker accepts %s (opset %d)" % (model_path, model.opset_import[0].version))
    meta = {p.key: p.value for p in model.metadata_props}
    norm = json.loads(meta["shrink.normalization"])
    data = np.load(data_path)
    x = data["x_test"].astype(np.float32) / 255.0
    x = (x - norm["mean"]) / norm["std"]
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_shape = session.get_inputs()[0].shape
    x = x.reshape([x.shape[0]] + [int(d) for d in input_shape[1:]]).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    want = np.load(logits_path)
    diff = float(np.max(np.abs(got - want)))
    if got.shape != want.shape or diff > 1e-4:
        fail("ONNX Runtime's outputs differ from Shrink's: shapes %s / %s, max abs difference %g" % (got.shape, want.shape, diff))
    agree = float(np.mean(got.argmax(1) == want.argmax(1)))
    print("ok: ONNX Runtime %s matches Shrink on %d samples: max abs difference %.2e, predictions agree %.2f%%"
          % (ort.__version__, len(x), diff, 100 * agree))


def torch_export(out_path, logits_path, data_path):
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        fail("PyTorch is not importable; Debian's python3-torch is needed (Scripts/install-deps.sh --with-test-tools)")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
            self.conv3 = nn.Conv2d(8, 4, 1)
            self.fc = nn.Linear(12, 3)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            y = torch.relu(self.conv2(x)) + x
            z = torch.cat([y, self.conv3(y)], 1)
            z = torch.clamp(z, 0, 6)
            z = nn.functional.adaptive_avg_pool2d(z, 1)
            return self.fc(z.view(z.size(0), -1))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.bn1.running_mean.uniform_(-0.2, 0.2)
        net.bn1.running_var.uniform_(0.5, 1.5)
    net.eval()
    data = np.load(data_path)
    x = torch.from_numpy(data["x_test"].astype(np.float32) / 255.0).reshape(-1, 1, 12, 12)
    torch.onnx.export(net, x[:1], out_path, opset_version=13, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    with torch.no_grad():
        np.save(logits_path, net(x).numpy())
    print("ok: PyTorch %s exported %s" % (torch.__version__, out_path))


def torch_activations(out_path, logits_path, data_path):
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        fail("PyTorch is not importable; Debian's python3-torch is needed (Scripts/install-deps.sh --with-test-tools)")

    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.Hardswish(),
        nn.Conv2d(8, 8, 3, padding=1), nn.Hardsigmoid(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(8, 4, 1), nn.Sigmoid(),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.uniform_(m.weight, -1, 1)
    net.eval()
    data = np.load(data_path)
    x = torch.from_numpy(data["x_test"].astype(np.float32) / 255.0).reshape(-1, 1, 12, 12)
    torch.onnx.export(net, x[:1], out_path, opset_version=14, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    with torch.no_grad():
        np.save(logits_path, net(x).numpy())
    print("ok: PyTorch %s exported %s" % (torch.__version__, out_path))


def int8_predictions(model_path, data_dir):
    """ONNX Runtime's logits for the Fashion-MNIST test images on a QDQ file (checked), its labels, its int8 kernels."""
    import gzip
    import os
    import tempfile
    import onnx
    import onnxruntime as ort
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    norm = json.loads({p.key: p.value for p in model.metadata_props}["shrink.normalization"])
    with gzip.open(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = ((x.astype(np.float32) / 255.0 - norm["mean"]) / norm["std"]).astype(np.float32)
    options = ort.SessionOptions()
    optimized = os.path.join(tempfile.mkdtemp(), "optimized.onnx")
    options.optimized_model_filepath = optimized
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    kernels = sorted(set(n.op_type for n in onnx.load(optimized).graph.node))
    if not any(k in kernels for k in ("QLinearConv", "QGemm", "QLinearMatMul")):
        fail("ONNX Runtime did not fuse the QDQ graph into int8 kernels: %s" % kernels)
    return session.run(None, {session.get_inputs()[0].name: x})[0], y, kernels


def int8_pair(base_model, base_logits, model_path, logits_path, data_dir="/usr/share/datasets/fashion-mnist"):
    """A QDQ file agrees with Shrink's integer engine about as well as a baseline file of the same network does
    (within 0.5 points), and ONNX Runtime's accuracy on it is within 1 point of Shrink's."""
    import onnxruntime as ort
    base, _, _ = int8_predictions(base_model, data_dir)
    got, y, kernels = int8_predictions(model_path, data_dir)
    base_agree = float(np.mean(base.argmax(1) == np.load(base_logits).argmax(1)))
    want = np.load(logits_path)
    agree = float(np.mean(got.argmax(1) == want.argmax(1)))
    ours, theirs = float(np.mean(want.argmax(1) == y)), float(np.mean(got.argmax(1) == y))
    if agree < base_agree - 0.005:
        fail("ONNX Runtime agrees with Shrink on %.2f%% for %s, %.2f%% for the baseline %s" % (
            100 * agree, model_path, 100 * base_agree, base_model))
    if abs(ours - theirs) > 0.01:
        fail("ONNX Runtime scores %.2f%% on %s, Shrink %.2f%%" % (100 * theirs, model_path, 100 * ours))
    print("ok: ONNX Runtime %s runs %s on %s; it scores %.2f%% (Shrink %.2f%%) and agrees with Shrink's integer "
          "engine on %.2f%% (the baseline on %.2f%%)" % (ort.__version__, model_path, ", ".join(kernels), 100 * theirs,
                                                         100 * ours, 100 * agree, 100 * base_agree))


def int8_check(model_path, logits_path, data_dir="/usr/share/datasets/fashion-mnist"):
    import onnxruntime as ort
    got, y, kernels = int8_predictions(model_path, data_dir)
    want = np.load(logits_path)
    agree = float(np.mean(got.argmax(1) == want.argmax(1)))
    if agree < 0.995:
        fail("ONNX Runtime's int8 predictions agree with Shrink's integer engine on %.2f%% (< 99.5%%)" % (100 * agree))
    print("ok: ONNX Runtime %s runs %s on %s; on %d Fashion-MNIST test images it scores %.2f%% (Shrink %.2f%%) and "
          "agrees with Shrink's integer engine on %.2f%%" % (ort.__version__, model_path, ", ".join(kernels), len(y),
          100 * float(np.mean(got.argmax(1) == y)), 100 * float(np.mean(want.argmax(1) == y)), 100 * agree))


def torchvision_export(name, out_path, logits_path, data_path, size=224, train=0):
    import torch
    import torchvision
    torch.manual_seed(0)
    size, train = int(size), int(train)
    # init_weights=False: PyTorch's default initialisation; torchvision's own (truncated normal, std 0.01) makes
    # GoogLeNet's features vanish, so every image would give the same logits (the classifier's bias).
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    net = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    x = torch.rand(2, 3, size, size)
    torch.onnx.export(net, x, out_path, opset_version=13, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    with torch.no_grad():
        logits = net(x)
    np.save(logits_path, logits.numpy())
    # Labels: PyTorch's own predictions, so the class count is the network's.
    classes = logits.shape[1]
    x_train = torch.rand(train, 3, size, size).numpy() if train else x.numpy()
    y_train = (np.arange(len(x_train)) % classes).astype(np.int64)
    y_test = np.array([classes - 1, 0], np.int64)
    np.savez(data_path, x_train=x_train, y_train=y_train, x_test=x.numpy(), y_test=y_test)
    print("ok: torchvision %s exported %s" % (torchvision.__version__, name))


def ort_relative(model_path, logits_path, data_path):
    import onnxruntime as ort
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    x = np.load(data_path)["x_test"].astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    want = np.load(logits_path)
    largest, diff = float(np.max(np.abs(want))), float(np.max(np.abs(got - want)))
    if got.shape != want.shape:
        fail("shapes differ: %s from ONNX Runtime, %s expected" % (got.shape, want.shape))
    if largest == 0:
        print("%.1e (absolute; the expected logits are all 0)" % diff)
    else:
        print("%.1e" % (diff / largest))


def relative(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    error = float(np.max(np.abs(a - b))) / float(np.max(np.abs(a)))
    if a.shape != b.shape or error > 1e-4:
        fail("logits differ: shapes %s / %s, max error %g of the largest logit" % (a.shape, b.shape, error))
    print("ok: %s and %s match: max error %.1e of the largest logit" % (a_path, b_path, error))


def compare(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    diff = float(np.max(np.abs(a - b)))
    if a.shape != b.shape or diff > 1e-4:
        fail("logits differ: shapes %s / %s, max abs difference %g" % (a.shape, b.shape, diff))
    print("ok: %s and %s match: max abs difference %.2e on %d samples" % (a_path, b_path, diff, len(a)))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "export":
        export_check(*sys.argv[2:5])
    elif command == "torch-activations":
        torch_activations(*sys.argv[2:5])
    elif command == "torch-export":
        torch_export(*sys.argv[2:5])
    elif command == "int8":
        int8_check(*sys.argv[2:5])
    elif command == "int8-pair":
        int8_pair(*sys.argv[2:7])
    elif command == "torchvision":
        torchvision_export(*sys.argv[2:6])
    elif command == "torchvision-data":
        torchvision_export(*sys.argv[2:8])
    elif command == "ort-relative":
        ort_relative(*sys.argv[2:5])
    elif command == "relative":
        relative(*sys.argv[2:4])
    elif command == "compare":
        compare(*sys.argv[2:4])
    else:
        fail("unknown command %s" % command)
