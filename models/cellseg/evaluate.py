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
  1. crop the logits back to the original H x W;
  2. foreground = sigmoid(logit) > 0.5  (== logit > 0);
  --- semantic metrics use this mask directly ---
  3. instances: remove 8-connected foreground components with area <
     min_object_area (15 px); fill holes (background regions not
     4-connected to the image border become foreground,
     scipy.ndimage.binary_fill_holes); Euclidean distance transform of the
     mask; seeds = skimage.feature.peak_local_max(dist, min_distance=5,
     labels=8-connected components, exclude_border=False); components that
     get no seed get one at their distance maximum; skimage watershed on
     -dist with those markers, restricted to the mask.
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

POST = dict(threshold=0.5, min_object_area=15, fill_holes=True, min_distance=5)
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
    """runner: callable numpy float32 [1,1,Hp,Wp] -> numpy logits [1,1,Hp,Wp]."""
    x, (h, w) = preprocess(img)
    y = runner(x)
    return y[0, 0, :h, :w]


# --------------------------------------------------------------------------
# post-processing
# --------------------------------------------------------------------------
def foreground(logits):
    return logits > 0.0  # sigmoid(logit) > 0.5


def instances(fg, min_object_area=15, fill_holes=True, min_distance=5):
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
    peaks = peak_local_max(dist, min_distance=min_distance, labels=cc, exclude_border=False)
    markers = np.zeros(fg.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # components without a seed: seed at their distance maximum
    has = np.zeros(n + 1, bool)
    has[cc[tuple(peaks.T)]] = True
    k = len(peaks)
    for lab in np.nonzero(~has[1:])[0] + 1:
        pos = ndi.maximum_position(dist, cc, lab)
        k += 1
        markers[pos] = k
    return watershed(-dist, markers, mask=mask)


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
        g = gt > 0
        i = int((fg & g).sum())
        u = int((fg | g).sum())
        inter_sum += i
        union_sum += u
        p_sum += int(fg.sum())
        g_sum += int(g.sum())
        ious.append(i / max(u, 1))
        inst = instances(fg, POST["min_object_area"], POST["fill_holes"], min_distance)
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
