#!/usr/bin/python3
"""Deterministic synthesis of fluorescence-microscopy-like cell images.

Every image comes with an exact ground-truth instance label map
(uint16, 0 = background, 1..K = cells, each label one 8-connected blob).

Rendering pipeline (all randomness comes from one numpy Generator):
  1. cells = filled ellipses (round and elongated, varied size and
     orientation), placed randomly, next to an existing cell (touching) or
     partly on top of one (overlapping: the later cell wins the pixels);
  2. the label map is cleaned: every label keeps only its largest connected
     piece, labels smaller than MIN_CELL_AREA are dropped, labels are
     renumbered 1..K;
  3. the clean image is rendered *from the label map*: per-cell brightness,
     a soft rim (dimmer towards the cell border, so touching cells show a
     faint seam), smoothed-noise texture and a brighter nucleus-like blob;
  4. optics: Gaussian PSF blur (sometimes strong, i.e. out of focus);
  5. uneven illumination: smooth low-frequency gain field times the signal
     plus a (also smooth) background offset;
  6. camera: Poisson shot noise at a random photon scale plus Gaussian read
     noise;
  7. digitisation: 8-bit, or 16-bit with a ~12-bit dynamic range and a
     random intensity scale / offset.

Run as a script to write a small preview set:
  /usr/bin/python3 models/cellseg/make_dataset.py --out /tmp/cellseg_preview -n 8
"""
import argparse
import os

import numpy as np
from scipy import ndimage as ndi

MIN_CELL_AREA = 20  # ground-truth cells smaller than this (after occlusion) are dropped


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------
def _ellipse_mask(h, w, cy, cx, a, b, theta):
    """Boolean mask of a filled ellipse (semi-axes a along theta, b across)."""
    r = int(np.ceil(max(a, b))) + 1
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 2)
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 2)
    if y0 >= y1 or x0 >= x1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(theta), np.sin(theta)
    u = dx * c + dy * s
    v = -dx * s + dy * c
    inside = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return (slice(y0, y1), slice(x0, x1)), inside


def _random_shape(rng, size_scale):
    """Semi-axes (a >= b) and orientation of one cell."""
    r = rng.uniform(5.0, 13.0) * size_scale
    if rng.random() < 0.35:  # elongated
        ratio = rng.uniform(1.5, 2.6)
    else:  # roundish
        ratio = rng.uniform(1.0, 1.35)
    a = r * np.sqrt(ratio)
    b = r / np.sqrt(ratio)
    return a, b, rng.uniform(0, np.pi)


def make_labels(rng, h, w, n_cells, p_touch=0.35, p_overlap=0.12, size_scale=1.0):
    """Place n_cells ellipses; returns a clean uint16 instance label map."""
    lab = np.zeros((h, w), np.int32)
    centers = []  # (cy, cx, a, b)
    next_id = 1
    for _ in range(n_cells):
        a, b, th = _random_shape(rng, size_scale)
        mode = rng.random()
        placed = False
        for _try in range(30):
            if centers and mode < p_touch + p_overlap:
                # anchor on an existing cell: touching or overlapping
                pcy, pcx, pa, pb = centers[rng.integers(len(centers))]
                ang = rng.uniform(0, 2 * np.pi)
                if mode < p_touch:
                    dist = (0.5 * (pa + pb) + 0.5 * (a + b)) * rng.uniform(0.85, 1.0)
                else:
                    dist = (0.5 * (pa + pb) + 0.5 * (a + b)) * rng.uniform(0.45, 0.75)
                cy, cx = pcy + dist * np.sin(ang), pcx + dist * np.cos(ang)
                if not (-a < cy < h + a and -a < cx < w + a):
                    continue
                res = _ellipse_mask(h, w, cy, cx, a, b, th)
                if res is None:
                    continue
                placed = True
                break
            else:
                # free placement: avoid overlapping existing cells
                cy, cx = rng.uniform(-a * 0.5, h + a * 0.5), rng.uniform(-a * 0.5, w + a * 0.5)
                res = _ellipse_mask(h, w, cy, cx, a, b, th)
                if res is None:
                    continue
                sl, m = res
                if np.any(lab[sl][m] != 0):
                    continue
                placed = True
                break
        if not placed:
            continue
        sl, m = res
        lab[sl][m] = next_id  # later cell wins the pixels
        centers.append((cy, cx, a, b))
        next_id += 1
    return clean_labels(lab)


