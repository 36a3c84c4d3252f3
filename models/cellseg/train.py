#!/usr/bin/python3
"""Train the cellseg U-Net (foreground + cell-core logits) on synthetic data,
export ONNX, check the fixtures (rewrite them only with --write-fixtures), write
metrics, orbit.yaml and the model card.

  /usr/bin/python3 models/cellseg/train.py [--out models/cellseg] [--minutes 9]

CPU only, 2 threads. Deterministic (fixed seeds) as long as the fixed
iteration count (--iters) finishes inside the wall-clock budget (--minutes,
which covers the whole script). If the machine is too slow, the LR schedule
is advanced by elapsed time instead and training stops when the time is up;
the run then is no longer bit-reproducible.
"""
import argparse
import datetime
import json
import os
import sys
import time

T_START = time.time()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_dataset import synthesize, normalize  # noqa: E402
from model import UNet, n_params  # noqa: E402
import evaluate as ev  # noqa: E402

# Held-out fixtures: (height, width, format, cells per 10k px). Format is
# png8 | png16 | tif16. Generated from FIXTURE_SEED, never used in training.
FIXTURE_SEED = 20240917
FIXTURES = [
    (256, 256, "png8", 8), (200, 300, "png8", 14), (317, 241, "png8", 20),
    (384, 384, "png8", 10), (256, 256, "png8", 25), (160, 224, "png8", 5),
    (241, 317, "png8", 16), (300, 200, "png8", 12), (333, 287, "png8", 18),
    (128, 192, "png8", 9),
    (256, 256, "png16", 15), (200, 300, "png16", 22), (317, 241, "png16", 7),
    (320, 320, "png16", 12), (224, 224, "png16", 18),
    (256, 256, "tif16", 12), (200, 300, "tif16", 20), (317, 241, "tif16", 9),
    (192, 256, "tif16", 16), (288, 208, "tif16", 24),
]


def log(*a):
    print(f"[{time.time() - T_START:7.1f}s]", *a, flush=True)


# --------------------------------------------------------------------------
# training data
# --------------------------------------------------------------------------
CORE_MIN_DISTANCE = 1.5  # px; >= 1.5 keeps the cores of touching cells >= 2 px apart
CORE_FRACTION = 0.5      # of the cell's own maximum distance to its boundary


def cell_cores(lab):
    """Seed target: the core of every cell, float32 0/1.

    A pixel of cell i is core when its distance to the boundary of cell i
    alone (Euclidean distance transform of `lab == i`; the image border
    counts as boundary) is >= max(CORE_MIN_DISTANCE, CORE_FRACTION * that
    cell's maximum distance). Every 8-neighbour of a core pixel (distance
    <= sqrt(2) < 1.5) lies in the same cell, so the cores of touching cells
    never touch, not even diagonally; cells too thin for the minimum get no
    core (post-processing then seeds them at their distance maximum).
    """
    out = np.zeros(lab.shape, np.float32)
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None:
            continue
        m = np.pad(lab[sl] == i, 1)
        d = ndi.distance_transform_edt(m)[1:-1, 1:-1]
        core = d >= max(CORE_MIN_DISTANCE, CORE_FRACTION * float(d.max()))
        out[sl][core] = 1.0
    return out


