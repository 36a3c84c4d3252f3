#include "optimize/fp16.h"

#include <onnx/defs/schema.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <vector>

#include "optimize/onnx_model.h"

namespace orbit::optimize {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kFloat16 = onnx::TensorProto::FLOAT16;

// Ops whose output type comes from an attribute, not from their inputs: converting "the node"
// would leave the declared type and the data disagreeing, so they stay as they are.
bool OutputTypeSetByAttribute(const std::string& op) {
  static const std::set<std::string> kOps = {
      "Cast",          "CastLike",         "ConstantOfShape",   "EyeLike",     "RandomNormal",
      "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"};
  return kOps.count(op) > 0;
}

bool AllowsFloat16(const onnx::OpSchema::FormalParameter& param) {
  for (const auto* type : param.GetTypes()) {
    if (*type == "tensor(float16)") return true;
  }
  return false;
}

// The formal parameter at position `index`, following a trailing variadic one.
const onnx::OpSchema::FormalParameter* Formal(
    const std::vector<onnx::OpSchema::FormalParameter>& params, int index) {
  if (params.empty()) return nullptr;
  if (index < static_cast<int>(params.size())) return &params[static_cast<std::size_t>(index)];
  if (params.back().GetOption() == onnx::OpSchema::Variadic) return &params.back();
  return nullptr;
}

bool HasSubgraph(const onnx::NodeProto& node) {
  for (const auto& attr : node.attribute()) {
    if (attr.has_g() || attr.graphs_size() > 0) return true;
  }
  return false;
}

onnx::TensorProto ToHalfTensor(const onnx::TensorProto& tensor, const std::vector<float>& values) {
  onnx::TensorProto half;
  half.set_name(tensor.name());
  half.set_data_type(kFloat16);
  for (std::int64_t d : tensor.dims()) half.add_dims(d);
  if (!tensor.doc_string().empty()) half.set_doc_string(tensor.doc_string());
  std::string raw(values.size() * sizeof(std::uint16_t), '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::uint16_t bits = FloatToHalf(values[i]);
    std::memcpy(raw.data() + i * sizeof(bits), &bits, sizeof(bits));
  }
  half.set_raw_data(std::move(raw));
  return half;
}

onnx::NodeProto MakeCast(const std::string& input, const std::string& output, int to) {
  onnx::NodeProto cast;
  cast.set_op_type("Cast");
  cast.set_name(output);
  cast.add_input(input);
  cast.add_output(output);
  onnx::AttributeProto* attr = cast.add_attribute();
  attr->set_name("to");
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(to);
  return cast;
}

// Converts a Constant node's float32 value to float16 in place.
Status ConvertConstantNode(onnx::NodeProto& node) {
  for (auto& attr : *node.mutable_attribute()) {
    if (attr.name() == "value" && attr.has_t()) {
      ORBIT_ASSIGN_OR_RETURN(std::vector<float> values, FloatValues(attr.t()));
      *attr.mutable_t() = ToHalfTensor(attr.t(), values);
      return Status::Ok();
    }
    if (attr.name() == "value_float" || attr.name() == "value_floats") {
      std::vector<float> values;
      onnx::TensorProto source;
      if (attr.name() == "value_float") {
        values.push_back(attr.f());
      } else {
        values.assign(attr.floats().begin(), attr.floats().end());
        source.add_dims(static_cast<std::int64_t>(values.size()));
      }
      attr.Clear();
      attr.set_name("value");
      attr.set_type(onnx::AttributeProto::TENSOR);
      *attr.mutable_t() = ToHalfTensor(source, values);
      return Status::Ok();
    }
  }
  return InvalidArgumentError("Constant node '" + node.name() + "' has no float value");
}

}  // namespace

