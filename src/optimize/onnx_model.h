// ONNX models as editable protobufs. ONNX Runtime has no public graph-editing API, so the
// optimiser works on onnx::ModelProto (Debian's libonnx-dev) and hands the result to ORT as bytes.
// Every model this module writes has passed ONNX's checker first.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace orbit::optimize {

Result<onnx::ModelProto> ParseOnnxModel(std::string_view bytes, std::string_view name);
Result<onnx::ModelProto> LoadOnnxModel(const std::filesystem::path& path);
// onnx::checker (full check, including shape inference); the error names the node.
Status CheckOnnxModel(const onnx::ModelProto& model);
Result<std::string> SerializeOnnxModel(const onnx::ModelProto& model);
// Checks, then writes atomically (temporary file + rename): a failed check writes nothing.
Status SaveOnnxModel(const onnx::ModelProto& model, const std::filesystem::path& path);

// Sum of the bytes and of the element counts of all initializers.
struct ParameterStats {
  std::int64_t parameter_count = 0;
  std::int64_t parameter_bytes = 0;
};
ParameterStats CountParameters(const onnx::ModelProto& model);

// Graph helpers shared by the transforms (FP16, calibration, QDQ).

// Element type (onnx::TensorProto::DataType) of every tensor the graph names: inputs, outputs,
// initializers, Constant outputs and, through ONNX shape inference on a copy, intermediates.
// Tensors whose type cannot be inferred are absent.
std::map<std::string, int> InferElemTypes(const onnx::ModelProto& model);
// Opset of the default ONNX domain ("" or "ai.onnx"); 0 when the model does not import it.
int DefaultOpset(const onnx::ModelProto& model);
// The node's name, or "<op_type>#<index>" when it has none (for messages and reports).
std::string NodeLabel(const onnx::NodeProto& node, int index);
// Values of a float32 tensor (float_data or raw_data); InvalidArgument for other types and for
// external data.
Result<std::vector<float>> FloatValues(const onnx::TensorProto& tensor);
// A float32 / typed tensor with raw_data, for new initializers.
onnx::TensorProto MakeFloatTensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                  const std::vector<float>& values);

}  // namespace orbit::optimize