class Pool:
    """Growing pool of normalised synthetic images (deterministic)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        self.items = []

    def add(self):
        r = self.rng
        h, w = int(r.integers(160, 321)), int(r.integers(160, 321))
        img, lab, _ = synthesize(r, h, w, density=r.uniform(2.0, 26.0))
        target = np.stack([(lab > 0).astype(np.float32), cell_cores(lab)])  # [2, h, w]
        self.items.append((normalize(img), target))


def sample_batch(pool, rng, bs, crop):
    xs, ys = [], []
    for _ in range(bs):
        x, y = pool.items[rng.integers(len(pool.items))]
        h, w = x.shape
        i, j = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        x, y = x[i:i + crop, j:j + crop], y[:, i:i + crop, j:j + crop]
        k = int(rng.integers(4))
        x, y = np.rot90(x, k), np.rot90(y, k, axes=(1, 2))
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, :, ::-1]
        # mild intensity jitter on top of the exact percentile normalisation
        x = x * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05)
        xs.append(np.ascontiguousarray(x))
        ys.append(np.ascontiguousarray(y))
    return (torch.from_numpy(np.stack(xs)[:, None].astype(np.float32)),
            torch.from_numpy(np.stack(ys)))


SEED_LOSS_WEIGHT = 1.0


def bce_dice(logits, y):
    bce = F.binary_cross_entropy_with_logits(logits, y)
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    return bce + dice


def loss_fn(logits, y):
    """BCE + soft Dice on the foreground channel plus the same on the core channel."""
    return bce_dice(logits[:, 0], y[:, 0]) + SEED_LOSS_WEIGHT * bce_dice(logits[:, 1], y[:, 1])


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
def write_fixtures(fixdir, write=False):
    """Fixture table rows. Regenerates the fixtures from FIXTURE_SEED; with
    write=False (the default: the committed fixtures are the C++ golden data
    and must not change) only checks that the files on disk are exactly what
    the generator produces, with write=True rewrites them and their README."""
    import tifffile
    from make_dataset import write_png
    if write:
        os.makedirs(os.path.join(fixdir, "images"), exist_ok=True)
        os.makedirs(os.path.join(fixdir, "masks"), exist_ok=True)
        for d in ("images", "masks"):
            for f in os.listdir(os.path.join(fixdir, d)):
                os.remove(os.path.join(fixdir, d, f))
    rng = np.random.default_rng(FIXTURE_SEED)
    rows = []
    for k, (h, w, fmt, dens) in enumerate(FIXTURES):
        img, lab, info = synthesize(rng, h, w, density=dens, bit_depth=8 if fmt == "png8" else 16)
        stem = f"img_{k:03d}"
        name = stem + (".tif" if fmt == "tif16" else ".png")
        if write and fmt == "tif16":
            tifffile.imwrite(os.path.join(fixdir, "images", name), img)  # uncompressed
        elif write:
            write_png(os.path.join(fixdir, "images", name), img)
        if write:
            write_png(os.path.join(fixdir, "masks", stem + ".png"), lab)
        # sanity: read back, dtype and values must round-trip
        back = ev.read_image(os.path.join(fixdir, "images", name))
        assert back.dtype == img.dtype and np.array_equal(back, img), name
        mback = ev.read_image(os.path.join(fixdir, "masks", stem + ".png"))
        assert mback.dtype == np.uint16 and np.array_equal(mback, lab), stem
        touching = count_touching(lab)
        rows.append(dict(image=f"images/{name}", mask=f"masks/{stem}.png", format=fmt[:3].upper(),
                         bits=info["bit_depth"], h=h, w=w, n_cells=info["n_cells"],
                         touching=touching, blur=info["psf"],
                         vmin=int(img.min()), vmax=int(img.max())))
    if not write:
        return rows
    with open(os.path.join(fixdir, "README.md"), "w") as f:
        f.write("# cellseg fixtures\n\n"
                "Held-out synthetic images (generator `models/cellseg/make_dataset.py`, "
                f"seed {FIXTURE_SEED}; training uses a different seed stream). Written by "
                "`models/cellseg/train.py`; do not edit by hand.\n\n"
                "* `images/` - single-channel grayscale inputs\n"
                "* `masks/` - 16-bit PNG instance label maps with the same stem "
                "(0 = background, 1..K = cells)\n\n"
                "16-bit images use a ~12-bit dynamic range with a random gain/offset "
                "(a few are not clipped at 4095). TIFFs are uncompressed, little-endian, "
                "single page.\n\n"
                "| image | mask | format | bit depth | size (W x H) | cells | touching cells | PSF sigma | min..max |\n"
                "|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['image']} | {r['mask']} | {r['format']} | {r['bits']} | "
                    f"{r['w']} x {r['h']} | {r['n_cells']} | {r['touching']} | "
                    f"{r['blur']:.2f} | {r['vmin']}..{r['vmax']} |\n")
    return rows


def count_touching(lab):
    """Number of cells that share a 4-neighbour border with another cell."""
    ids = set()
    for a, b in ((lab[1:, :], lab[:-1, :]), (lab[:, 1:], lab[:, :-1])):
        m = (a != b) & (a > 0) & (b > 0)
        ids.update(np.unique(a[m]).tolist())
        ids.update(np.unique(b[m]).tolist())
    return len(ids)


# --------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------
def export_onnx(model, path):
    import onnx
    from onnx_ref import OnnxRef
    model.eval()
    dummy = torch.zeros(1, 1, 64, 64)
    torch.onnx.export(
        model, dummy, path, opset_version=17, input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                      "logits": {0: "batch", 2: "height", 3: "width"}},
        do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    inf = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    out = inf.graph.output[0]
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    log("onnx ok: opset", m.opset_import[0].version, "output", out.name, dims)
    ref = OnnxRef(path)
    log("onnx ops:", ref.op_types)
    rng = np.random.default_rng(7)
    maxdiff = 0.0
    for shape in [(1, 1, 48, 80), (2, 1, 64, 32)]:
        x = rng.normal(0.3, 0.5, shape).astype(np.float32)
        with torch.no_grad():
            yt = model(torch.from_numpy(x)).numpy()
        yo = ref(x)
        assert yo.shape == yt.shape
        maxdiff = max(maxdiff, float(np.abs(yo - yt).max()))
    log(f"onnx (numpy reference) vs torch max |diff| = {maxdiff:.2e}")
    assert maxdiff < 1e-3
    return ref, dims, maxdiff, m.opset_import[0].version


# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget for the whole script")
    ap.add_argument("--iters", type=int, default=800)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--base", type=int, default=16)
    ap.add_argument("--max-ch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pool-init", type=int, default=96)
    ap.add_argument("--pool-every", type=int, default=3, help="add one new image every N iterations")
    ap.add_argument("--reserve", type=float, default=75.0, help="seconds kept for export/fixtures/eval")
    ap.add_argument("--weights-out", default="/tmp/cellseg_weights.pt", help="torch checkpoint (not committed)")
    ap.add_argument("--from-checkpoint", default=None, metavar="PT",
                    help="skip training: load a checkpoint written by --weights-out, then export, "
                         "write fixtures, evaluate and write the card")
    ap.add_argument("--write-fixtures", action="store_true",
                    help="rewrite fixtures/ (default: only check that they match the generator)")
    ap.add_argument("--tuning", default=None, metavar="MD",
                    help="markdown on how post-processing was tuned (tune_postprocess.py), for the card")
    ap.add_argument("--cpp-report", default=None, metavar="MD",
                    help="markdown with the C++ `orbit evaluate` output, for the card")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)

    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    budget = a.minutes * 60.0
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, budget {budget:.0f}s")

    model = UNet(a.base, a.max_ch, out_ch=2)
    arch = dict(base=a.base, max_ch=a.max_ch, out_ch=2)
    log(f"UNet channels {model.chs}, {n_params(model)} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)

    if a.from_checkpoint:
        ck = torch.load(a.from_checkpoint, map_location="cpu")
        model = UNet(**ck["arch"])
        model.load_state_dict(ck["state_dict"])
        model.eval()
        stats = ck["stats"]
        log(f"loaded {a.from_checkpoint}: {stats['iters']} iterations, trained {stats['t_train']:.0f}s; "
            "skipping training")
    else:
        pool = Pool(a.seed)
        for _ in range(a.pool_init):
            pool.add()
        log(f"initial pool: {len(pool.items)} images")
        brng = np.random.default_rng(np.random.SeedSequence([a.seed, 2]))

        t_train0 = time.time()
        t_mark = (t_train0, 0)
        train_deadline = T_START + budget - a.reserve
        warm = 40
        target = a.iters  # iteration target; lowered only if the machine is too slow
        it = 0
        run_loss = None
        time_limited = False
        model.train()
        while it < target:
            now = time.time()
            if now >= train_deadline:
                time_limited = True
                log(f"time budget reached at iteration {it}")
                break
            if it >= 30 and it % 10 == 0:
                # projected time check on the recent speed (the machine may be
                # shared); shrink the target so that the cosine schedule still
                # completes inside the budget. Never raised again.
                if it >= 40:
                    per_it = (now - t_mark[0]) / (it - t_mark[1])
                else:
                    per_it = (now - t_train0) / it
                t_mark = (now, it)
                if now + (target - it) * per_it > train_deadline:
                    target = max(it + 1, it + int(0.95 * (train_deadline - now) / per_it))
                    time_limited = True
                    log(f"too slow ({per_it:.3f}s/it): iteration target lowered to {target} "
                        "(run not bit-reproducible)")
            p = it / target
            lr = a.lr * min(1.0, (it + 1) / warm) * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * min(p, 1.0))))
            for g in opt.param_groups:
                g["lr"] = lr
            if it > 0 and it % a.pool_every == 0:
                pool.add()
            x, y = sample_batch(pool, brng, a.batch, a.crop)
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run_loss = loss.item() if run_loss is None else 0.95 * run_loss + 0.05 * loss.item()
            it += 1
            if it % 25 == 0 or it == 1:
                el = time.time() - t_train0
                log(f"it {it:5d}/{target} loss {run_loss:.4f} lr {lr:.2e} pool {len(pool.items)} "
                    f"{el / it:.3f}s/it")
        t_train = time.time() - t_train0
        log(f"training done: {it} iterations in {t_train:.1f}s (time-limited: {time_limited})")
        model.eval()
        stats = dict(iters=it, iters_target=a.iters, t_train=t_train, t_train_end=time.time() - T_START,
                     time_limited=time_limited, args=vars(a))
        torch.save(dict(arch=arch, state_dict=model.state_dict(), stats=stats), a.weights_out)

    for key, path in (("tuning", a.tuning), ("cpp_report", a.cpp_report)):
        if path:
            with open(path) as f:
                stats[key] = f.read().strip()
    t_post0 = time.time()
    onnx_path = os.path.join(out, "model.onnx")
    ref, out_dims, maxdiff, opset = export_onnx(model, onnx_path)

    fixdir = os.path.join(out, "fixtures")
    rows = write_fixtures(fixdir, write=a.write_fixtures)
    log(f"{'wrote' if a.write_fixtures else 'checked'} {len(rows)} fixtures")

    # choose nothing on the fixtures: post-processing params are fixed in ev.POST
    log("evaluating exported ONNX graph (numpy reference) on fixtures:")
    metrics, per = ev.evaluate(ref, fixdir)
    metrics = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    log("metrics", json.dumps(metrics))

    write_yaml(os.path.join(out, "orbit.yaml"))
    t_post = time.time() - t_post0
    write_card(os.path.join(out, "MODEL_CARD.md"), model, stats, t_post, bool(a.from_checkpoint),
               metrics, per, rows, maxdiff, opset, os.path.getsize(onnx_path))
    log(f"all done in {time.time() - T_START:.1f}s")


def write_yaml(path):
    p = ev.POST
    with open(path, "w") as f:
        f.write(f"""name: cellseg
