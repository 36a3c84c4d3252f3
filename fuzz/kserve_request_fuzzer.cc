// libFuzzer target for ParseInferRequest, in JSON-only and binary-extension modes, with the
// response encoder and error body on the paths a server takes next. Build and run: fuzz/run.sh;
// see docs/fuzzing.md.
//
// Input layout: byte 0 chooses the mode (low two bits) and the limits (bit 7); the rest is the
// request.
//   mode 0: the rest is the body, all JSON (no Inference-Header-Content-Length).
//   mode 1: the rest is "<json>\0<binary>": the body is json + binary and the header length is
//           the JSON's size, so mutations of the JSON keep the split aligned.
//   mode 2: bytes 1-2 are the header length (little-endian), the rest is the body; lengths past
//           the body and lengths that cut the JSON are both reachable.
//   mode 3: as mode 0.
// Invariants checked (a violation aborts): errors carry an expected code and a message of the
// codec's own (not the JSON library's exception text) whose error body is valid JSON; parsed
// tensors are owned and agree with dtype/shape; every parsed request encodes, and the encoded JSON
// parses back to the same bytes (floats that JSON cannot represent excepted); binary outputs are
// appended byte for byte.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "serving/kserve_codec.h"
#include "serving/status_mapping.h"

namespace {

using orbit::DType;
using orbit::StatusCode;
using orbit::Tensor;
using orbit::serving::EncodeInferResponse;
using orbit::serving::InferResponse;
using orbit::serving::ParseInferRequest;
using orbit::serving::ParseLimits;

[[noreturn]] void Fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "invariant violated: %s %s\n", what, detail.c_str());
  std::abort();
}

void Check(bool condition, const char* what, const std::string& detail = "") {
  if (!condition) Fail(what, detail);
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.byte_size() == b.byte_size() &&
         (a.byte_size() == 0 ||
          std::memcmp(a.bytes().data(), b.bytes().data(), a.byte_size()) == 0);
}

// Whether JSON can carry every value of the tensor (NaN and infinities become null).
bool AllFinite(const Tensor& tensor) {
  const auto bytes = tensor.bytes();
  const std::size_t size = orbit::DTypeSize(tensor.dtype());
  for (std::size_t offset = 0; offset < bytes.size(); offset += size) {
    const std::byte* at = bytes.data() + offset;
    if (tensor.dtype() == DType::kFloat16) {
      std::uint16_t bits;
      std::memcpy(&bits, at, sizeof(bits));
      if ((bits & 0x7c00) == 0x7c00) return false;
    } else if (tensor.dtype() == DType::kFloat32) {
      float value;
      std::memcpy(&value, at, sizeof(value));
      if (!std::isfinite(value)) return false;
    } else if (tensor.dtype() == DType::kFloat64) {
      double value;
      std::memcpy(&value, at, sizeof(value));
      if (!std::isfinite(value)) return false;
    }
  }
  return true;
}

void CheckError(const orbit::Status& status) {
  const StatusCode code = status.code();
  Check(code == StatusCode::kInvalidArgument || code == StatusCode::kUnimplemented ||
            code == StatusCode::kResourceExhausted,
        "unexpected error code", status.ToString());
  Check(!status.message().empty(), "empty error message");
  // The codec checks JSON types before reading values; its catch-all for library exceptions is a
  // backstop, and reaching it means a check is missing.
  Check(status.message().rfind("invalid request: ", 0) != 0, "library exception escaped a check",
        status.message());
  const std::string body = orbit::serving::ErrorBodyJson(status);
  const auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  Check(!parsed.is_discarded() && parsed.contains("error"), "error body is not JSON", body);
  const int http = orbit::serving::HttpStatusForParseFailure(code);
  Check(http == 400 || http == 413 || http == 501, "unexpected HTTP status");
}