std::uint16_t FloatToHalf(float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits >= 0x7f800000u) {  // inf or NaN
    return static_cast<std::uint16_t>(sign | (abs_bits > 0x7f800000u ? 0x7e00u : 0x7c00u));
  }
  if (abs_bits > 0x477fe000u) return static_cast<std::uint16_t>(sign | 0x7bffu);  // 65504
  if (abs_bits < 0x38800000u) {  // below 2^-14: FP16 subnormal (or zero)
    float magnitude = 0;
    std::memcpy(&magnitude, &abs_bits, sizeof(magnitude));
    const auto mantissa = static_cast<std::uint32_t>(std::nearbyint(magnitude * 16777216.0f));
    return static_cast<std::uint16_t>(sign | mantissa);
  }
  const std::uint32_t exponent = (abs_bits >> 23) - 127 + 15;
  const std::uint32_t mantissa = abs_bits & 0x7fffffu;
  std::uint32_t half = (exponent << 10) | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<std::uint16_t>(sign | half);
}

float HalfToFloat(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  float value = 0;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -value : value;
  }
  std::uint32_t out = 0;
  if (exponent == 31) {
    out = sign | 0x7f800000u | (mantissa << 13);
  } else {
    out = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  }
  std::memcpy(&value, &out, sizeof(value));
  return value;
}

std::set<std::string> DefaultFp16BlockList() {
  // Exponentials, logarithms and long accumulations overflow or lose precision in FP16; index
  // and region ops compare coordinates that FP16 cannot hold exactly.
  return {"Exp",
          "Log",
          "Pow",
          "Softmax",
          "LogSoftmax",
          "Softplus",
          "ReduceSum",
          "ReduceMean",
          "ReduceProd",
          "ReduceL1",
          "ReduceL2",
          "ReduceLogSum",
          "ReduceLogSumExp",
          "ReduceSumSquare",
          "CumSum",
          "LayerNormalization",
          "InstanceNormalization",
          "GroupNormalization",
          "LpNormalization",
          "MeanVarianceNormalization",
          "Range",
          "TopK",
          "NonMaxSuppression",
          "RoiAlign"};
}