description: U-Net foreground + cell-core segmentation of fluorescent cells (synthetic training data)
inputs:
  - name: image
    datatype: FP32
    shape: [-1, 1, -1, -1]
outputs:
  # channel 0 = foreground logit, channel 1 = cell-core (watershed seed) logit
  - name: logits
    datatype: FP32
    shape: [-1, 2, -1, -1]
preprocess:
  color: gray              # gray | rgb | bgr : channels fed to the model
  resize: null             # or [width, height]
  pad_to_multiple: 16      # pad bottom/right with reflect-101 to a multiple
  normalize:
    method: percentile     # percentile | mean_std | scale
    low: 1.0               # percentile of the image's own pixel values
    high: 99.8
  layout: NCHW
postprocess:
  activation: sigmoid
  threshold: {p['threshold']}
  foreground_channel: {p['foreground_channel']}
  min_object_area: {p['min_object_area']}      # pixels; smaller connected components are removed
  fill_holes: {str(p['fill_holes']).lower()}
  instances:
    method: watershed      # seeded watershed, flooded on the seed probability
    min_distance: {p['min_distance']}        # seed spacing (pixels), used only without seed_channel
    seed_channel: {p['seed_channel']}        # seeds = 8-connected blobs of sigmoid(channel) > seed_threshold in the mask
    seed_threshold: {p['seed_threshold']}
    min_seed_area: {p['min_seed_area']}       # pixels; smaller seed blobs are ignored
  tile:
    size: 1024
    overlap: 64
