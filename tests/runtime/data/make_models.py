#!/usr/bin/python3
"""Generates the tiny ONNX models that tests/runtime uses (a few hundred bytes each).

Run with Debian's interpreter, which has python3-onnx 1.12 and numpy:
    /usr/bin/python3 tests/runtime/data/make_models.py
The outputs are committed next to this script; re-running it rewrites them byte for byte.
Every model uses opset 13 and IR version 8 and is checked with onnx.checker before it is saved.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8
HERE = os.path.dirname(os.path.abspath(__file__))


def save(graph, file_name, metadata=None, doc=""):
    model = helper.make_model(
        graph,
        producer_name="orbit-tests",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    model.model_version = 1
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(HERE, file_name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print(f"{file_name}: {os.path.getsize(path)} bytes")


def add_one():
    # y = x + 1 on a [N, 3] float matrix; N is a named (symbolic) dynamic dimension.
    one = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "add_one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[one],
    )
    save(graph, "add_one.onnx", {"purpose": "runtime tests", "task": "add one"},
         doc="Adds 1 to every element.")


def conv_dynamic():
    # A 3x3 box filter (every weight 1/9, zero bias, pad 1) on [N, 1, H, W]. N is named, H and W
    # are dimensions with neither a value nor a name; both must read back as -1.
    weights = numpy_helper.from_array(np.full((1, 1, 3, 3), 1.0 / 9.0, dtype=np.float32), "w")
    bias = numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3],
                          pads=[1, 1, 1, 1])],
        "conv_dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, None, None])],
        initializer=[weights, bias],
    )
    save(graph, "conv_dynamic.onnx")


def two_inputs():
    # sum = float(a) + b and doubled = a + a, with fully static shapes [2].
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["a"], ["a_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a_float", "b"], ["sum"]),
            helper.make_node("Add", ["a", "a"], ["doubled"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.INT64, [2]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [2]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("doubled", TensorProto.INT64, [2]),
        ],
    )
    save(graph, "two_inputs.onnx")


def uint8_input():
    # scaled = float(pixels) / 255 on [N, 4] bytes.
    scale = numpy_helper.from_array(np.array(255.0, dtype=np.float32), "scale")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["pixels"], ["pixels_float"], to=TensorProto.FLOAT),
            helper.make_node("Div", ["pixels_float", "scale"], ["scaled"]),
        ],
        "uint8_input",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["N", 4])],
        [helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["N", 4])],
        initializer=[scale],
    )
    save(graph, "uint8_input.onnx")


def add_pair():
    # c = a + b with two independent dynamic lengths: ORT only finds out at run time that
    # lengths 2 and 3 cannot be broadcast together.
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        "add_pair",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["A"]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["B"]),
        ],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["C"])],
    )
    save(graph, "add_pair.onnx")


def string_input():
    # A string input, which orbit::Tensor cannot hold: loading must fail with Unimplemented.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["same"])],
        "string_input",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [1])],
        [helper.make_tensor_value_info("same", TensorProto.STRING, [1])],
    )
    save(graph, "string_input.onnx")


if __name__ == "__main__":
    add_one()
    conv_dynamic()
    two_inputs()
    uint8_input()
    add_pair()
    string_input()