Result<TransformResult> ConvertToFp16(const onnx::ModelProto& model, const Fp16Options& options) {
  std::map<std::string, int> types = InferElemTypes(model);
  const onnx::GraphProto& source = model.graph();

  std::set<std::string> initializer_names;
  for (const auto& init : source.initializer()) initializer_names.insert(init.name());
  bool has_float_input = false;
  for (const auto& input : source.input()) {
    if (initializer_names.count(input.name()) == 0 &&
        input.type().tensor_type().elem_type() == kFloat) {
      has_float_input = true;
    }
  }
  if (!has_float_input) {
    return InvalidArgumentError(
        "FP16 conversion: the model has no float32 input (nothing to convert)");
  }
  const int opset = DefaultOpset(model);
  auto is_float = [&](const std::string& name) {
    auto it = types.find(name);
    return !name.empty() && it != types.end() && it->second == kFloat;
  };

  TransformResult result;
  result.model = model;
  onnx::GraphProto& graph = *result.model.mutable_graph();
  const int node_count = graph.node_size();

  // 1. Which nodes compute in FP16. Constant nodes follow their uses (like initializers).
  enum class Precision { kNeutral, kFp16, kFp32, kConstant };
  std::vector<Precision> precision(static_cast<std::size_t>(node_count), Precision::kNeutral);
  std::vector<const onnx::OpSchema*> schemas(static_cast<std::size_t>(node_count), nullptr);
  for (int i = 0; i < node_count; ++i) {
    const onnx::NodeProto& node = graph.node(i);
    bool touches_float = false;
    for (const auto& name : node.input()) touches_float |= is_float(name);
    for (const auto& name : node.output()) touches_float |= is_float(name);
    if (!touches_float) continue;
    const bool default_domain = node.domain().empty() || node.domain() == "ai.onnx";
    if (node.op_type() == "Constant" && default_domain) {
      precision[static_cast<std::size_t>(i)] = Precision::kConstant;
      continue;
    }
    const std::string label = NodeLabel(node, i);
    std::string reason;
    const onnx::OpSchema* schema =
        default_domain ? onnx::OpSchemaRegistry::Schema(node.op_type(), opset, "") : nullptr;
    if (options.exclude_nodes.count(node.name()) > 0 || options.exclude_nodes.count(label) > 0) {
      reason = "excluded by --exclude-nodes";
    } else if (options.block_ops.count(node.op_type()) > 0) {
      reason = "numerically sensitive op (FP16 block list)";
    } else if (schema == nullptr) {
      reason = "op not supported by the FP16 converter (no ONNX schema in the default domain)";
    } else if (HasSubgraph(node)) {
      reason = "op with subgraphs not supported by the FP16 converter";
    } else if (std::any_of(node.input().begin(), node.input().end(), [&](const auto& name) {
                 return !name.empty() && types.count(name) == 0;
               })) {
      // E.g. fed by a custom op: without its type no Cast can be placed safely.
      reason = "an input's type is unknown to ONNX shape inference";
    } else if (OutputTypeSetByAttribute(node.op_type())) {
      reason = "output type set by an attribute; left as is";
    } else {
      bool any_half = false;
      bool outputs_ok = true;
      for (int o = 0; o < node.output_size(); ++o) {
        if (!is_float(node.output(o))) continue;
        const auto* formal = Formal(schema->outputs(), o);
        const bool half = formal != nullptr && AllowsFloat16(*formal);
        any_half |= half;
        outputs_ok &= half;
      }
      for (int in = 0; in < node.input_size(); ++in) {
        if (!is_float(node.input(in))) continue;
        const auto* formal = Formal(schema->inputs(), in);
        any_half |= formal != nullptr && AllowsFloat16(*formal);
      }
      if (!any_half || !outputs_ok) reason = "op has no float16 form in ONNX";
    }
    schemas[static_cast<std::size_t>(i)] = schema;
    if (reason.empty()) {
      precision[static_cast<std::size_t>(i)] = Precision::kFp16;
      result.converted_nodes.push_back(label);
    } else {
      precision[static_cast<std::size_t>(i)] = Precision::kFp32;
      result.kept_fp32.push_back({label, node.op_type(), reason});
    }
  }

  // 2. Graph outputs produced in FP16 are renamed "<name>_fp16" inside the graph and cast back.
  std::set<std::string> graph_outputs;
  for (const auto& output : graph.output()) graph_outputs.insert(output.name());
  std::map<std::string, std::string> renamed_outputs;  // original -> fp16 name
  for (int i = 0; i < node_count; ++i) {
    if (precision[static_cast<std::size_t>(i)] != Precision::kFp16) continue;
    const onnx::NodeProto& node = graph.node(i);
    for (const auto& name : node.output()) {
      if (graph_outputs.count(name) > 0 && is_float(name)) {
        renamed_outputs[name] = name + "_fp16";
      }
    }
  }
  for (auto& node : *graph.mutable_node()) {
    for (auto& name : *node.mutable_input()) {
      if (auto it = renamed_outputs.find(name); it != renamed_outputs.end()) name = it->second;
    }
    for (auto& name : *node.mutable_output()) {
      if (auto it = renamed_outputs.find(name); it != renamed_outputs.end()) name = it->second;
    }
  }
  for (const auto& [original, half_name] : renamed_outputs) types[half_name] = kFloat;

  // 3. Each float use requires FP16 (an FP16 node's float16-capable input) or FP32.
  std::map<std::string, int> produced_type;  // tensor -> type after conversion (node outputs)
  std::map<std::string, int> producer;       // tensor -> node index
  for (int i = 0; i < node_count; ++i) {
    const onnx::NodeProto& node = graph.node(i);
    for (const auto& name : node.output()) {
      producer[name] = i;
      if (!is_float(name)) continue;
      produced_type[name] =
          precision[static_cast<std::size_t>(i)] == Precision::kFp16 ? kFloat16 : kFloat;
    }
  }
  auto required_type = [&](int node_index, int input_index) {
    const onnx::NodeProto& node = graph.node(node_index);
    if (precision[static_cast<std::size_t>(node_index)] != Precision::kFp16) return kFloat;
    const auto* formal =
        Formal(schemas[static_cast<std::size_t>(node_index)]->inputs(), input_index);
    return formal != nullptr && AllowsFloat16(*formal) && !node.input(input_index).empty()
               ? kFloat16
               : kFloat;
  };
  // Constants (initializers, Constant nodes) become FP16 when every use wants FP16.
  std::map<std::string, bool> constant_all_half;
  for (const auto& name : initializer_names) {
    if (is_float(name)) constant_all_half[name] = graph_outputs.count(name) == 0;
  }
  for (int i = 0; i < node_count; ++i) {
    if (precision[static_cast<std::size_t>(i)] == Precision::kConstant) {
      const std::string& name = graph.node(i).output(0);
      constant_all_half[name] = graph_outputs.count(name) == 0;
    }
  }
  for (int i = 0; i < node_count; ++i) {
    const onnx::NodeProto& node = graph.node(i);
    for (int in = 0; in < node.input_size(); ++in) {
      auto it = constant_all_half.find(node.input(in));
      if (it != constant_all_half.end() && required_type(i, in) != kFloat16) it->second = false;
    }
  }
  for (const auto& [name, half] : constant_all_half) produced_type[name] = half ? kFloat16 : kFloat;
  for (const auto& input : graph.input()) {
    if (initializer_names.count(input.name()) == 0 && is_float(input.name())) {
      produced_type[input.name()] = kFloat;
    }
  }

  // 4. Casts where a use needs the other precision, placed right after the producer.
  std::map<int, std::vector<onnx::NodeProto>> casts_after;  // -1 = before every node
  std::map<std::pair<std::string, int>, std::string> cast_names;
  for (int i = 0; i < node_count; ++i) {
    onnx::NodeProto& node = *graph.mutable_node(i);
    for (int in = 0; in < node.input_size(); ++in) {
      const std::string name = node.input(in);
      if (!is_float(name)) continue;
      auto actual = produced_type.find(name);
      if (actual == produced_type.end()) continue;
      const int want = required_type(i, in);
      if (actual->second == want) continue;
      auto key = std::make_pair(name, want);
      auto existing = cast_names.find(key);
      if (existing == cast_names.end()) {
        const std::string cast_output = name + (want == kFloat16 ? "_to_fp16" : "_to_fp32");
        auto p = producer.find(name);
        casts_after[p == producer.end() ? -1 : p->second].push_back(
            MakeCast(name, cast_output, want));
        existing = cast_names.emplace(key, cast_output).first;
      }
      node.set_input(in, existing->second);
    }
  }

  // 5. Constants to FP16 (clamped to its finite range).
  for (auto& init : *graph.mutable_initializer()) {
    auto it = constant_all_half.find(init.name());
    if (it == constant_all_half.end() || !it->second) continue;
    ORBIT_ASSIGN_OR_RETURN(std::vector<float> values, FloatValues(init));
    init = ToHalfTensor(init, values);
  }
  for (int i = 0; i < node_count; ++i) {
    if (precision[static_cast<std::size_t>(i)] != Precision::kConstant) continue;
    onnx::NodeProto& node = *graph.mutable_node(i);
    if (constant_all_half[node.output(0)]) ORBIT_RETURN_IF_ERROR(ConvertConstantNode(node));
  }

  // 6. Node list with the casts in place, and FP32 copies of the renamed graph outputs.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& cast : casts_after[-1]) *nodes.Add() = std::move(cast);
  for (int i = 0; i < node_count; ++i) {
    *nodes.Add() = std::move(*graph.mutable_node(i));
    for (auto& cast : casts_after[i]) *nodes.Add() = std::move(cast);
  }
  for (const auto& [original, half_name] : renamed_outputs) {
    *nodes.Add() = MakeCast(half_name, original, kFloat);
  }
  graph.mutable_node()->Swap(&nodes);

  // 7. Declared types of intermediates follow the new precision.
  for (auto& info : *graph.mutable_value_info()) {
    auto it = produced_type.find(info.name());
    if (it != produced_type.end() && info.type().tensor_type().elem_type() == kFloat) {
      info.mutable_type()->mutable_tensor_type()->set_elem_type(it->second);
    }
  }
  return result;
}

}  // namespace orbit::optimize
