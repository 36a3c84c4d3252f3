// KServe v2 / Open Inference Protocol codec: turns an HTTP infer request body into tensors and
// tensors into a response body, including Triton's binary tensor data extension
// (Inference-Header-Content-Length + raw bytes after the JSON). It knows nothing about models,
// scheduling or sockets; every function here is pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tensor/tensor.h"

namespace orbit::serving {

// Bounds that keep one request from exhausting the server. Exceeding one is ResourceExhausted
// (the request is too large, retrying will not help: answer 413, see HttpStatusForParseFailure).
struct ParseLimits {
  // Whole body: JSON header plus binary section.
  std::size_t max_body_bytes = std::size_t{256} << 20;
  // JSON part alone: its DOM costs ~16 bytes per number, so it is bounded more tightly.
  std::size_t max_json_bytes = std::size_t{64} << 20;
  // Sum of the element counts of all inputs.
  std::int64_t max_elements = std::int64_t{64} << 20;
};

// Deepest JSON nesting accepted ('[' and '{' levels); deeper is InvalidArgument. Keeps the
// recursive parts of the JSON library (copy, dump) and of data flattening off the stack limit.
inline constexpr int kMaxJsonDepth = 64;

// One input tensor of a request. `tensor` owns its bytes (row-major) and repeats dtype/shape.
struct InferInput {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  Tensor tensor;
  nlohmann::json parameters = nlohmann::json::object();  // binary_data_size included
};

// An entry of the request's "outputs". `binary_data` is the output's parameters.binary_data,
// or the request's binary_data_output when absent. Other parameters (e.g. "classification")
// are kept but not interpreted.
struct RequestedOutput {
  std::string name;
  bool binary_data = false;
  nlohmann::json parameters = nlohmann::json::object();
};

struct InferRequest {
  std::string id;  // echoed in the response; empty when absent
  std::vector<InferInput> inputs;
  std::vector<RequestedOutput> outputs;  // empty: the model's outputs, all of them
  nlohmann::json parameters = nlohmann::json::object();
  // parameters.binary_data_output: whether outputs not listed in `outputs` (or listed without
  // their own binary_data) are returned in binary.
  bool binary_data_output_default = false;
};

// Parses an infer request body. `json_header_length` is the Inference-Header-Content-Length
// header: the JSON is body[0, n) and the bytes after it hold, in input order, the tensors of the
// inputs that carry parameters.binary_data_size; nullopt means the whole body is JSON.
// Errors: InvalidArgument naming the input and the reason, Unimplemented for BYTES,
// ResourceExhausted for a limit.
Result<InferRequest> ParseInferRequest(std::string_view body,
                                       std::optional<std::size_t> json_header_length,
                                       const ParseLimits& limits = {});

// One output tensor of a response; `binary` sends it after the JSON instead of as "data".
struct InferOutput {
  std::string name;
  Tensor tensor;
  bool binary = false;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;  // omitted when empty
  std::vector<InferOutput> outputs;
  nlohmann::json parameters = nlohmann::json::object();  // omitted when null or empty
};

struct EncodedResponse {
  std::string body;
  // Set (to the JSON's size) when any output is binary: send as Inference-Header-Content-Length.
  std::optional<std::size_t> json_header_length;
  std::string content_type;  // "application/json", or "application/octet-stream" with binary
};

// Encodes a response. JSON numbers are printed shortest-round-trip for the output's dtype (FP16
// via its exact float value); floats always carry a '.' or exponent so -0.0 survives; NaN and
// infinities, which JSON cannot represent, become null (ask for binary output to keep them).
// Errors: InvalidArgument for two outputs with one name or parameters that are not an object.
Result<EncodedResponse> EncodeInferResponse(const InferResponse& response);

// Tensor description for metadata endpoints; -1 marks a dynamic dimension.
struct TensorMetadata {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
};

inline constexpr std::string_view kOnnxRuntimePlatform = "onnxruntime_onnx";

// GET /v2: {"name", "version", "extensions": [...]}.
nlohmann::json ServerMetadataJson(std::string_view name, std::string_view version,
                                  std::span<const std::string> extensions);

// GET /v2/models/{name}: {"name", "versions", "platform", "inputs", "outputs"}, each tensor as
// {"name", "datatype", "shape"}.
nlohmann::json ModelMetadataJson(std::string_view name, std::span<const std::string> versions,
                                 std::string_view platform, std::span<const TensorMetadata> inputs,
                                 std::span<const TensorMetadata> outputs);

// IEEE 754 binary16 conversions used for FP16 "data". DoubleToHalfBits rounds to nearest even in
// one step (no double rounding through float); values that round beyond the largest half (65504)
// become infinity, NaN stays NaN. HalfBitsToFloat is exact.
std::uint16_t DoubleToHalfBits(double value);
float HalfBitsToFloat(std::uint16_t bits);

}  // namespace orbit::serving