def clean_labels(lab):
    """Keep the largest 8-connected piece of each label, drop tiny cells, renumber."""
    out = np.zeros(lab.shape, np.uint16)
    k = 0
    objs = ndi.find_objects(lab)
    for i, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        m = lab[sl] == i
        cc, n = ndi.label(m, structure=np.ones((3, 3)))
        if n > 1:
            sizes = ndi.sum(m, cc, index=np.arange(1, n + 1))
            m = cc == (1 + int(np.argmax(sizes)))
        if m.sum() < MIN_CELL_AREA:
            continue
        k += 1
        out[sl][m] = k
    return out


# --------------------------------------------------------------------------
# appearance
# --------------------------------------------------------------------------
def _smooth_noise(rng, h, w, sigma):
    n = ndi.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma, mode="reflect")
    return n / (n.std() + 1e-8)


def _low_freq_field(rng, h, w, amplitude):
    """Smooth field in [1-amplitude, 1+amplitude] (bilinear upsampled coarse grid)."""
    gy, gx = rng.integers(2, 5), rng.integers(2, 5)
    coarse = rng.uniform(-1, 1, (gy, gx)).astype(np.float32)
    f = ndi.zoom(coarse, (h / gy, w / gx), order=3, mode="nearest")[:h, :w]
    if f.shape != (h, w):
        f = np.pad(f, ((0, h - f.shape[0]), (0, w - f.shape[1])), mode="edge")
    # add a linear ramp (vignetting / tilted illumination)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = rng.uniform(-1, 1) * (yy / h - 0.5) + rng.uniform(-1, 1) * (xx / w - 0.5)
    f = f + ramp
    f = f / (np.abs(f).max() + 1e-8)
    return 1.0 + amplitude * f


def render(rng, lab):
    """Render a float clean-signal image (arbitrary units, ~[0, 1.5]) from labels."""
    h, w = lab.shape
    fg = lab > 0
    # border pixels: background or next to a different label (4-neighbourhood)
    edge = ~fg
    for ax in (0, 1):
        for sh in (1, -1):
            nb = np.roll(lab, sh, axis=ax)
            edge |= fg & (nb != lab)
    dist = ndi.distance_transform_edt(~edge).astype(np.float32)

    n = int(lab.max())
    brightness = np.concatenate([[0.0], rng.uniform(0.35, 1.0, n)]).astype(np.float32)
    rim_width = np.concatenate([[1.0], rng.uniform(1.5, 4.0, n)]).astype(np.float32)
    rim_floor = np.concatenate([[1.0], rng.uniform(0.45, 0.85, n)]).astype(np.float32)
    tex_amp = np.concatenate([[0.0], rng.uniform(0.05, 0.25, n)]).astype(np.float32)

    b = brightness[lab]
    rim = rim_floor[lab] + (1 - rim_floor[lab]) * np.clip(dist / rim_width[lab], 0, 1)
    tex = 1.0 + tex_amp[lab] * _smooth_noise(rng, h, w, rng.uniform(1.0, 2.5))
    sig = b * rim * np.clip(tex, 0.2, None)

    # nucleus-like brighter blob near each cell's centroid
    if n > 0:
        com = ndi.center_of_mass(fg, lab, index=np.arange(1, n + 1))
        areas = ndi.sum(fg, lab, index=np.arange(1, n + 1))
        nuc = np.zeros((h, w), np.float32)
        for i, ((cy, cx), ar) in enumerate(zip(com, areas), start=1):
            if rng.random() < 0.25:
                continue  # some cells have no visible nucleus
            r = np.sqrt(ar / np.pi) * rng.uniform(0.3, 0.55)
            cy += rng.normal(0, 0.15 * r)
            cx += rng.normal(0, 0.15 * r)
            rr = int(3 * r) + 2
            y0, y1 = max(0, int(cy) - rr), min(h, int(cy) + rr + 1)
            x0, x1 = max(0, int(cx) - rr), min(w, int(cx) + rr + 1)
            if y0 >= y1 or x0 >= x1:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            amp = rng.uniform(0.2, 0.8) * brightness[i]
            nuc[y0:y1, x0:x1] += amp * g * (lab[y0:y1, x0:x1] == i)
        sig = sig + nuc
    return sig.astype(np.float32)


