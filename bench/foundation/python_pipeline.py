"""The alternative a user would build: the same segmentation pipeline in Python.

Decode with PIL, pre-process with numpy (percentile normalisation + reflect padding, exactly as
orbit.yaml says), run the network with PyTorch (torch_onnx.py), post-process with scipy and
scikit-image (threshold, small-object removal, hole filling, watershed, regionprops). Prints JSON
with the same fields as `orbit bench --format json` so bench/foundation/run.sh can compare them.

Run with Debian's interpreter: /usr/bin/python3 bench/foundation/python_pipeline.py --help
"""
import argparse
import io
import json
import os
import sys
import time

import numpy as np
import torch
import yaml
from PIL import Image
from scipy import ndimage as ndi
from skimage import measure, morphology, segmentation
from skimage.feature import peak_local_max

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_onnx import TorchOnnxModule  # noqa: E402


def decode(png_bytes):
    return np.array(Image.open(io.BytesIO(png_bytes)))


def preprocess(img, pre):
    x = img.astype(np.float32)
    norm = pre.get("normalize", {})
    lo = np.float32(np.percentile(x, norm.get("low", 1.0)))
    hi = np.float32(np.percentile(x, norm.get("high", 99.8)))
    x = (x - lo) / np.float32(max(float(hi - lo), 1e-6))
    m = pre.get("pad_to_multiple", 1)
    h, w = x.shape
    x = np.pad(x, ((0, (-h) % m), (0, (-w) % m)), mode="reflect")
    return x[None]  # [1, H, W]


def postprocess(logits, img, post):
    """logits: [C, H', W'] for one image; returns the number of objects measured."""
    h, w = img.shape
    fg_channel = post.get("foreground_channel", 0)
    prob = 1.0 / (1.0 + np.exp(-logits[fg_channel, :h, :w]))
    mask = prob > post.get("threshold", 0.5)
    min_area = post.get("min_object_area", 0)
    mask = morphology.remove_small_objects(mask, min_size=min_area, connectivity=2)
    if post.get("fill_holes", True):
        mask = ndi.binary_fill_holes(mask)
    inst = post.get("instances", {})
    dist = ndi.distance_transform_edt(mask)
    components = measure.label(mask, connectivity=2)
    if "seed_channel" in inst:
        seed_prob = 1.0 / (1.0 + np.exp(-logits[inst["seed_channel"], :h, :w]))
        seeds = (seed_prob > inst.get("seed_threshold", 0.5)) & mask
        markers = measure.label(seeds, connectivity=2)
    else:
        peaks = peak_local_max(dist, min_distance=inst.get("min_distance", 4), labels=components,
                               exclude_border=False)
        markers = np.zeros(mask.shape, np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = segmentation.watershed(-dist, markers, mask=mask)
    labels = morphology.remove_small_objects(labels, min_size=min_area)
    props = measure.regionprops(labels, intensity_image=img)
    measured = [(p.area, p.perimeter, p.centroid, p.bbox, p.eccentricity, p.mean_intensity)
                for p in props]
    return len(measured)


def stats(samples, batch):
    s = np.sort(np.array(samples))
    rank = lambda q: float(s[min(len(s) - 1, max(0, int(np.ceil(q * len(s))) - 1))])  # noqa: E731
    mean = float(s.mean())
    return {"p50_ms": rank(0.5), "p90_ms": rank(0.9), "p99_ms": rank(0.99), "mean_ms": mean,
            "iterations": len(s), "images_per_second": 1000.0 * batch / mean}


def bench_batch(model, png, recipe, batch, seconds, min_iterations):
    pre_recipe = recipe.get("preprocess", {})
    post_recipe = recipe.get("postprocess", {})
    img0 = decode(png)
    x0 = torch.from_numpy(np.stack([preprocess(img0, pre_recipe)] * batch))
    model(x0)  # warm-up
    model_only = []
    start = time.perf_counter()
    while len(model_only) < min_iterations or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        model(x0)
        model_only.append(1000 * (time.perf_counter() - t0))
    total, dec, pre, inf, post = [], [], [], [], []
    objects = 0
    start = time.perf_counter()
    while len(total) < min_iterations or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        images = [decode(png) for _ in range(batch)]
        t1 = time.perf_counter()
        x = torch.from_numpy(np.stack([preprocess(im, pre_recipe) for im in images]))
        t2 = time.perf_counter()
        logits = model(x).numpy()
        t3 = time.perf_counter()
        objects = sum(postprocess(logits[i], images[i], post_recipe) for i in range(batch))
        t4 = time.perf_counter()
        for lst, a, b in ((dec, t0, t1), (pre, t1, t2), (inf, t2, t3), (post, t3, t4),
                          (total, t0, t4)):
            lst.append(1000 * (b - a))
    m = lambda v: float(np.mean(v))  # noqa: E731
    return {"batch": batch, "model_only": stats(model_only, batch),
            "pipeline": stats(total, batch),
            "stage_mean_ms": {"decode": m(dec), "preprocess": m(pre), "model": m(inf),
                              "postprocess": m(post)},
            "pre_post_over_model": (m(pre) + m(post)) / m(inf),
            "objects_per_image": objects / batch}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model directory (orbit.yaml + model.onnx)")
    ap.add_argument("--image", required=True, help="PNG to run (e.g. from orbit bench --save-image)")
    ap.add_argument("--batch", default="1,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--min-iterations", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "orbit.yaml")) as f:
        recipe = yaml.safe_load(f)
    model = TorchOnnxModule(os.path.join(args.model, "model.onnx")).eval()
    with open(args.image, "rb") as f:
        png = f.read()
    results = [bench_batch(model, png, recipe, int(b), args.seconds, args.min_iterations)
               for b in args.batch.split(",")]
    print(json.dumps({"model": recipe["name"], "runtime": f"PyTorch {torch.__version__}",
                      "threads": args.threads, "results": results}, indent=2))


if __name__ == "__main__":
    main()
