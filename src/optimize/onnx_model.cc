#include "optimize/onnx_model.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/defs/shape_inference.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
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

namespace orbit::optimize {

std::map<std::string, int> InferElemTypes(const onnx::ModelProto& model) {
  std::map<std::string, int> types;
  onnx::ModelProto copy = model;
  try {
    onnx::shape_inference::InferShapes(copy);
  } catch (const std::exception&) {
    // Partial information is still useful: fall back to what the model declares.
  }
  auto note = [&](const onnx::ValueInfoProto& info) {
    if (info.type().has_tensor_type() && info.type().tensor_type().elem_type() != 0) {
      types[info.name()] = info.type().tensor_type().elem_type();
    }
  };
  const onnx::GraphProto& graph = copy.graph();
  for (const auto& info : graph.input()) note(info);
  for (const auto& info : graph.output()) note(info);
  for (const auto& info : graph.value_info()) note(info);
  for (const auto& init : graph.initializer()) types[init.name()] = init.data_type();
  for (const auto& node : graph.node()) {
    if (node.op_type() == "Constant" && node.output_size() == 1) {
      for (const auto& attr : node.attribute()) {
        if (attr.name() == "value" && attr.has_t()) types[node.output(0)] = attr.t().data_type();
        if (attr.name() == "value_float" || attr.name() == "value_floats") {
          types[node.output(0)] = onnx::TensorProto::FLOAT;
        }
      }
    }
  }
  return types;
}

int DefaultOpset(const onnx::ModelProto& model) {
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") {
      return static_cast<int>(opset.version());
    }
  }
  return 0;
}

std::string NodeLabel(const onnx::NodeProto& node, int index) {
  if (!node.name().empty()) return node.name();
  return node.op_type() + "#" + std::to_string(index);
}

Result<std::vector<float>> FloatValues(const onnx::TensorProto& tensor) {
  if (tensor.data_type() != onnx::TensorProto::FLOAT) {
    return InvalidArgumentError("tensor '" + tensor.name() + "': expected float32, got type " +
                                std::to_string(tensor.data_type()));
  }
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    return InvalidArgumentError("tensor '" + tensor.name() +
                                "': external data is not supported (embed the weights)");
  }
  std::int64_t count = 1;
  for (std::int64_t d : tensor.dims()) count *= d;
  std::vector<float> values;
  if (tensor.has_raw_data()) {
    const std::string& raw = tensor.raw_data();
    if (raw.size() != static_cast<std::size_t>(count) * sizeof(float)) {
      return InvalidArgumentError("tensor '" + tensor.name() + "': raw_data holds " +
                                  std::to_string(raw.size()) + " bytes for " +
                                  std::to_string(count) + " floats");
    }
    values.resize(static_cast<std::size_t>(count));
    std::memcpy(values.data(), raw.data(), raw.size());
  } else {
    values.assign(tensor.float_data().begin(), tensor.float_data().end());
    if (static_cast<std::int64_t>(values.size()) != count) {
      return InvalidArgumentError("tensor '" + tensor.name() + "': float_data holds " +
                                  std::to_string(values.size()) + " values for " +
                                  std::to_string(count) + " elements");
    }
  }
  return values;
}

onnx::TensorProto MakeFloatTensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                  const std::vector<float>& values) {
  onnx::TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) tensor.add_dims(d);
  tensor.set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return tensor;
}

}  // namespace orbit::optimize
