#!/usr/bin/python3
"""Interoperability check of `orbit serve`'s KServe v2 gRPC endpoint with Python's grpcio.

Uses Debian's python3-grpcio only: there are no generated stubs (grpcio-tools is not packaged),
so the few protobuf messages needed are encoded and decoded by hand from the wire format of
src/serving/proto/grpc_service.proto, and the RPCs are called with identity serializers.

    /usr/bin/python3 tests/e2e/python/grpc_client_check.py HOST:PORT [--model cellseg]

Checks ServerLive, ServerReady, ModelReady, a ModelInfer with raw_input_contents (output
"logits" shaped [1, 2, H, W], finite FP32), the same request with typed fp32_contents (identical
output bytes), and the error codes for an unknown model (NOT_FOUND) and a wrong raw byte count
(INVALID_ARGUMENT naming the input). Exits 0 when every check passes, 1 otherwise.
"""

import argparse
import math
import struct
import sys

import grpc

SERVICE = "/inference.GRPCInferenceService/"

# Wire types.
VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5


# --- encoding ---------------------------------------------------------------------------------


def varint(value):
    """Base-128 varint; negative int64 values take ten bytes, as protobuf encodes them."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field, wire_type):
    return varint((field << 3) | wire_type)


def length_delimited(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return key(field, LENGTH_DELIMITED) + varint(len(payload)) + payload


def packed_int64(field, values):
    return length_delimited(field, b"".join(varint(v) for v in values))


def packed_float(field, values):
    return length_delimited(field, struct.pack("<%df" % len(values), *values))


def infer_input(name, datatype, shape, fp32_contents=None):
    """ModelInferRequest.InferInputTensor: name=1, datatype=2, shape=3, contents=5."""
    message = length_delimited(1, name) + length_delimited(2, datatype) + packed_int64(3, shape)
    if fp32_contents is not None:
        # InferTensorContents.fp32_contents = 6 (packed).
        message += length_delimited(5, packed_float(6, fp32_contents))
    return message


def model_infer_request(model, inputs, raw_input_contents=(), request_id="", outputs=()):
    """ModelInferRequest: model_name=1, id=3, inputs=5, outputs=6 (requested output names),
    raw_input_contents=7."""
    message = length_delimited(1, model)
    if request_id:
        message += length_delimited(3, request_id)
    for tensor in inputs:
        message += length_delimited(5, tensor)
    for name in outputs:
        message += length_delimited(6, length_delimited(1, name))  # InferRequestedOutputTensor
    for raw in raw_input_contents:
        message += length_delimited(7, raw)
    return message


# --- decoding ---------------------------------------------------------------------------------


def read_varint(data, pos):
    result = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data):
    """Yields (field number, wire type, value) for every field of a message."""
    pos = 0
    while pos < len(data):
        tag, pos = read_varint(data, pos)
        field, wire_type = tag >> 3, tag & 7
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
        elif wire_type == LENGTH_DELIMITED:
            size, pos = read_varint(data, pos)
            value = data[pos : pos + size]
            pos += size
        elif wire_type == FIXED64:
            value = data[pos : pos + 8]
            pos += 8
        elif wire_type == FIXED32:
            value = data[pos : pos + 4]
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wire_type)
        yield field, wire_type, value


def signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_output_tensor(data):
    """ModelInferResponse.InferOutputTensor: name=1, datatype=2, shape=3 (packed or not)."""
    tensor = {"name": "", "datatype": "", "shape": []}
    for field, wire_type, value in fields(data):
        if field == 1:
            tensor["name"] = bytes(value).decode()
        elif field == 2:
            tensor["datatype"] = bytes(value).decode()
        elif field == 3 and wire_type == VARINT:
            tensor["shape"].append(signed64(value))
        elif field == 3:
            pos = 0
            while pos < len(value):
                dim, pos = read_varint(value, pos)
                tensor["shape"].append(signed64(dim))
    return tensor


def decode_infer_response(data):
    """ModelInferResponse: model_name=1, model_version=2, id=3, outputs=5, raw_output_contents=6."""
    response = {"model_name": "", "model_version": "", "id": "", "outputs": [], "raw": []}
    for field, _, value in fields(data):
        if field == 1:
            response["model_name"] = bytes(value).decode()
        elif field == 2:
            response["model_version"] = bytes(value).decode()
        elif field == 3:
            response["id"] = bytes(value).decode()
        elif field == 5:
            response["outputs"].append(decode_output_tensor(value))
        elif field == 6:
            response["raw"].append(bytes(value))
    return response


def decode_bool_field_1(data):
    """ServerLiveResponse.live / ServerReadyResponse.ready / ModelReadyResponse.ready."""
    for field, _, value in fields(data):
        if field == 1:
            return bool(value)
    return False  # proto3 omits false


# --- checks -----------------------------------------------------------------------------------


def call(channel, method, request, timeout=30):
    rpc = channel.unary_unary(
        SERVICE + method, request_serializer=None, response_deserializer=None
    )
    return rpc(request, timeout=timeout)


def expect_error(channel, request, code, needle):
    try:
        call(channel, "ModelInfer", request)
    except grpc.RpcError as error:
        if error.code() != code:
            raise AssertionError("expected %s, got %s: %s" % (code, error.code(), error.details()))
        if needle not in (error.details() or ""):
            raise AssertionError("%r does not mention %r" % (error.details(), needle))
        return
    raise AssertionError("expected %s, the call succeeded" % code)


def run_checks(target, model, size):
    # Outputs of large images exceed grpcio's default 4 MiB receive limit.
    unlimited = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(target, options=unlimited) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)

        if not decode_bool_field_1(call(channel, "ServerLive", b"")):
            raise AssertionError("ServerLive: live is false")
        if not decode_bool_field_1(call(channel, "ServerReady", b"")):
            raise AssertionError("ServerReady: ready is false")
        if not decode_bool_field_1(call(channel, "ModelReady", length_delimited(1, model))):
            raise AssertionError("ModelReady(%s): ready is false" % model)

        # A deterministic gradient image in [0, 1].
        pixels = [((i * 37) % 101) / 100.0 for i in range(size * size)]
        shape = [1, 1, size, size]
        raw = struct.pack("<%df" % len(pixels), *pixels)
        request = model_infer_request(
            model, [infer_input("image", "FP32", shape)], [raw], request_id="py-1"
        )
        response = decode_infer_response(call(channel, "ModelInfer", request))
        if response["model_name"] != model or response["id"] != "py-1":
            raise AssertionError("unexpected response header %r" % response)
        if len(response["outputs"]) != 1 or len(response["raw"]) != 1:
            raise AssertionError("expected one raw output, got %r" % response["outputs"])
        output = response["outputs"][0]
        expected_shape = [1, 2, size, size]
        if output != {"name": "logits", "datatype": "FP32", "shape": expected_shape}:
            raise AssertionError("unexpected output %r" % output)
        count = 2 * size * size
        if len(response["raw"][0]) != 4 * count:
            raise AssertionError(
                "logits hold %d bytes, expected %d" % (len(response["raw"][0]), 4 * count)
            )
        logits = struct.unpack("<%df" % count, response["raw"][0])
        if not all(math.isfinite(v) for v in logits):
            raise AssertionError("logits are not all finite")
        if max(logits) == min(logits):
            raise AssertionError("logits are constant (%f)" % logits[0])

        typed = model_infer_request(model, [infer_input("image", "FP32", shape, pixels)])
        typed_response = decode_infer_response(call(channel, "ModelInfer", typed))
        if typed_response["raw"] != response["raw"]:
            raise AssertionError("fp32_contents and raw_input_contents gave different logits")

        expect_error(
            channel,
            model_infer_request("no-such-model", [infer_input("image", "FP32", shape)], [raw]),
            grpc.StatusCode.NOT_FOUND,
            "no-such-model",
        )
        expect_error(
            channel,
            model_infer_request(model, [infer_input("image", "FP32", shape)], [raw[:-4]]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'image'",
        )
        return logits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT of orbit serve's gRPC endpoint")
    parser.add_argument("--model", default="cellseg")
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    args = parser.parse_args()
    try:
        logits = run_checks(args.target, args.model, args.size)
    except (AssertionError, grpc.RpcError, grpc.FutureTimeoutError) as error:
        print("grpc_client_check: FAILED: %s" % (error,), file=sys.stderr)
        return 1
    print(
        "grpc_client_check: ok (%s, logits[0..3] = %s)"
        % (args.target, ", ".join("%.5f" % v for v in logits[:4]))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
