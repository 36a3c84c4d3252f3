"""Tiny reference interpreter for the ONNX graph exported by train.py.

onnxruntime is not available on the build machine, so this is used to check
that the exported graph (BatchNorm folded into Conv by the exporter)
computes the same as the torch model, and to compute the fixture metrics on
the exported artifact itself. It walks the ONNX nodes in order and reads
weights and attributes from the file. Supports only the operators the U-Net
uses: Conv, ConvTranspose, Relu, MaxPool, Concat, BatchNormalization,
Identity. The convolutions use torch.nn.functional kernels when torch is
importable (Debian's numpy links the slow reference BLAS), else numpy.
"""
import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _im2col(x, kh, kw, pads, strides):
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    sh, sw = strides
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
    return cols.reshape(n, c * kh * kw, oh * ow), oh, ow


try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None


def conv(x, w, b, a):
    assert a.get("group", 1) == 1 and tuple(a.get("dilations", [1, 1])) == (1, 1)
    co, ci, kh, kw = w.shape
    # ONNX pads = [top, left, bottom, right]
    pads = a.get("pads", [0, 0, 0, 0])
    if torch is not None:
        xt = F.pad(torch.from_numpy(x), (pads[1], pads[3], pads[0], pads[2]))
        with torch.no_grad():
            y = F.conv2d(xt, torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                         stride=tuple(a.get("strides", [1, 1])))
        return y.numpy()
    pads = (pads[0], pads[1], pads[2], pads[3])
    cols, oh, ow = _im2col(x, kh, kw, pads, a.get("strides", [1, 1]))
    y = np.einsum("ok,nkp->nop", w.reshape(co, -1), cols, optimize=True)
    y = y.reshape(x.shape[0], co, oh, ow)
    if b is not None:
        y += b[None, :, None, None]
    return y.astype(np.float32)


def conv_transpose(x, w, b, a):
    # only the k == stride, no padding case (2x2 stride 2) is needed
    ci, co, kh, kw = w.shape
    assert tuple(a.get("strides")) == (kh, kw) and not any(a.get("pads", [0, 0, 0, 0]))
    n, _, h, wd = x.shape
    if torch is not None:
        with torch.no_grad():
            y = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w),
                                   None if b is None else torch.from_numpy(b), stride=(kh, kw))
        return y.numpy()
    y = np.einsum("nchw,coij->nohiwj", x, w, optimize=True).reshape(n, co, h * kh, wd * kw)
    if b is not None:
        y += b[None, :, None, None]
    return y.astype(np.float32)


def maxpool(x, a):
    k = tuple(a["kernel_shape"])
    s = tuple(a.get("strides", k))
    assert k == s == (2, 2) and not any(a.get("pads", [0, 0, 0, 0]))
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


class OnnxRef:
    def __init__(self, path):
        self.model = onnx.load(path)
        g = self.model.graph
        self.init = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in g.initializer}
        self.nodes = list(g.node)
        self.in_name = g.input[0].name
        self.out_name = g.output[0].name
        self.op_types = sorted({nd.op_type for nd in self.nodes})

    def __call__(self, x):
        env = dict(self.init)
        env[self.in_name] = np.asarray(x, np.float32)
        for nd in self.nodes:
            a = _attrs(nd)
            ins = [env[i] if i else None for i in nd.input]
            t = nd.op_type
            if t == "Conv":
                y = conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
            elif t == "ConvTranspose":
                y = conv_transpose(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
            elif t == "Relu":
                y = np.maximum(ins[0], 0)
            elif t == "MaxPool":
                y = maxpool(ins[0], a)
            elif t == "Concat":
                y = np.concatenate(ins, axis=a["axis"])
            elif t == "Identity":
                y = ins[0]
            elif t == "BatchNormalization":
                xx, sc, bi, mu, var = ins
                eps = a.get("epsilon", 1e-5)
                f = sc / np.sqrt(var + eps)
                y = (xx - mu[None, :, None, None]) * f[None, :, None, None] + bi[None, :, None, None]
            else:
                raise NotImplementedError(t)
            env[nd.output[0]] = y
        return env[self.out_name]
