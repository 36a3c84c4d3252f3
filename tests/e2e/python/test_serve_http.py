"""An independent KServe v2 HTTP client (requests + numpy) against a running `orbit serve`.

    ORBIT_HTTP_URL=http://127.0.0.1:8000 /usr/bin/python3 -m pytest -q tests/e2e/python/test_serve_http.py

Needs a server of tests/e2e/python/run_against_server.sh's kind: model `cellseg` (input "image"
FP32 [N, 1, H, W], output "logits" FP32 [N, 2, H, W]) with /segment.
"""

import json
import os
import pathlib
import struct
import zlib

import numpy as np
import pytest
import requests

URL = os.environ.get("ORBIT_HTTP_URL", "").rstrip("/")
MODEL = "cellseg"
IMAGE = pathlib.Path(__file__).resolve().parents[3] / "models/cellseg/fixtures/images/img_000.png"
TIMEOUT = 30

pytestmark = pytest.mark.skipif(not URL, reason="ORBIT_HTTP_URL is not set")


def infer_url(model=MODEL):
    return f"{URL}/v2/models/{model}/infer"


def random_image(side, seed):
    return np.random.default_rng(seed).random((1, 1, side, side), dtype=np.float32)


def json_request(pixels, **extra):
    body = {
        "inputs": [
            {
                "name": "image",
                "datatype": "FP32",
                "shape": list(pixels.shape),
                "data": pixels.ravel().tolist(),
            }
        ]
    }
    body.update(extra)
    return body


def binary_infer(pixels):
    """Binary-extension request and response: returns (json header, logits array)."""
    raw = pixels.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "datatype": "FP32",
                    "shape": list(pixels.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
        }
    ).encode()
    r = requests.post(
        infer_url(),
        data=header + raw,
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    length = int(r.headers["Inference-Header-Content-Length"])
    meta = json.loads(r.content[:length])
    out = meta["outputs"][0]
    size = out["parameters"]["binary_data_size"]
    assert len(r.content) == length + size
    logits = np.frombuffer(r.content[length:], dtype="<f4").reshape(out["shape"])
    return meta, logits


def test_server_and_model_metadata():
    assert requests.get(f"{URL}/v2/health/live", timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{URL}/v2/health/ready", timeout=TIMEOUT).status_code == 200
    server = requests.get(f"{URL}/v2", timeout=TIMEOUT).json()
    assert server["name"] == "orbit"
    assert "binary_tensor_data" in server["extensions"]
    model = requests.get(f"{URL}/v2/models/{MODEL}", timeout=TIMEOUT).json()
    assert model["name"] == MODEL
    assert model["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, -1, -1]}]
    assert [o["name"] for o in model["outputs"]] == ["logits"]
    assert requests.get(f"{URL}/v2/models/{MODEL}/ready", timeout=TIMEOUT).status_code == 200


def test_json_infer_returns_logits_and_echoes_id():
    pixels = random_image(32, 1)
    r = requests.post(infer_url(), json=json_request(pixels, id="py-1"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "py-1"
    assert body["model_name"] == MODEL
    (out,) = body["outputs"]
    assert out["name"] == "logits" and out["datatype"] == "FP32"
    assert out["shape"] == [1, 2, 32, 32]
    logits = np.asarray(out["data"], dtype=np.float32)
    assert logits.size == 2 * 32 * 32
    assert np.all(np.isfinite(logits))


def test_binary_infer_matches_json_infer_exactly():
    pixels = random_image(32, 2)
    r = requests.post(infer_url(), json=json_request(pixels), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    from_json = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(1, 2, 32, 32)
    meta, from_binary = binary_infer(pixels)
    assert meta["model_name"] == MODEL
    assert from_binary.shape == (1, 2, 32, 32)
    np.testing.assert_array_equal(from_json, from_binary)


def read_png_u16(data):
    """Decodes a non-interlaced 8/16-bit grayscale PNG (what /segment?mask=png returns)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert color == 0 and interlace == 0, header
    bpp = depth // 8
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return np.frombuffer(b"".join(rows), dtype=">u2" if bpp == 2 else np.uint8).reshape(height, width)


def test_segment_returns_objects_and_label_png():
    png = IMAGE.read_bytes()
    r = requests.post(f"{URL}/v2/models/{MODEL}/segment", data=png, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    result = r.json()
    count = result["summary"]["object_count"]
    assert count > 0
    assert len(result["objects"]) == count
    r = requests.post(f"{URL}/v2/models/{MODEL}/segment?mask=png", data=png, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/png"
    labels = read_png_u16(r.content)
    assert labels.dtype.itemsize == 2
    assert int(labels.max()) == count


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        (f"/v2/models/{MODEL}/infer", b'{"inputs": [', 400, "malformed JSON"),
        (
            f"/v2/models/{MODEL}/infer",
            json.dumps(
                {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 4, 4], "data": [1, 2, 3]}]}
            ).encode(),
            400,
            "input 'image'",
        ),
        ("/v2/models/nope/infer", b"{}", 404, "unknown model 'nope'"),
        (f"/v2/models/{MODEL}/segment", b"not an image", 400, "not a PNG"),
    ],
)
def test_errors_are_json_with_a_message(path, body, status, message):
    r = requests.post(f"{URL}{path}", data=body, timeout=TIMEOUT)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert message in r.json()["error"]
    assert requests.get(f"{URL}/v2/health/live", timeout=TIMEOUT).status_code == 200
