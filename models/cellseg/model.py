"""Small U-Net for fluorescent-cell segmentation (ONNX-exportable).

Encoder: 4 down-sampling steps (2x2 max-pool), so H and W must be multiples
of 16. Each stage is (3x3 conv, BatchNorm, ReLU) x 2. Decoder uses 2x2
stride-2 transposed convolutions and skip concatenation. Output: `out_ch`
raw logits per pixel (no sigmoid); the shipped model uses out_ch=2:
channel 0 = foreground, channel 1 = cell core (one watershed seed per cell).
"""
import torch
import torch.nn as nn


def _block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, base=16, max_ch=256, in_ch=1, out_ch=1):
        super().__init__()
        chs = [min(base * 2 ** i, max_ch) for i in range(5)]  # e.g. 16 32 64 128 256
        self.chs = chs
        self.enc = nn.ModuleList()
        c = in_ch
        for ch in chs:
            self.enc.append(_block(c, ch))
            c = ch
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(len(chs) - 1, 0, -1):
            self.up.append(nn.ConvTranspose2d(chs[i], chs[i - 1], 2, stride=2))
            self.dec.append(_block(2 * chs[i - 1], chs[i - 1]))
        self.head = nn.Conv2d(chs[0], out_ch, 1)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            x = e(x)
            if i < len(self.enc) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, dec in zip(self.up, self.dec):
            x = up(x)
            x = dec(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def n_params(m):
    return sum(p.numel() for p in m.parameters())
