#!/usr/bin/python3
"""Reference pre-/post-processing and metrics for the cellseg model.

This is the definition the C++ side (`orbit evaluate`) reproduces.

Pre-processing (orbit.yaml `preprocess`):
  1. read the image (8- or 16-bit, 1 channel) and convert to float32;
  2. lo = percentile(img, 1.0), hi = percentile(img, 99.8), numpy's default
     'linear' interpolation over ALL pixels of the unpadded image
     (sorted values v[0..n-1], rank r = p/100*(n-1), value =
     v[floor(r)] + (r - floor(r)) * (v[floor(r)+1] - v[floor(r)]));
  3. x = (img - lo) / max(hi - lo, 1e-6), NO clipping;
  4. pad bottom and right to a multiple of 16 with np.pad(mode='reflect')
     (== OpenCV BORDER_REFLECT_101: ... c b | a b c ... -> mirror without
     repeating the edge pixel);
  5. tensor layout NCHW, shape [1, 1, Hp, Wp], float32.
Post-processing (orbit.yaml `postprocess`):
  1. crop the logits [2, H, W] back to the original H x W; channel 0 is the
     foreground logit, channel 1 the cell-core (seed) logit;
  2. foreground = sigmoid(logit[0]) > 0.5  (== logit[0] > 0);
  --- semantic metrics use this mask directly ---
  3. instances: remove 8-connected foreground components with area <
     min_object_area (15 px); fill holes (background regions not
     4-connected to the image border become foreground,
     scipy.ndimage.binary_fill_holes) -> mask; Euclidean distance transform
     of the mask; seeds = 8-connected components of
     (sigmoid(logit[1]) > seed_threshold (0.7)) & mask with at least
     min_seed_area (8) pixels; mask components that get no seed get one at
     their distance maximum; skimage watershed on -sigmoid(logit[1]) (the
     seed probability) with those markers, restricted to the mask, with
     8-connectivity (connectivity=2) like the C++ priority flood.
     (Without a seed channel - instances(fg) with seed_prob=None - the seeds
     are skimage.feature.peak_local_max(dist, min_distance=5, labels=8-connected
     components, exclude_border=False) as in orbit.yaml without seed_channel.)
Metrics:
  semantic IoU  = sum_i |P_i & G_i| / sum_i |P_i | G_i|  (all fixture pixels)
  dice          = 2 sum_i |P_i & G_i| / (sum_i |P_i| + sum_i |G_i|)
  mean_image_iou= mean_i |P_i & G_i| / |P_i | G_i|
  objects: predicted / GT instance pairs with IoU > 0.5 are matched (such a
  match is necessarily one-to-one); precision = TP / #pred,
  recall = TP / #GT, F1 = 2PR / (P + R), pooled over all fixtures.

Usage (runs the exported model.onnx with the numpy interpreter onnx_ref.py):
  /usr/bin/python3 models/cellseg/evaluate.py [--onnx models/cellseg/model.onnx]
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
from scipy import ndimage as ndi

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_dataset import normalize, pad_to_multiple  # noqa: E402

POST = dict(threshold=0.5, min_object_area=15, fill_holes=True, min_distance=5,
            foreground_channel=0, seed_channel=1, seed_threshold=0.7, min_seed_area=8)
EIGHT = np.ones((3, 3), bool)


# --------------------------------------------------------------------------
# I/O
# --------------------------------------------------------------------------
def read_image(path):
    if path.lower().endswith((".tif", ".tiff")):
        import tifffile
        img = tifffile.imread(path)
    else:
        import imageio
        img = imageio.imread(path)
    img = np.asarray(img)
    if img.ndim == 3:  # never the case for our fixtures
        img = img[..., 0]
    return img


def list_fixtures(fixdir):
    imgs = sorted(glob.glob(os.path.join(fixdir, "images", "*")))
    out = []
    for p in imgs:
        stem = os.path.splitext(os.path.basename(p))[0]
        out.append((p, os.path.join(fixdir, "masks", stem + ".png")))
    return out


# --------------------------------------------------------------------------
# inference
# --------------------------------------------------------------------------
def preprocess(img):
    """-> (float32 [1,1,Hp,Wp], (H, W))"""
    x = normalize(img)
    h, w = x.shape
    x = pad_to_multiple(x, 16)
    return x[None, None].astype(np.float32), (h, w)


class TorchRunner:
    """Wrap a torch module as numpy [N,1,H,W] -> numpy [N,1,H,W]."""

    def __init__(self, model):
        self.model = model.eval()

    def __call__(self, x):
        import torch
        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()


def predict_logits(runner, img):
    """runner: callable numpy float32 [1,1,Hp,Wp] -> numpy logits [1,C,Hp,Wp]; returns [C,H,W]."""
    x, (h, w) = preprocess(img)
    y = runner(x)
    return y[0, :, :h, :w]


# --------------------------------------------------------------------------
# post-processing
# --------------------------------------------------------------------------
def foreground(logits):
    """logits [C,H,W] -> bool mask of channel foreground_channel."""
    return logits[POST["foreground_channel"]] > 0.0  # sigmoid(logit) > 0.5


def seed_probability(logits):
    """logits [C,H,W] -> sigmoid of channel seed_channel (float32), None without one."""
    if POST["seed_channel"] is None or logits.shape[0] <= POST["seed_channel"]:
        return None
    z = logits[POST["seed_channel"]].astype(np.float64)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def seed_markers(seed_prob, mask, seed_threshold=0.5, min_seed_area=3):
    """8-connected components of (seed_prob > seed_threshold) & mask with >= min_seed_area px,
    numbered 1..K in raster order of first appearance."""
    cc, n = ndi.label((seed_prob > seed_threshold) & mask, structure=EIGHT)
    if n == 0:
        return cc.astype(np.int32)
    keep = np.bincount(cc.ravel()) >= min_seed_area
    keep[0] = False
    new = np.zeros(n + 1, np.int32)
    new[keep] = np.arange(1, int(keep.sum()) + 1)
    return new[cc]


def instances(fg, seed_prob=None, min_object_area=15, fill_holes=True, min_distance=5,
              seed_threshold=0.7, min_seed_area=8, flood="seed"):
    """Instance labels from the foreground mask; seeds from seed_prob when given, else from
    distance-transform maxima. flood: 'seed' (watershed on -seed_prob, the shipped choice) or
    'distance' (on -dist); without seed_prob always on -dist."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed
    cc, n = ndi.label(fg, structure=EIGHT)
    if n == 0:
        return np.zeros(fg.shape, np.int32)
    sizes = np.bincount(cc.ravel())
    keep = sizes >= min_object_area
    keep[0] = False
    mask = keep[cc]
    if fill_holes:
        mask = ndi.binary_fill_holes(mask)
    cc, n = ndi.label(mask, structure=EIGHT)
    if n == 0:
        return np.zeros(fg.shape, np.int32)
    dist = ndi.distance_transform_edt(mask)
    if seed_prob is not None:
        markers = seed_markers(seed_prob, mask, seed_threshold, min_seed_area)
        k = int(markers.max())
        has = np.zeros(n + 1, bool)
        has[cc[markers > 0]] = True
    else:
        peaks = peak_local_max(dist, min_distance=min_distance, labels=cc, exclude_border=False)
        markers = np.zeros(fg.shape, np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        has = np.zeros(n + 1, bool)
        has[cc[tuple(peaks.T)]] = True
        k = len(peaks)
    # components without a seed: seed at their distance maximum
    for lab in np.nonzero(~has[1:])[0] + 1:
        pos = ndi.maximum_position(dist, cc, lab)
        k += 1
        markers[pos] = k
    relief = -seed_prob if (flood == "seed" and seed_prob is not None) else -dist
    return watershed(relief, markers, mask=mask, connectivity=2)


def match_counts(pred, gt):
    """(#TP, #pred, #gt) with IoU > 0.5 matching."""
    pred = pred.astype(np.int64)
    gt = gt.astype(np.int64)
    npred, ngt = int(pred.max()), int(gt.max())
    pred_ids, pred = np.unique(pred, return_inverse=True)
    gt_ids, gt = np.unique(gt, return_inverse=True)
    pred = pred.reshape(-1)
    gt = gt.reshape(-1)
    npd, ngd = len(pred_ids), len(gt_ids)
    inter = np.bincount(pred * ngd + gt, minlength=npd * ngd).reshape(npd, ngd)
    ps = inter.sum(1, keepdims=True)
    gs = inter.sum(0, keepdims=True)
    iou = inter / np.maximum(ps + gs - inter, 1)
    pi = pred_ids != 0
    gi = gt_ids != 0
    tp = int((iou[np.ix_(pi, gi)] > 0.5).sum())
    return tp, int(pi.sum()), int(gi.sum())


def evaluate(model, fixdir, min_distance=POST["min_distance"], verbose=True):
    inter_sum = union_sum = p_sum = g_sum = 0
    ious = []
    tp = npred = ngt = 0
    per = []
    for ip, mp in list_fixtures(fixdir):
        img = read_image(ip)
        gt = read_image(mp).astype(np.int64)
        logits = predict_logits(model, img)
        fg = foreground(logits)
        seed = seed_probability(logits)
        g = gt > 0
        i = int((fg & g).sum())
        u = int((fg | g).sum())
        inter_sum += i
        union_sum += u
        p_sum += int(fg.sum())
        g_sum += int(g.sum())
        ious.append(i / max(u, 1))
        inst = instances(fg, seed, POST["min_object_area"], POST["fill_holes"], min_distance,
                         POST["seed_threshold"], POST["min_seed_area"])
        t, np_, ng = match_counts(inst, gt)
        tp += t
        npred += np_
        ngt += ng
        per.append(dict(file=os.path.basename(ip), iou=i / max(u, 1), tp=t, n_pred=np_, n_gt=ng))
        if verbose:
            print(f"  {os.path.basename(ip):14s} iou={ious[-1]:.4f} objects tp={t} pred={np_} gt={ng}")
    prec = tp / max(npred, 1)
    rec = tp / max(ngt, 1)
    m = dict(
        semantic_iou=inter_sum / max(union_sum, 1),
        dice=2 * inter_sum / max(p_sum + g_sum, 1),
        mean_image_iou=float(np.mean(ious)),
        object_precision=prec,
        object_recall=rec,
        object_f1=2 * prec * rec / max(prec + rec, 1e-12),
        n_images=len(ious),
    )
    return m, per


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", default=os.path.join(HERE, "model.onnx"),
                    help="exported model, run with the numpy reference interpreter")
    ap.add_argument("--weights", default=None, help="torch checkpoint instead of --onnx")
    ap.add_argument("--fixtures", default=os.path.join(HERE, "fixtures"))
    ap.add_argument("--min-distance", type=int, default=POST["min_distance"])
    a = ap.parse_args()
    if a.weights:
        import torch
        from model import UNet
        torch.set_num_threads(2)
        ck = torch.load(a.weights, map_location="cpu")
        model = UNet(**ck["arch"])
        model.load_state_dict(ck["state_dict"])
        runner = TorchRunner(model)
    else:
        from onnx_ref import OnnxRef
        runner = OnnxRef(a.onnx)
    m, _ = evaluate(runner, a.fixtures, a.min_distance)
    print(json.dumps(m, indent=2))


if __name__ == "__main__":
    main()
