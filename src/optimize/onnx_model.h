// ONNX models as editable protobufs. ONNX Runtime has no public graph-editing API, so the
// optimiser works on onnx::ModelProto (Debian's libonnx-dev) and hands the result to ORT as bytes.
// Every model this module writes has passed ONNX's checker first.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>
#include <string_view>

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

}  // namespace orbit::optimize
