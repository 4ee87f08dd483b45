#!/usr/bin/env python3
"""Checks a Shrink model file from Python, as a user would open it.

    check_model_file.py MODEL.safetensors [LOGITS.npy DATA.npz]

1. Python's `safetensors` package opens the file; tensor names, shapes and metadata are as documented.
2. With LOGITS.npy (written by `shrink eval --save-logits`) and the NPZ the logits came from: when PyTorch is
   importable, the same architecture built as a torch.nn graph from the metadata loads the tensors with
   `load_state_dict` unchanged and reproduces Shrink's logits (max abs difference <= 1e-4).
Exits non-zero with a message on the first failed check; prints one line per check that passed.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def main():
    path = sys.argv[1]
    weights = load_file(path)
    with safe_open(path, "np") as f:
        meta = f.metadata()
    for key in ("format", "shrink.version", "shrink.architecture", "shrink.graph", "shrink.normalization",
                "shrink.provenance"):
        if key not in meta:
            fail("metadata has no %s" % key)
    graph = json.loads(meta["shrink.graph"])
    norm = json.loads(meta["shrink.normalization"])
    expected = set()
    for node in graph["nodes"]:
        spec = node["layer"]
        if spec["kind"] in ("linear", "conv2d"):
            expected.add(node["name"] + ".weight")
            if spec.get("bias", True):
                expected.add(node["name"] + ".bias")
        elif spec["kind"] == "batchnorm":
            expected |= {node["name"] + "." + p for p in ("weight", "bias", "running_mean", "running_var")}
    if set(weights) != expected:
        fail("tensor names %s, expected %s" % (sorted(weights), sorted(expected)))
    if any(w.dtype != np.float32 for w in weights.values()):
        fail("a tensor is not float32")
    print("ok: safetensors opens %s: %d tensors, architecture %s" % (path, len(weights), meta["shrink.architecture"]))
    if len(sys.argv) < 4:
        return
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        fail("PyTorch is not importable; the output comparison needs Debian's python3-torch "
             "(Scripts/install-deps.sh --with-test-tools installs it)")

    class Net(nn.Module):
        """The Shrink graph as torch modules with the same names, run in topological order."""

        def __init__(self):
            super().__init__()
            self.plan = []
            for node in graph["nodes"]:
                s, name = node["layer"], node["name"]
                kind = s["kind"]
                if kind == "linear":
                    m = nn.Linear(s["input_features"], s["output_features"], bias=s.get("bias", True))
                elif kind == "conv2d":
                    m = nn.Conv2d(s["input_channels"], s["output_channels"], s["kernel_size"], stride=s.get("stride", 1),
                                  padding=s.get("padding", 0), groups=s.get("groups", 1), bias=s.get("bias", True))
                elif kind == "batchnorm":
                    m = nn.BatchNorm2d(s["features"], eps=s.get("epsilon", 1e-5), momentum=s.get("momentum", 0.1))
                elif kind == "relu":
                    m = nn.ReLU()
                elif kind == "relu6":
                    m = nn.ReLU6()
                elif kind == "maxpool2d":
                    m = nn.MaxPool2d(s["kernel_size"], s.get("stride"), s.get("padding", 0))
                elif kind == "avgpool2d":
                    m = nn.AvgPool2d(s["kernel_size"], s.get("stride"), s.get("padding", 0))
                elif kind == "globalavgpool":
                    m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
                elif kind == "flatten":
                    m = nn.Flatten(1)
                elif kind == "dropout":
                    m = nn.Dropout(s.get("probability", 0.5))
                elif kind in ("add", "concat"):
                    m = None
                else:
                    fail("unknown layer kind %s" % kind)
                if m is not None:
                    self.add_module(name, m)
                self.plan.append((name, kind, node["inputs"]))

        def forward(self, x):
            values = {"input": x}
            for name, kind, inputs in self.plan:
                args = [values[i] for i in inputs]
                if kind == "add":
                    values[name] = sum(args[1:], args[0])
                elif kind == "concat":
                    values[name] = torch.cat(args, 1)
                else:
                    values[name] = getattr(self, name)(args[0])
            return values[graph["output"]]

    net = Net().eval()
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    real_missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if real_missing or unexpected:
        fail("load_state_dict: missing %s, unexpected %s" % (real_missing, unexpected))
    ours = np.load(sys.argv[2])
    data = np.load(sys.argv[3])
    x = data["x_test"][: ours.shape[0]]
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.ndim == 3:
        x = x[:, None, :, :]
    x = (x - norm["mean"]) / norm["std"]
    with torch.no_grad():
        theirs = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    diff = float(np.abs(theirs - ours).max())
    if diff > 1e-4:
        fail("PyTorch logits differ from Shrink's by %g (> 1e-4)" % diff)
    print("ok: PyTorch %s reproduces Shrink's logits on %d samples (max abs difference %.2e)"
          % (torch.__version__, ours.shape[0], diff))


if __name__ == "__main__":
    main()
