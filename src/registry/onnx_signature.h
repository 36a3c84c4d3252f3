// The signature of an ONNX model file as the registry records it with each version: input and
// output tensors, opset, producer, file size and parameter count. Read once at registration so
// that clients (serving, the UI, `orbit models show`) never have to load the model to know it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tensor/tensor.h"

namespace orbit::registry {

// One declared input or output; -1 marks a dynamic dimension.
struct TensorSignature {
  std::string name;
  std::string dtype;  // DTypeName: FP32, UINT8, ...
  Shape shape;
  bool operator==(const TensorSignature&) const = default;
};

// What a version's signature_json holds. Immutable once recorded.
struct OnnxSignature {
  std::vector<TensorSignature> inputs;
  std::vector<TensorSignature> outputs;
  int opset = 0;  // of the default ONNX domain
  std::string producer;
  std::uint64_t file_size_bytes = 0;
  // Elements of all graph initializers (and sparse initializer values) of the main graph;
  // initializers inside subgraphs (If/Loop bodies) are not counted.
  std::int64_t parameter_count = 0;
  bool operator==(const OnnxSignature&) const = default;
};

// Loads `model_bytes` with ONNX Runtime (graph optimisation off, CPU) and reads its signature.
// InvalidArgument naming `label` when the bytes are not a loadable ONNX model.
Result<OnnxSignature> ReadOnnxSignature(std::string_view model_bytes, std::string_view label);

// Sums the element counts of the main graph's initializers by walking the protobuf wire format
// (ModelProto.graph → GraphProto.initializer/sparse_initializer → TensorProto.dims), so no
// ONNX/protobuf library has to be linked next to ONNX Runtime's own copy.
Result<std::int64_t> CountOnnxParameters(std::string_view model_bytes);

nlohmann::json SignatureToJson(const OnnxSignature& signature);
Result<OnnxSignature> SignatureFromJson(const nlohmann::json& json);

}  // namespace orbit::registry