def synthesize(rng, h, w, density=None, bit_depth=None):
    """One image + labels.

    density: cells per 10k pixels (default random 4..22)
    bit_depth: 8 or 16 (default random)
    returns (image uint8|uint16, labels uint16, info dict)
    """
    if density is None:
        density = rng.uniform(4.0, 22.0)
    if bit_depth is None:
        bit_depth = 8 if rng.random() < 0.5 else 16
    size_scale = rng.uniform(0.8, 1.25)
    n_cells = max(1, int(round(density * h * w / 1e4 / size_scale ** 2)))
    lab = make_labels(rng, h, w, n_cells, p_touch=rng.uniform(0.2, 0.5),
                      p_overlap=rng.uniform(0.05, 0.2), size_scale=size_scale)
    sig = render(rng, lab)

    # optics: PSF, sometimes out of focus
    if rng.random() < 0.25:
        psf = rng.uniform(1.6, 2.6)  # out of focus
    else:
        psf = rng.uniform(0.5, 1.3)
    sig = ndi.gaussian_filter(sig, psf, mode="reflect")

    # illumination: gain field on the signal + smooth background offset
    gain = _low_freq_field(rng, h, w, rng.uniform(0.1, 0.45))
    bg_level = rng.uniform(0.03, 0.2)
    bg = bg_level * _low_freq_field(rng, h, w, rng.uniform(0.1, 0.5))
    clean = sig * gain + bg

    # camera: shot noise + read noise (in photo-electrons)
    photons = rng.uniform(40.0, 400.0)  # electrons for a signal of 1.0
    e = rng.poisson(np.clip(clean, 0, None) * photons).astype(np.float32)
    e += rng.normal(0, rng.uniform(0.5, 4.0), (h, w)).astype(np.float32)
    img = e / photons  # back to ~signal units

    # digitisation
    if bit_depth == 8:
        scale = rng.uniform(90.0, 190.0)
        offset = rng.uniform(2.0, 20.0)
        out = np.clip(np.round(img * scale + offset), 0, 255).astype(np.uint8)
    else:
        # 12-bit-ish detector, random gain; stored in 16-bit
        scale = rng.uniform(900.0, 3000.0)
        offset = rng.uniform(50.0, 400.0)
        out = np.clip(np.round(img * scale + offset), 0, 4095 if rng.random() < 0.7 else 65535)
        out = out.astype(np.uint16)
    info = dict(h=h, w=w, bit_depth=bit_depth, n_cells=int(lab.max()), psf=float(psf),
                density=float(density))
    return out, lab, info


# --------------------------------------------------------------------------
# pre-processing (the C++ side reproduces this exactly)
# --------------------------------------------------------------------------
def normalize(img):
    """Percentile normalisation used by orbit.yaml (method: percentile, 1.0 / 99.8).

    x = float32(img); lo = np.percentile(x, 1.0); hi = np.percentile(x, 99.8)
    (numpy default 'linear' interpolation over ALL pixels of the unpadded image),
    x = (x - lo) / max(hi - lo, 1e-6); no clipping.
    """
    x = img.astype(np.float32)
    lo = np.float32(np.percentile(x, 1.0))
    hi = np.float32(np.percentile(x, 99.8))
    return ((x - lo) / np.float32(max(float(hi - lo), 1e-6))).astype(np.float32)


def pad_to_multiple(x, m=16):
    """Pad bottom/right with reflect (== OpenCV BORDER_REFLECT_101)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph == 0 and pw == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(x, pad, mode="reflect")


def write_png(path, arr):
    """Write uint8 -> 8-bit PNG, uint16 -> 16-bit PNG (always, whatever the values).

    (PIL is used directly because the Debian imageio 2.4 silently writes
    uint16 arrays with small values as 8-bit PNG.)
    """
    from PIL import Image
    arr = np.ascontiguousarray(arr)
    assert arr.dtype in (np.uint8, np.uint16), arr.dtype
    Image.fromarray(arr).save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for i in range(a.n):
        img, lab, info = synthesize(rng, *a.size)
        write_png(os.path.join(a.out, f"img_{i:03d}.png"), img)
        write_png(os.path.join(a.out, f"mask_{i:03d}.png"), lab)
        # 8-bit preview of normalised image for eyeballing
        prev = np.clip(normalize(img) * 255, 0, 255).astype(np.uint8)
        write_png(os.path.join(a.out, f"preview_{i:03d}.png"), prev)
        print(i, info)


if __name__ == "__main__":
    main()