void CheckRoundTrip(orbit::serving::InferRequest& request) {
  InferResponse json_response;
  InferResponse binary_response;
  json_response.model_name = binary_response.model_name = "fuzz";
  json_response.model_version = binary_response.model_version = "1";
  json_response.id = binary_response.id = request.id;
  std::string expected_binary;
  for (const auto& input : request.inputs) {
    Check(input.tensor.is_owned(), "input tensor is not owned", input.name);
    Check(input.tensor.dtype() == input.dtype, "tensor dtype differs", input.name);
    Check(input.tensor.shape() == input.shape, "tensor shape differs", input.name);
    auto count = orbit::ElementCount(input.shape);
    Check(count.ok() && *count == input.tensor.element_count(), "element count differs");
    json_response.outputs.push_back({input.name, input.tensor.Clone(), false});
    binary_response.outputs.push_back({input.name, input.tensor.Clone(), true});
    const auto bytes = input.tensor.bytes();
    expected_binary.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }

  auto encoded = EncodeInferResponse(json_response);
  Check(encoded.ok(), "encoding failed", encoded.status().ToString());
  Check(!encoded->json_header_length, "JSON response has a header length");
  const auto document = nlohmann::json::parse(encoded->body, nullptr, false);
  Check(!document.is_discarded(), "encoded response is not JSON", encoded->body);
  bool all_finite = true;
  for (const auto& input : request.inputs) all_finite = all_finite && AllFinite(input.tensor);
  if (all_finite) {  // otherwise "null" stands for NaN or infinity and does not parse back
    const std::string again_body = nlohmann::json{{"inputs", document["outputs"]}}.dump();
    auto again = ParseInferRequest(again_body, std::nullopt);
    Check(again.ok(), "encoded response does not parse back", again.status().ToString());
    Check(again->inputs.size() == request.inputs.size(), "round trip changed the input count");
    for (std::size_t i = 0; i < request.inputs.size(); ++i) {
      Check(SameBytes(again->inputs[i].tensor, request.inputs[i].tensor),
            "JSON round trip changed a tensor", request.inputs[i].name);
    }
  }

  auto binary = EncodeInferResponse(binary_response);
  Check(binary.ok(), "binary encoding failed", binary.status().ToString());
  if (request.inputs.empty()) {
    Check(!binary->json_header_length, "header length without binary outputs");
    return;
  }
  Check(binary->json_header_length.has_value(), "binary response has no header length");
  Check(*binary->json_header_length + expected_binary.size() == binary->body.size(),
        "binary response size");
  Check(binary->body.compare(*binary->json_header_length, std::string::npos, expected_binary) == 0,
        "binary outputs differ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const unsigned mode = static_cast<unsigned char>(input[0]) & 3u;
  const bool tight_limits = (static_cast<unsigned char>(input[0]) & 0x80u) != 0;
  std::string_view rest = input.substr(1);

  std::string body;
  std::optional<std::size_t> header_length;
  if (mode == 1) {
    const auto split = rest.find('\0');
    const std::string_view json_part = rest.substr(0, split);
    body.assign(json_part);
    header_length = json_part.size();
    if (split != std::string_view::npos) body.append(rest.substr(split + 1));
  } else if (mode == 2) {
    if (rest.size() < 2) return 0;
    header_length = static_cast<unsigned char>(rest[0]) |
                    (static_cast<std::size_t>(static_cast<unsigned char>(rest[1])) << 8);
    body.assign(rest.substr(2));
  } else {
    body.assign(rest);
  }

  ParseLimits limits;
  if (tight_limits) {
    limits.max_body_bytes = 1024;
    limits.max_json_bytes = 512;
    limits.max_elements = 64;
  } else {
    limits.max_elements = 1 << 16;  // keeps each execution's memory small
  }

  auto request = ParseInferRequest(body, header_length, limits);
  if (!request.ok()) {
    CheckError(request.status());
    return 0;
  }
  CheckRoundTrip(*request);
  return 0;
}