""")


def write_card(path, model, stats, t_post, from_ckpt, m, per, rows, maxdiff, opset, onnx_bytes):
    a = argparse.Namespace(**stats["args"])
    iters, t_train, time_limited = stats["iters"], stats["t_train"], stats["time_limited"]
    wall = stats.get("run_wall", stats["t_train_end"] + t_post)
    if time_limited:
        det = ("NOT the case in the run that produced `model.onnx`: " + stats.get("note", "")
               + "training was stopped by the wall-clock budget "
               f"after {iters} of {stats['iters_target']} iterations (before the LR had "
               "fully decayed)")
    else:
        det = "it was in the run that produced `model.onnx`"
    regen = ""
    if from_ckpt:
        regen = ("\n\n`model.onnx`, `metrics.json`, `orbit.yaml` and this card were then "
                 "regenerated from that run's checkpoint (same weights, bit-identical ONNX) after "
                 "the seed post-processing had been chosen on a separate validation set (see "
                 "below) and `orbit evaluate` had been run:\n\n```\n"
                 "/usr/bin/python3 models/cellseg/tune_postprocess.py --weights /tmp/cellseg_weights.pt\n"
                 "/usr/bin/python3 models/cellseg/train.py --from-checkpoint /tmp/cellseg_weights.pt \\\n"
                 "    --tuning tuning.md --cpp-report cpp_evaluate.md\n```\n\n"
                 "`fixtures/` are never rewritten (only checked against the generator) unless "
                 "`--write-fixtures` is given.")
    if stats.get("history"):
        regen += "\n\n" + stats["history"]
    n_fmt = {}
    for r in rows:
        n_fmt[r["format"] + str(r["bits"])] = n_fmt.get(r["format"] + str(r["bits"]), 0) + 1
    per_rows = "\n".join(
        f"| {q['file']} | {r['format']} {r['bits']}-bit | {r['w']} x {r['h']} | {q['iou']:.4f} | "
        f"{q['tp']} | {q['n_pred']} | {q['n_gt']} |" for q, r in zip(per, rows))
    p = ev.POST
    tuning = stats.get("tuning", "")
    cpp_report = stats.get("cpp_report", "")
    txt = f"""# cellseg - U-Net foreground + cell-core segmentation of fluorescent cells

