"""Writes the request bodies the serving benchmark sends, all from one realistic test image.

From a PNG (written by `orbit bench --save-image`: synthetic fluorescent cells), the demo model's
input is built exactly as orbit.yaml says (percentile normalisation + reflect padding, the
python_pipeline.py functions): one [1, 1, H, W] FP32 tensor. Then, in --out:

  kserve.bin / kserve.hdr  KServe v2 binary-tensor request (JSON header + raw FP32 bytes; output
                           `logits` requested as binary) and its Inference-Header-Content-Length
  raw.bin                  the same FP32 bytes alone, for the FastAPI /infer endpoint
  grpc.bin                 a gRPC-framed inference.ModelInferRequest (KServe v2 gRPC, hand-encoded
                           protobuf: model_name, inputs[0] {name, datatype, shape}, outputs[0],
                           raw_input_contents[0]) for h2load
  shape.txt                "1,1,H,W"

Run with Debian's interpreter: /usr/bin/python3 bench/serve/make_inputs.py --help
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import yaml
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "foundation"))
from python_pipeline import preprocess  # noqa: E402

# The KServe v2 protobuf encoder the Python gRPC client check uses (one encoder, not two).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "e2e", "python"))
from grpc_client_check import infer_input, model_infer_request  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model directory (orbit.yaml)")
    ap.add_argument("--image", required=True, help="PNG test image")
    ap.add_argument("--out", required=True, help="directory for the bodies")
    args = ap.parse_args()
    with open(os.path.join(args.model, "orbit.yaml")) as f:
        recipe = yaml.safe_load(f)
    img = np.array(Image.open(args.image))
    x = preprocess(img, recipe.get("preprocess", {}))[None].astype(np.float32)  # [1, 1, H, W]
    x = np.ascontiguousarray(x)
    raw = x.tobytes()
    shape = list(x.shape)
    name = recipe["name"]
    in_name = recipe["inputs"][0]["name"]
    out_name = recipe["outputs"][0]["name"]
    os.makedirs(args.out, exist_ok=True)

    header = json.dumps({
        "inputs": [{"name": in_name, "shape": shape, "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": out_name, "parameters": {"binary_data": True}}],
    }, separators=(",", ":")).encode()
    with open(os.path.join(args.out, "kserve.bin"), "wb") as f:
        f.write(header + raw)
    with open(os.path.join(args.out, "kserve.hdr"), "w") as f:
        f.write(str(len(header)))
    with open(os.path.join(args.out, "raw.bin"), "wb") as f:
        f.write(raw)
    msg = model_infer_request(name, [infer_input(in_name, "FP32", shape)], [raw],
                              outputs=[out_name])
    with open(os.path.join(args.out, "grpc.bin"), "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(msg)) + msg)
    with open(os.path.join(args.out, "shape.txt"), "w") as f:
        f.write(",".join(str(d) for d in shape))


if __name__ == "__main__":
    main()
