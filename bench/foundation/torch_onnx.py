"""Runs an ONNX graph of Conv/ConvTranspose/Relu/MaxPool/Concat/Sigmoid nodes with PyTorch kernels.

The Python baseline needs the demo network in PyTorch (what a user would serve it with), but the
repository ships only model.onnx. Walking the graph with torch.nn.functional gives exactly the same
network and weights with PyTorch's own CPU kernels; Debian has no onnxruntime for Python.
"""
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _symmetric_padding(pads):
    half = len(pads) // 2
    if list(pads[:half]) != list(pads[half:]):
        raise ValueError(f"asymmetric padding {pads} is not supported")
    return tuple(pads[:half])


class TorchOnnxModule(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        model = onnx.load(path)
        self.graph = model.graph
        self.weights = {
            t.name: torch.from_numpy(np.array(numpy_helper.to_array(t), copy=True))
            for t in model.graph.initializer
        }
        self.input_name = model.graph.input[0].name
        self.output_names = [o.name for o in model.graph.output]

    @torch.no_grad()
    def forward(self, x):
        values = dict(self.weights)
        values[self.input_name] = x
        for node in self.graph.node:
            a = _attrs(node)
            ins = [values[name] for name in node.input if name]
            op = node.op_type
            if op == "Conv":
                pads = _symmetric_padding(a.get("pads", [0, 0, 0, 0]))
                y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                             stride=tuple(a.get("strides", [1, 1])), padding=pads,
                             dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))
            elif op == "ConvTranspose":
                pads = _symmetric_padding(a.get("pads", [0, 0, 0, 0]))
                y = F.conv_transpose2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                                       stride=tuple(a.get("strides", [1, 1])), padding=pads,
                                       output_padding=tuple(a.get("output_padding", [0, 0])),
                                       groups=a.get("group", 1))
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Sigmoid":
                y = torch.sigmoid(ins[0])
            elif op == "MaxPool":
                pads = _symmetric_padding(a.get("pads", [0, 0, 0, 0]))
                y = F.max_pool2d(ins[0], tuple(a["kernel_shape"]),
                                 stride=tuple(a.get("strides", a["kernel_shape"])), padding=pads)
            elif op == "Concat":
                y = torch.cat(ins, dim=a["axis"])
            else:
                raise NotImplementedError(f"ONNX op {op} is not supported by the baseline")
            values[node.output[0]] = y
        return values[self.output_names[0]]