Demo segmentation model for Orbit. Generated by `models/cellseg/train.py`
on {datetime.date.today().isoformat()}; numbers below come from that run.

## Intended use

Demonstrating and testing Orbit's segmentation pipeline (pre-processing,
ONNX inference, tiling, threshold + seeded watershed post-processing, `orbit
evaluate`). Input: one single-channel (grayscale) 8- or 16-bit
fluorescence-like image of cells on a dark background. Output: two per-pixel
logits, foreground and cell core; instances are derived by post-processing
(each predicted core seeds one cell).

**Not** for scientific or clinical use: the model has only seen synthetic
images and will not generalise reliably to real microscopy data
(phase contrast, bright field, stained tissue, very different cell sizes).

## Training data

Fully synthetic, generated on the fly by `make_dataset.py` (numpy seed
stream `SeedSequence([{a.seed}, 1])`): round and elongated (ellipse) cells with
radius ~4-16 px, free-standing, touching and partly overlapping (the later
cell wins the pixels; ground truth keeps the largest connected piece of
each cell); per-cell brightness, dimmer rim, smoothed-noise texture and a
brighter nucleus-like blob; Gaussian PSF blur (25 % strongly out of focus);
smooth low-frequency illumination gain field and background offset;
Poisson + Gaussian noise; stored as 8-bit or 16-bit (~12-bit range, random
gain/offset). Images of 160-320 px per side, 2-26 cells per 10k px; the pool
starts with {a.pool_init} images and grows by one every {a.pool_every} iterations.
Training samples are random {a.crop}x{a.crop} crops of the percentile-normalised
image, with random 90-degree rotations / flips and a mild intensity
jitter (x*U(0.85,1.15)+U(-0.05,0.05)).

