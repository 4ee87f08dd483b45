#!/usr/bin/env python3
"""Generates a synthetic labelled image dataset of drawn shapes (circle, square, triangle) in the torchvision
ImageFolder layout, for Shrink's tests and benchmarks: DIR/train/<class>/<index:06d>.<png|jpg> and
DIR/test/<class>/… (or DIR/val/…), optionally with CSV indexes, deliberately corrupt files and the same samples as
NumPy arrays. Everything is deterministic from --seed; each image's pixels depend only on
(seed, split, class, index), so the number of worker processes does not change the output.

    python3 Scripts/make-image-folder.py --out /tmp/shapes --classes 3 --csv --corrupt 2 --npy /tmp/shapes-npy

Needs Pillow and numpy (Debian: python3-pil, python3-numpy).
"""
import argparse
import io
import multiprocessing
import os
import random
import shutil
import sys
import time

import numpy as np
from PIL import Image, ImageDraw

CLASS_NAMES = ["circle", "square", "triangle"]  # already in sorted order: label = position
SPLIT_IDS = {"train": 0, "test": 1}  # the test split has the same id whether its directory is test/ or val/
JPEG_QUALITY = 90
SMALLEST_SIDE = 8


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Generate a synthetic shapes dataset in the torchvision ImageFolder layout "
                    "(DIR/train/<class>/<index>.<ext>, DIR/test/<class>/...).")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output directory; created if missing; must be empty unless --force")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty --out: its train/ and test (or val) directories and "
                        "train.csv and test.csv (or val.csv) are deleted first so nothing stale remains; other "
                        "files are left alone")
    p.add_argument("--classes", type=int, choices=[2, 3], default=3,
                   help="number of classes: 2 = circle, square; 3 = circle, square, triangle (default 3)")
    p.add_argument("--train-per-class", type=int, default=100, metavar="N",
                   help="training images per class (default 100)")
    p.add_argument("--test-per-class", type=int, default=30, metavar="N",
                   help="test images per class (default 30; 0 writes empty class directories)")
    p.add_argument("--size", type=int, default=None, metavar="S",
                   help="every image is S×S pixels (default 32); not with --min-size/--max-size")
    p.add_argument("--min-size", type=int, default=None, metavar="A",
                   help="with --max-size: each image's width and height are drawn independently from [A, B]")
    p.add_argument("--max-size", type=int, default=None, metavar="B",
                   help="with --min-size: upper bound (inclusive) of the random width and height")
    p.add_argument("--format", choices=["png", "jpg", "mixed"], default="mixed",
                   help="file format; mixed alternates by index: even indices PNG, odd JPEG (default mixed); "
                        f"JPEG quality is {JPEG_QUALITY}")
    p.add_argument("--grey-share", type=float, default=0.0, metavar="F",
                   help="fraction in [0, 1] of each split's images saved as 8-bit greyscale (mode L); exactly "
                        "round(F × images in the split), chosen at random (default 0)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--test-dir-name", choices=["test", "val"], default="test",
                   help="name of the held-out split's directory and CSV (default test)")
    p.add_argument("--csv", action="store_true",
                   help="also write DIR/train.csv and DIR/test.csv (or val.csv) with header path,label: paths "
                        "relative to DIR, label = class name; corrupt files are not listed")
    p.add_argument("--corrupt", type=int, default=0, metavar="K",
                   help="after writing, add K corrupt files to train/<first class>/, alternating a JPEG cut to 40%% "
                        "of its bytes (corrupt-truncated-<i>.jpg) and a text file (corrupt-text-<i>.png) (default 0)")
    p.add_argument("--npy", metavar="DIR", default=None,
                   help="also write x_train.npy (uint8, N×S×S×3 RGB, the decoded files), y_train.npy (int64), "
                        "x_test.npy, y_test.npy and data.npz in DIR, in the folder's sorted order; needs one "
                        "fixed --size")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="J",
                   help="worker processes (default min(2, CPUs)); does not change the output")
    a = p.parse_args(argv)

    def positive(name, value, minimum):
        if value is not None and value < minimum:
            p.error(f"{name} must be at least {minimum}, got {value}")

    positive("--train-per-class", a.train_per_class, 1)
    positive("--test-per-class", a.test_per_class, 0)
    positive("--corrupt", a.corrupt, 0)
    positive("--jobs", a.jobs, 1)
    positive("--size", a.size, SMALLEST_SIDE)
    positive("--min-size", a.min_size, SMALLEST_SIDE)
    positive("--max-size", a.max_size, SMALLEST_SIDE)
    if (a.min_size is None) != (a.max_size is None):
        p.error("--min-size and --max-size go together")
    if a.min_size is not None:
        if a.size is not None:
            p.error("--size cannot be combined with --min-size/--max-size")
        if a.min_size > a.max_size:
            p.error(f"--min-size {a.min_size} is larger than --max-size {a.max_size}")
        if a.npy is not None:
            p.error("--npy needs one fixed image size: drop --min-size/--max-size (use --size)")
    elif a.size is None:
        a.size = 32
    if not 0.0 <= a.grey_share <= 1.0:
        p.error(f"--grey-share must be in [0, 1], got {a.grey_share}")
    if os.path.exists(a.out):
        if not os.path.isdir(a.out):
            p.error(f"--out {a.out} exists and is not a directory")
        if os.listdir(a.out) and not a.force:
            p.error(f"--out {a.out} is not empty (pass --force to write into it)")
    if a.npy is not None and os.path.exists(a.npy) and not os.path.isdir(a.npy):
        p.error(f"--npy {a.npy} exists and is not a directory")
    return a


