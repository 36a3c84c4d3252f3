#!/usr/bin/python3
"""Pick the watershed seed distance (orbit.yaml postprocess.instances.min_distance)
on a synthetic validation set (numpy seed stream SeedSequence([0, 99]); neither
the training stream nor the fixtures).

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
        data.append((ev.foreground(ev.predict_logits(runner, img)), lab))
    i = sum(int((fg & (lab > 0)).sum()) for fg, lab in data)
    u = sum(int((fg | (lab > 0)).sum()) for fg, lab in data)
    print(f"validation semantic IoU {i / u:.4f}")
    for md in (2, 3, 4, 5, 6, 7, 8, 10):
        tp = npred = ngt = 0
        for fg, lab in data:
            t, p_, g_ = ev.match_counts(ev.instances(fg, ev.POST["min_object_area"],
                                                     ev.POST["fill_holes"], md), lab)
            tp, npred, ngt = tp + t, npred + p_, ngt + g_
        p, r = tp / npred, tp / ngt
        print(f"min_distance {md:2d}: precision {p:.3f} recall {r:.3f} F1 {2 * p * r / (p + r):.3f}")


if __name__ == "__main__":
    main()