## Architecture

U-Net, 4 down-sampling levels (2x2 max-pool), channels {model.chs},
each stage (3x3 conv, BatchNorm, ReLU) x 2, 2x2 stride-2 transposed-conv
up-sampling with skip concatenation, 1x1 conv head -> 2 logits (foreground,
cell core).
**{n_params(model):,} parameters** (fp32). Exported to ONNX opset {opset}
(`model.onnx`, {onnx_bytes / 1e6:.2f} MB; BatchNorm folded into the
convolutions by the exporter).

* input `image`: float32 [N, 1, H, W], dynamic N/H/W; H and W must be
  multiples of 16
* output `logits`: float32 [N, 2, H, W], raw logits (no sigmoid): channel 0 =
  foreground, channel 1 = cell core (watershed seed)

Core target (channel 1): a pixel of cell i is core when its distance to the
boundary of cell i alone (Euclidean distance transform of that cell's mask;
the image border counts as boundary) is >= max(1.5, 0.5 x the cell's maximum
such distance). Every 8-neighbour of a core pixel lies in the same cell, so
the cores of touching or overlapping cells never touch; cells too thin for
the 1.5 px minimum have no core.

The exported graph was checked with `onnx.checker` (full check) and strict
shape inference, and run with a small reference interpreter that walks the
ONNX nodes, attributes and weights (`onnx_ref.py`; onnxruntime is not available here): max |logit difference|
vs torch = {maxdiff:.1e}. The metrics below were computed by running the
exported `model.onnx` with that interpreter.

## Training

```
/usr/bin/python3 models/cellseg/train.py          # --out models/cellseg --minutes 9
```

CPU only, `torch.set_num_threads(2)`, torch {torch.__version__}. AdamW (lr {a.lr},
weight decay 1e-4), 40-iteration warm-up then cosine decay, batch {a.batch},
loss = (BCE + soft Dice) on the foreground logit + (BCE + soft Dice) on the
core logit (weight {SEED_LOSS_WEIGHT:g}); {iters} iterations
(target {stats['iters_target']}) in {t_train:.0f} s of training; **whole script wall time
{wall:.0f} s** ({wall / 60:.1f} min, includes data synthesis, ONNX export,
fixture check and evaluation). Seeds are fixed (numpy + torch); the run is
reproducible as long as the iteration target is reached within the
`--minutes` budget ({det}). One iteration took {t_train / max(iters, 1):.2f} s on average
in that run (2 cores, otherwise idle machine; a parallel C++ build slows it several-fold,
and the script then lowers the iteration target to stay inside `--minutes`).{regen}

## Pre-processing (reproduced exactly by the C++ side)