def image_seed(seed, split, label, index):
    """One integer per image from (seed, split, class, index), independent of generation order."""
    state = np.random.SeedSequence([seed, SPLIT_IDS[split], label, index]).generate_state(2, np.uint64)
    return int(state[0]) << 64 | int(state[1])


def draw(seed, label, width, height, grey):
    """The image of one sample: a dark noisy background and one bright filled shape."""
    r = random.Random(seed)
    rng = np.random.default_rng(seed)
    background = np.array([r.randint(0, 70) for _ in range(3)], dtype=np.int16)
    noise = rng.integers(-10, 11, size=(height, width, 3), dtype=np.int16)
    pixels = np.clip(background + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    colour = tuple(r.randint(160, 255) for _ in range(3))
    side = min(width, height)
    radius = side * r.uniform(0.25, 0.45)
    cx = r.uniform(radius, width - radius)
    cy = r.uniform(radius, height - radius)
    d = ImageDraw.Draw(image)
    name = CLASS_NAMES[label]
    if name == "circle":
        d.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    elif name == "square":  # axis-aligned, half-side = radius
        d.rectangle([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    else:  # equilateral, circumradius = radius, any rotation
        angle = r.uniform(0, 2 * np.pi)
        d.polygon([(cx + radius * np.cos(angle + k * 2 * np.pi / 3), cy + radius * np.sin(angle + k * 2 * np.pi / 3))
                   for k in range(3)], fill=colour)
    return image.convert("L") if grey else image


def encode(image, ext):
    buffer = io.BytesIO()
    if ext == "jpg":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_one(job):
    """Worker: draws, encodes and writes one image; returns (bytes written, decoded RGB array or None)."""
    path, seed, label, width, height, grey, ext, want_array = job
    data = encode(draw(seed, label, width, height, grey), ext)
    with open(path, "wb") as f:
        f.write(data)
    array = None
    if want_array:  # what a loader decoding the file sees (JPEG is lossy), greyscale replicated to RGB
        with Image.open(io.BytesIO(data)) as decoded:
            array = np.asarray(decoded.convert("RGB"), dtype=np.uint8)
    return len(data), array


def plan(args, split, master):
    """The jobs of one split in class-major, index order (= the folder's sorted order), with their labels."""
    split_dir = args.test_dir_name if split == "test" else "train"
    per_class = args.train_per_class if split == "train" else args.test_per_class
    classes = CLASS_NAMES[:args.classes]
    total = per_class * len(classes)
    grey = set(master.sample(range(total), round(args.grey_share * total)))
    jobs, rows = [], []
    for label, name in enumerate(classes):
        os.makedirs(os.path.join(args.out, split_dir, name), exist_ok=True)
        for index in range(per_class):
            seed = image_seed(args.seed, split, label, index)
            if args.min_size is not None:
                sizes = random.Random(seed ^ 0x5EED)
                width = sizes.randint(args.min_size, args.max_size)
                height = sizes.randint(args.min_size, args.max_size)
            else:
                width = height = args.size
            ext = args.format if args.format != "mixed" else ("png" if index % 2 == 0 else "jpg")
            relative = f"{split_dir}/{name}/{index:06d}.{ext}"
            jobs.append((os.path.join(args.out, relative), seed, label, width, height,
                         label * per_class + index in grey, ext, args.npy is not None))
            rows.append((relative, name, label))
    return jobs, rows


def write_corrupt(args, master):
    """K corrupt files in train/<first class>/; returns the bytes written."""
    directory = os.path.join(args.out, "train", CLASS_NAMES[0])
    written = 0
    for i in range(args.corrupt):
        if i % 2 == 0:
            whole = encode(draw(master.getrandbits(64), 0, 64, 64, False), "jpg")
            data, path = whole[:int(len(whole) * 0.4)], os.path.join(directory, f"corrupt-truncated-{i}.jpg")
        else:
            data, path = b"not an image\n", os.path.join(directory, f"corrupt-text-{i}.png")
        with open(path, "wb") as f:
            f.write(data)
        written += len(data)
    return written


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start = time.monotonic()
    os.makedirs(args.out, exist_ok=True)
    if args.force:
        for d in ("train", args.test_dir_name):
            shutil.rmtree(os.path.join(args.out, d), ignore_errors=True)
            if os.path.isfile(os.path.join(args.out, f"{d}.csv")):
                os.remove(os.path.join(args.out, f"{d}.csv"))
    master = random.Random(args.seed)
    splits = {split: plan(args, split, master) for split in ("train", "test")}
    all_jobs = splits["train"][0] + splits["test"][0]
    arrays = {}
    if args.npy is not None:  # filled in the folder's sorted order as the images come back
        for split in ("train", "test"):
            arrays[f"x_{split}"] = np.zeros((len(splits[split][0]), args.size, args.size, 3), dtype=np.uint8)
            arrays[f"y_{split}"] = np.array([label for _, _, label in splits[split][1]], dtype=np.int64)
    targets = [(split, i) for split in ("train", "test") for i in range(len(splits[split][0]))]
    total_bytes = 0

    def collect(results):
        nonlocal total_bytes
        for (split, i), (written, array) in zip(targets, results):
            total_bytes += written
            if array is not None:
                arrays[f"x_{split}"][i] = array

    if args.jobs > 1 and len(all_jobs) >= 200:
        with multiprocessing.get_context("fork" if os.name == "posix" else "spawn").Pool(args.jobs) as pool:
            collect(pool.imap(make_one, all_jobs, chunksize=64))
    else:
        collect(map(make_one, all_jobs))

    def write(path, writer):
        nonlocal total_bytes
        writer(path)
        total_bytes += os.path.getsize(path)

    if args.csv:
        for split, name in (("train", "train"), ("test", args.test_dir_name)):
            def writer(path, rows=splits[split][1]):
                with open(path, "w", newline="") as f:
                    f.write("path,label\n")
                    f.writelines(f"{relative},{label}\n" for relative, label, _ in rows)
            write(os.path.join(args.out, f"{name}.csv"), writer)

    if args.npy is not None:
        os.makedirs(args.npy, exist_ok=True)
        for key in ("x_train", "y_train", "x_test", "y_test"):
            write(os.path.join(args.npy, f"{key}.npy"), lambda path, key=key: np.save(path, arrays[key]))
        write(os.path.join(args.npy, "data.npz"), lambda path: np.savez(path, **arrays))

    total_bytes += write_corrupt(args, master)
    counts = []
    for split, name in (("train", "train"), ("test", args.test_dir_name)):
        per_class = args.train_per_class if split == "train" else args.test_per_class
        counts.append(f"{name} {len(splits[split][0])} ({per_class} × {args.classes} classes)")
    corrupt = f", {args.corrupt} corrupt" if args.corrupt else ""
    print(f"{args.out}: {', '.join(counts)}{corrupt}; {total_bytes} bytes written in "
          f"{time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
