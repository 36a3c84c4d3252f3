#!/usr/bin/python3
"""Pick the instance post-processing (orbit.yaml postprocess.instances) on a
synthetic validation set (numpy seed stream SeedSequence([0, 99]); neither the
training stream nor the fixtures).

For a model with a seed (cell-core) channel it compares seed_threshold,
min_seed_area and the flooding relief (watershed on -distance vs on -seed
probability), plus the distance-transform seeds (min_distance) as a baseline.

  /usr/bin/python3 models/cellseg/tune_postprocess.py [--weights /tmp/cellseg_weights.pt]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_dataset import synthesize  # noqa: E402
from model import UNet  # noqa: E402
import evaluate as ev  # noqa: E402


def score(data, **kw):
    tp = npred = ngt = 0
    for fg, seed, lab in data:
        t, p_, g_ = ev.match_counts(ev.instances(fg, seed, ev.POST["min_object_area"],
                                                 ev.POST["fill_holes"], **kw), lab)
        tp, npred, ngt = tp + t, npred + p_, ngt + g_
    p, r = tp / max(npred, 1), tp / max(ngt, 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="/tmp/cellseg_weights.pt")
    ap.add_argument("-n", type=int, default=24)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(a.weights, map_location="cpu")
    m = UNet(**ck["arch"])
    m.load_state_dict(ck["state_dict"])
    runner = ev.TorchRunner(m)
    rng = np.random.default_rng(np.random.SeedSequence([0, 99]))
    data = []
    for _ in range(a.n):
        h, w = int(rng.integers(160, 385)), int(rng.integers(160, 385))
        img, lab, _ = synthesize(rng, h, w, density=rng.uniform(4, 25))
        logits = ev.predict_logits(runner, img)
        data.append((ev.foreground(logits), ev.seed_probability(logits), lab))
    i = sum(int((fg & (lab > 0)).sum()) for fg, _, lab in data)
    u = sum(int((fg | (lab > 0)).sum()) for fg, _, lab in data)
    print(f"validation semantic IoU {i / u:.4f}")
    no_seed = [(fg, None, lab) for fg, _, lab in data]
    for md in (4, 5, 6):
        p, r, f = score(no_seed, min_distance=md)
        print(f"distance-transform seeds, min_distance {md}: precision {p:.3f} recall {r:.3f} "
              f"F1 {f:.3f}")
    if data[0][1] is None:
        return
    for flood in ("distance", "seed"):
        for thr in (0.3, 0.5, 0.7, 0.8, 0.9):
            for msa in (3, 8, 12):
                p, r, f = score(data, seed_threshold=thr, min_seed_area=msa, flood=flood)
                print(f"seeds from channel 1, flood on -{flood:8s} seed_threshold {thr:.1f} "
                      f"min_seed_area {msa}: precision {p:.3f} recall {r:.3f} F1 {f:.3f}")


if __name__ == "__main__":
    main()
