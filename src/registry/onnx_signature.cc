#include "registry/onnx_signature.h"

#include <cstddef>
#include <limits>
#include <span>

#include "runtime/engine.h"

namespace orbit::registry {
namespace {

// A cursor over protobuf wire-format bytes.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : bytes_(bytes) {}
  bool done() const { return pos_ >= bytes_.size(); }

  bool ReadVarint(std::uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return false;
      const auto byte = static_cast<std::uint8_t>(bytes_[pos_++]);
      *value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // Reads a field key; then either Field (length-delimited payload) or Skip.
  bool ReadKey(std::uint32_t* field, std::uint32_t* wire_type) {
    std::uint64_t key = 0;
    if (!ReadVarint(&key)) return false;
    *field = static_cast<std::uint32_t>(key >> 3);
    *wire_type = static_cast<std::uint32_t>(key & 7);
    return true;
  }

  bool ReadLengthDelimited(std::string_view* payload) {
    std::uint64_t length = 0;
    if (!ReadVarint(&length) || length > bytes_.size() - pos_) return false;
    *payload = bytes_.substr(pos_, static_cast<std::size_t>(length));
    pos_ += static_cast<std::size_t>(length);
    return true;
  }

  bool Skip(std::uint32_t wire_type) {
    std::uint64_t ignored = 0;
    std::string_view payload;
    switch (wire_type) {
      case 0:
        return ReadVarint(&ignored);
      case 1:
        return Advance(8);
      case 2:
        return ReadLengthDelimited(&payload);
      case 5:
        return Advance(4);
      default:  // groups (3, 4) are not used by ONNX
        return false;
    }
  }

 private:
  bool Advance(std::size_t n) {
    if (n > bytes_.size() - pos_) return false;
    pos_ += n;
    return true;
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
};

Status Malformed(std::string_view what) {
  return InvalidArgumentError("ONNX model: malformed protobuf in " + std::string(what));
}

// TensorProto.dims (field 1, packed or not) → element count (1 for a scalar).
Result<std::int64_t> TensorElements(std::string_view tensor) {
  WireReader reader(tensor);
  std::int64_t count = 1;
  auto multiply = [&count](std::uint64_t dim) -> bool {
    const auto d = static_cast<std::int64_t>(dim);
    if (d < 0 || (d != 0 && count > std::numeric_limits<std::int64_t>::max() / d)) return false;
    count *= d;
    return true;
  };
  while (!reader.done()) {
    std::uint32_t field = 0;
    std::uint32_t wire_type = 0;
    if (!reader.ReadKey(&field, &wire_type)) return Malformed("TensorProto");
    if (field == 1 && wire_type == 0) {
      std::uint64_t dim = 0;
      if (!reader.ReadVarint(&dim) || !multiply(dim)) return Malformed("TensorProto.dims");
    } else if (field == 1 && wire_type == 2) {
      std::string_view packed;
      if (!reader.ReadLengthDelimited(&packed)) return Malformed("TensorProto.dims");
      WireReader dims(packed);
      while (!dims.done()) {
        std::uint64_t dim = 0;
        if (!dims.ReadVarint(&dim) || !multiply(dim)) return Malformed("TensorProto.dims");
      }
    } else if (!reader.Skip(wire_type)) {
      return Malformed("TensorProto");
    }
  }
  return count;
}

// SparseTensorProto.values (field 1) is a TensorProto of the non-zero values.
Result<std::int64_t> SparseTensorElements(std::string_view sparse) {
  WireReader reader(sparse);
  while (!reader.done()) {
    std::uint32_t field = 0;
    std::uint32_t wire_type = 0;
    if (!reader.ReadKey(&field, &wire_type)) return Malformed("SparseTensorProto");
    if (field == 1 && wire_type == 2) {
      std::string_view values;
      if (!reader.ReadLengthDelimited(&values)) return Malformed("SparseTensorProto.values");
      return TensorElements(values);
    }
    if (!reader.Skip(wire_type)) return Malformed("SparseTensorProto");
  }
  return std::int64_t{0};
}

TensorSignature ToSignature(const runtime::TensorInfo& info) {
  return {info.name, std::string(DTypeName(info.dtype)), info.shape};
}

nlohmann::json TensorsToJson(const std::vector<TensorSignature>& tensors) {
  nlohmann::json array = nlohmann::json::array();
  for (const TensorSignature& t : tensors) {
    array.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
  }
  return array;
}

}  // namespace

Result<std::int64_t> CountOnnxParameters(std::string_view model_bytes) {
  constexpr std::uint32_t kModelGraph = 7;
  constexpr std::uint32_t kGraphInitializer = 5;
  constexpr std::uint32_t kGraphSparseInitializer = 15;
  WireReader model(model_bytes);
  std::int64_t total = 0;
  while (!model.done()) {
    std::uint32_t field = 0;
    std::uint32_t wire_type = 0;
    if (!model.ReadKey(&field, &wire_type)) return Malformed("ModelProto");
    if (field != kModelGraph || wire_type != 2) {
      if (!model.Skip(wire_type)) return Malformed("ModelProto");
      continue;
    }
    std::string_view graph_bytes;
    if (!model.ReadLengthDelimited(&graph_bytes)) return Malformed("ModelProto.graph");
    WireReader graph(graph_bytes);
    while (!graph.done()) {
      if (!graph.ReadKey(&field, &wire_type)) return Malformed("GraphProto");
      if (wire_type == 2 && (field == kGraphInitializer || field == kGraphSparseInitializer)) {
        std::string_view tensor;
        if (!graph.ReadLengthDelimited(&tensor)) return Malformed("GraphProto.initializer");
        ORBIT_ASSIGN_OR_RETURN(std::int64_t n, field == kGraphInitializer
                                                   ? TensorElements(tensor)
                                                   : SparseTensorElements(tensor));
        total += n;
      } else if (!graph.Skip(wire_type)) {
        return Malformed("GraphProto");
      }
    }
  }
  return total;
}

Result<OnnxSignature> ReadOnnxSignature(std::string_view model_bytes, std::string_view label) {
  runtime::EngineOptions options;
  options.optimization = runtime::GraphOptimization::kDisabled;
  options.intra_op_threads = 1;
  options.inter_op_threads = 1;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(model_bytes.data()),
                                         model_bytes.size());
  auto engine = runtime::LoadOnnxEngineFromBytes(bytes, std::string(label), options);
  if (!engine.ok()) {
    return InvalidArgumentError(std::string(label) +
                                " is not a loadable ONNX model: " + engine.status().message());
  }
  OnnxSignature signature;
  for (const auto& input : (*engine)->inputs()) signature.inputs.push_back(ToSignature(input));
  for (const auto& output : (*engine)->outputs()) signature.outputs.push_back(ToSignature(output));
  signature.opset = (*engine)->metadata().opset;
  signature.producer = (*engine)->metadata().producer_name;
  signature.file_size_bytes = model_bytes.size();
  auto parameters = CountOnnxParameters(model_bytes);
  if (!parameters.ok()) return parameters.status().WithContext(label);
  signature.parameter_count = *parameters;
  return signature;
}

nlohmann::json SignatureToJson(const OnnxSignature& signature) {
  return {{"format", "onnx"},
          {"inputs", TensorsToJson(signature.inputs)},
          {"outputs", TensorsToJson(signature.outputs)},
          {"opset", signature.opset},
          {"producer", signature.producer},
          {"file_size_bytes", signature.file_size_bytes},
          {"parameter_count", signature.parameter_count}};
}

Result<OnnxSignature> SignatureFromJson(const nlohmann::json& json) {
  try {
    OnnxSignature signature;
    auto tensors = [](const nlohmann::json& array) {
      std::vector<TensorSignature> out;
      for (const auto& t : array) {
        out.push_back({t.at("name").get<std::string>(), t.at("dtype").get<std::string>(),
                       t.at("shape").get<Shape>()});
      }
      return out;
    };
    signature.inputs = tensors(json.at("inputs"));
    signature.outputs = tensors(json.at("outputs"));
    signature.opset = json.at("opset").get<int>();
    signature.producer = json.value("producer", "");
    signature.file_size_bytes = json.at("file_size_bytes").get<std::uint64_t>();
    signature.parameter_count = json.value("parameter_count", std::int64_t{0});
    return signature;
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(std::string("model signature JSON: ") + e.what());
  }
}

}  // namespace orbit::registry