1. image (8- or 16-bit, 1 channel) -> float32;
2. `lo = percentile(img, 1.0)`, `hi = percentile(img, 99.8)` - numpy's default
   'linear' interpolation over ALL pixels of the unpadded image;
3. `x = (img - lo) / max(hi - lo, 1e-6)`, no clipping;
4. pad bottom/right to a multiple of 16 with `np.pad(mode='reflect')`
   (== OpenCV `BORDER_REFLECT_101`); NCHW [1, 1, Hp, Wp];
5. after inference crop the logits back to H x W.

## Post-processing

* foreground = `sigmoid(logit[0]) > {p['threshold']}` (== logit[0] > 0) - used for the
  semantic metrics;
* instances: remove 8-connected components with area < {p['min_object_area']} px, fill
  holes (`scipy.ndimage.binary_fill_holes`) -> mask; Euclidean distance transform
  of the mask; seeds = 8-connected components of
  `sigmoid(logit[1]) > {p['seed_threshold']}` inside the mask with at least
  {p['min_seed_area']} px (a mask component without a seed gets one at its distance
  maximum); `skimage.segmentation.watershed(-seed_probability, seeds, mask=mask)`
  (flooding the most core-like pixels first).
  orbit.yaml: `instances: {{method: watershed, seed_channel: {p['seed_channel']},
  seed_threshold: {p['seed_threshold']}, min_seed_area: {p['min_seed_area']}}}`; the C++ side
  (`SeedMarkers` + `LabelWatershedFromMarkers` in `src/vision/postprocess.cc`)
  implements the same steps.

{tuning}

## Held-out evaluation (`fixtures/`)

{m['n_images']} images generated with a different seed ({FIXTURE_SEED}) and never used
in training: {', '.join(f'{v} x {k[:3]} {k[3:]}-bit' for k, v in n_fmt.items())}; sizes
128-384 px, several not multiples of 16; 5-25 cells per 10k px, all with
touching / overlapping cells. See `fixtures/README.md`.

| metric | value |
|---|---|
| semantic (foreground) IoU, pooled over all fixture pixels | **{m['semantic_iou']:.4f}** |
| Dice, pooled | {m['dice']:.4f} |
| mean per-image IoU | {m['mean_image_iou']:.4f} |
| object precision (IoU > 0.5) | {m['object_precision']:.4f} |
| object recall (IoU > 0.5) | {m['object_recall']:.4f} |
| object F1 (IoU > 0.5) | {m['object_f1']:.4f} |

Pooled = sum of intersections / sum of unions over all images. Object
matching: a predicted and a ground-truth instance match when their IoU > 0.5
(such matches are one-to-one); counts pooled over all images. The same
numbers are in `metrics.json`; recompute with
`/usr/bin/python3 models/cellseg/evaluate.py`.

**Acceptance for the C++ side:** `orbit evaluate` on `fixtures/` with this
`orbit.yaml` must reproduce the semantic IoU ({m['semantic_iou']:.4f}) within 0.01
(`tests/e2e/cli_test.cc`, `EvaluateReproducesModelCardIoU`):

```
build/orbit evaluate --model models/cellseg --images models/cellseg/fixtures/images --masks models/cellseg/fixtures/masks
```

{cpp_report}

Per image:

| file | format | size (W x H) | IoU | matched | predicted | GT |
|---|---|---|---|---|---|---|
{per_rows}

## Caveats

* Synthetic data only; instance metrics depend on the predicted cores: a
  core that breaks in two splits its cell, two cores that merge (heavily
  overlapping cells) join theirs.
* Pixels whose logit is very close to 0 may flip between runtimes; that is
  far below the 0.01 IoU tolerance.
* Percentile normalisation is per image (or per tile if a runtime
  normalises tiles separately, which would change results slightly for
  images larger than the tile size; fixtures are all <= 384 px).
"""
    with open(path, "w") as f:
        f.write(txt)


if __name__ == "__main__":
    main()
