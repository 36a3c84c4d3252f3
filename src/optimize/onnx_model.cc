#include "optimize/onnx_model.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/defs/shape_inference.h>
#include <onnx/shape_inference/implementation.h>

#include <exception>
#include <string>

#include "core/file.h"

namespace orbit::optimize {
namespace {

// ONNX prefixes checker messages with "[ONNXRuntimeError]"-style noise only rarely; it does put
// the node in the message ("Node (name) has input size ..."), so the text is kept as is and
// only the surrounding whitespace trimmed.
std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::int64_t ElementSize(int elem_type) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::UINT32:
      return 4;
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT64:
    case onnx::TensorProto::COMPLEX64:
      return 8;
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
      return 2;
    case onnx::TensorProto::COMPLEX128:
      return 16;
    default:
      return 1;  // int8, uint8, bool
  }
}

}  // namespace

Result<onnx::ModelProto> ParseOnnxModel(std::string_view bytes, std::string_view name) {
  onnx::ModelProto model;
  if (bytes.empty()) {
    return InvalidArgumentError("model '" + std::string(name) + "': file is empty");
  }
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgumentError("model '" + std::string(name) +
                                "': not an ONNX model (the bytes do not parse as onnx.ModelProto)");
  }
  if (!model.has_graph() || model.opset_import_size() == 0) {
    return InvalidArgumentError("model '" + std::string(name) +
                                "': not an ONNX model (no graph or no opset_import)");
  }
  return model;
}

Result<onnx::ModelProto> LoadOnnxModel(const std::filesystem::path& path) {
  ORBIT_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  return ParseOnnxModel(bytes, path.string());
}

Status CheckOnnxModel(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    // The "full check" of onnx.checker.check_model(full_check=True): strict shape and type
    // inference on a copy, so that a mistyped edge (e.g. float16 into a float input) is caught.
    onnx::ModelProto copy = model;
    onnx::ShapeInferenceOptions options(/*check_type_val=*/true, /*strict_mode_val=*/1,
                                        /*data_prop_val=*/false);
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    return InvalidArgumentError("ONNX checker: " + Trim(e.what()));
  }
  return Status::Ok();
}

Result<std::string> SerializeOnnxModel(const onnx::ModelProto& model) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    return InternalError("could not serialise the ONNX model (over 2 GiB or missing fields)");
  }
  return bytes;
}

Status SaveOnnxModel(const onnx::ModelProto& model, const std::filesystem::path& path) {
  Status checked = CheckOnnxModel(model);
  if (!checked.ok()) return checked.WithContext("not writing '" + path.string() + "'");
  ORBIT_ASSIGN_OR_RETURN(std::string bytes, SerializeOnnxModel(model));
  return WriteFileAtomic(path, bytes);
}

ParameterStats CountParameters(const onnx::ModelProto& model) {
  ParameterStats stats;
  for (const onnx::TensorProto& init : model.graph().initializer()) {
    std::int64_t count = 1;
    for (std::int64_t d : init.dims()) count *= d;
    stats.parameter_count += count;
    stats.parameter_bytes += count * ElementSize(init.data_type());
  }
  return stats;
}

}  // namespace orbit::optimize
