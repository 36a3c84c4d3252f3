"""The serving alternative a user would build: FastAPI + uvicorn + PyTorch, one worker.

  POST /infer    body: raw little-endian float32 tensor, header X-Shape: "N,C,H,W";
                 answers the raw float32 logits (application/octet-stream, X-Shape header)
  POST /segment  body: an encoded image (PNG); decode (PIL) + numpy normalisation + PyTorch +
                 scipy/skimage post-processing (the functions of bench/foundation/
                 python_pipeline.py); answers JSON {"object_count": n}
  GET  /health

The network is the repository's model.onnx run with PyTorch kernels (bench/foundation/
torch_onnx.py). Handlers are `async def` and call the model directly, as most FastAPI examples
do: one request computes at a time (no batching, no thread-pool oversubscription), the others
wait in the event loop.

  /usr/bin/python3 bench/serve/fastapi_server.py --model models/cellseg --port 8100 --threads 2
"""
import argparse
import os
import sys

import numpy as np
import torch
import uvicorn
import yaml
from fastapi import FastAPI, HTTPException, Request, Response

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "foundation"))
from python_pipeline import decode, postprocess, preprocess  # noqa: E402
from torch_onnx import TorchOnnxModule  # noqa: E402


def build_app(model_dir):
    with open(os.path.join(model_dir, "orbit.yaml")) as f:
        recipe = yaml.safe_load(f)
    model = TorchOnnxModule(os.path.join(model_dir, "model.onnx")).eval()
    pre_recipe = recipe.get("preprocess", {})
    post_recipe = recipe.get("postprocess", {})
    app = FastAPI()

    @app.get("/health")
    async def health():
        return {"ok": True}

    @app.post("/infer")
    async def infer(request: Request):
        body = await request.body()
        try:
            shape = [int(d) for d in request.headers["x-shape"].split(",")]
            x = torch.from_numpy(np.frombuffer(body, dtype=np.float32).reshape(shape))
        except (KeyError, ValueError) as e:
            raise HTTPException(status_code=400, detail=f"bad tensor: {e}")
        y = model(x).numpy()
        return Response(content=y.tobytes(), media_type="application/octet-stream",
                        headers={"X-Shape": ",".join(str(d) for d in y.shape)})

    @app.post("/segment")
    async def segment(request: Request):
        body = await request.body()
        try:
            img = decode(body)
        except Exception as e:  # noqa: BLE001 - PIL raises many types
            raise HTTPException(status_code=400, detail=f"cannot decode image: {e}")
        x = torch.from_numpy(preprocess(img, pre_recipe)[None])
        logits = model(x).numpy()
        return {"object_count": postprocess(logits[0], img, post_recipe)}

    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model directory (orbit.yaml + model.onnx)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8100)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    app = build_app(args.model)
    uvicorn.run(app, host=args.host, port=args.port, workers=1, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
