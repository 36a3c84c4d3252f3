#include "optimize/qdq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "optimize/onnx_model.h"

namespace orbit::optimize {
namespace {

constexpr int kFloat = onnx::TensorProto::FLOAT;

// How the quantiser treats an op (ONNX Runtime's QDQ quantiser and its fusion rules).
enum class OpKind {
  kUnsupported,
  kWeighted,    // Conv, ConvTranspose, Gemm, MatMul: int8 weight, int32 bias -> QLinearConv, ...
  kBinary,      // Add, Mul -> QLinearAdd, QLinearMul
  kRelu,        // folded into the producer's output quantisation when it directly follows one
  kSameParams,  // MaxPool, Resize: run on uint8 directly, so output keeps the input's parameters
  kConcat,      // -> QLinearConcat (each input with its own parameters)
};

OpKind KindOf(const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return OpKind::kUnsupported;
  const std::string& op = node.op_type();
  if (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul") {
    return OpKind::kWeighted;
  }
  if (op == "Add" || op == "Mul") return OpKind::kBinary;
  if (op == "Relu") return OpKind::kRelu;
  if (op == "MaxPool" || op == "Resize") return OpKind::kSameParams;
  if (op == "Concat") return OpKind::kConcat;
  return OpKind::kUnsupported;
}

const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& attr : node.attribute()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

std::int64_t IntAttribute(const onnx::NodeProto& node, const std::string& name,
                          std::int64_t fallback) {
  const auto* attr = FindAttribute(node, name);
  return attr != nullptr ? attr->i() : fallback;
}

float FloatAttribute(const onnx::NodeProto& node, const std::string& name, float fallback) {
  const auto* attr = FindAttribute(node, name);
  return attr != nullptr ? attr->f() : fallback;
}

// Everything QuantizeQdq decides before touching the graph; ActivationsToCalibrate reads the
// tensors whose ranges it needs from the same plan.
struct QuantPlan {
  std::vector<OpKind> kind;            // per node; kUnsupported = left in FP32
  std::vector<bool> quantized;         // per node
  std::vector<std::string> weight_of;  // per node: int8 weight initializer ("" = none)
  std::vector<std::string> bias_of;    // per node: int32 bias initializer ("" = none)
  std::vector<bool> fused_relu;        // per node: Relu folded into its producer
  std::vector<NodeDecision> kept_fp32;
  std::vector<std::string> converted;
  std::vector<std::string> activations;          // tensors that get a Q -> DQ pair, in graph order
  std::map<std::string, std::string> params_of;  // activation -> tensor whose range it uses
  std::set<std::string> constant_inputs;         // initializers quantised as uint8 activations
  std::vector<std::string> needed_ranges;
};

Result<QuantPlan> MakePlan(const onnx::ModelProto& model, const QuantizeOptions& options) {
  const onnx::GraphProto& graph = model.graph();
  const int opset = DefaultOpset(model);
  if (opset < 10) {
    return FailedPreconditionError("INT8 quantisation: opset " + std::to_string(opset) +
                                   " has no QuantizeLinear (needs 10, 13 for per-channel)");
  }
  if (options.per_channel && opset < 13) {
    return FailedPreconditionError(
        "INT8 quantisation: per-channel weights need opset 13 or "
        "later; the model has opset " +
        std::to_string(opset));
  }
  std::map<std::string, int> types = InferElemTypes(model);
  auto is_float = [&](const std::string& name) {
    auto it = types.find(name);
    return !name.empty() && it != types.end() && it->second == kFloat;
  };
  std::map<std::string, const onnx::TensorProto*> initializers;
  for (const auto& init : graph.initializer()) initializers[init.name()] = &init;
  std::set<std::string> graph_outputs;
  for (const auto& output : graph.output()) graph_outputs.insert(output.name());
  std::map<std::string, int> consumers;
  std::map<std::string, int> producer;
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const auto& name : graph.node(i).input()) ++consumers[name];
    for (const auto& name : graph.node(i).output()) producer[name] = i;
  }
  auto is_constant = [&](const std::string& name) { return initializers.count(name) > 0; };

  const auto n = static_cast<std::size_t>(graph.node_size());
  QuantPlan plan;
  plan.kind.assign(n, OpKind::kUnsupported);
  plan.quantized.assign(n, false);
  plan.weight_of.assign(n, "");
  plan.bias_of.assign(n, "");
  plan.fused_relu.assign(n, false);

  for (int i = 0; i < graph.node_size(); ++i) {
    const auto u = static_cast<std::size_t>(i);
    const onnx::NodeProto& node = graph.node(i);
    bool touches_float = false;
    for (const auto& name : node.input()) touches_float |= is_float(name);
    for (const auto& name : node.output()) touches_float |= is_float(name);
    if (!touches_float || node.op_type() == "Constant") continue;
    const std::string label = NodeLabel(node, i);
    const OpKind kind = KindOf(node);
    std::string reason;
    if (options.exclude_nodes.count(node.name()) > 0 || options.exclude_nodes.count(label) > 0) {
      reason = "excluded by --exclude-nodes";
    } else if (kind == OpKind::kUnsupported) {
      reason = "op not supported by the INT8 quantiser";
    } else if (node.input_size() == 0 || !is_float(node.input(0)) || is_constant(node.input(0))) {
      reason = "first input is not a float activation";
    } else if (kind == OpKind::kWeighted) {
      const std::string& op = node.op_type();
      const bool weight_constant = node.input_size() > 1 && is_constant(node.input(1)) &&
                                   initializers[node.input(1)]->data_type() == kFloat;
      const bool has_bias = node.input_size() > 2 && !node.input(2).empty();
      if (op != "MatMul" && !weight_constant) {
        reason = "weight is not a float32 initializer";
      } else if (has_bias &&
                 (!is_constant(node.input(2)) || initializers[node.input(2)]->dims_size() != 1)) {
        reason = "bias is not a 1-D float32 initializer";
      } else if (op == "Gemm" &&
                 (IntAttribute(node, "transA", 0) != 0 || FloatAttribute(node, "alpha", 1) != 1 ||
                  FloatAttribute(node, "beta", 1) != 1)) {
        reason = "Gemm with transA, alpha or beta is not supported by the INT8 quantiser";
      } else if (op == "MatMul" && !weight_constant && !is_float(node.input(1))) {
        reason = "second input is not float";
      } else {
        if (weight_constant) plan.weight_of[u] = node.input(1);
        if (has_bias) plan.bias_of[u] = node.input(2);
      }
    }
    plan.kind[u] = kind;
    if (!reason.empty()) {
      plan.kept_fp32.push_back({label, node.op_type(), reason});
      continue;
    }
    plan.quantized[u] = true;
    plan.converted.push_back(label);
    if (kind == OpKind::kRelu) {
      auto p = producer.find(node.input(0));
      if (p != producer.end() && plan.quantized[static_cast<std::size_t>(p->second)] &&
          (plan.kind[static_cast<std::size_t>(p->second)] == OpKind::kWeighted ||
           plan.kind[static_cast<std::size_t>(p->second)] == OpKind::kBinary) &&
          consumers[node.input(0)] == 1 && graph_outputs.count(node.input(0)) == 0) {
        plan.fused_relu[u] = true;
      }
    }
  }

  // Activations: inputs and outputs of quantised nodes. A fused Relu's producer writes the Relu's
  // output directly, quantised with the Relu's range (min 0, so the zero point clamps like Relu).
  std::set<std::string> seen;
  std::set<std::string> fused_inputs;
  for (std::size_t u = 0; u < n; ++u) {
    if (plan.fused_relu[u]) fused_inputs.insert(graph.node(static_cast<int>(u)).input(0));
  }
  auto add_activation = [&](const std::string& name, const std::string& params) {
    if (name.empty() || fused_inputs.count(name) > 0 || !seen.insert(name).second) return;
    plan.activations.push_back(name);
    auto source = plan.params_of.find(params);
    plan.params_of[name] = source != plan.params_of.end() ? source->second : params;
  };
  for (std::size_t u = 0; u < n; ++u) {
    if (!plan.quantized[u] || plan.fused_relu[u]) continue;
    const onnx::NodeProto& node = graph.node(static_cast<int>(u));
    std::string output = node.output(0);
    if (node.op_type() != "Relu") {
      // The next node may be a Relu folded into this one.
      for (std::size_t v = u + 1; v < n; ++v) {
        if (plan.fused_relu[v] && graph.node(static_cast<int>(v)).input(0) == output) {
          output = graph.node(static_cast<int>(v)).output(0);
          break;
        }
      }
    }
    switch (plan.kind[u]) {
      case OpKind::kWeighted:
        add_activation(node.input(0), node.input(0));
        if (plan.weight_of[u].empty()) add_activation(node.input(1), node.input(1));
        add_activation(output, output);
        break;
      case OpKind::kBinary:
      case OpKind::kConcat:
        for (const auto& input : node.input()) {
          if (is_constant(input)) {
            plan.constant_inputs.insert(input);
          } else {
            add_activation(input, input);
          }
        }
        add_activation(output, output);
        break;
      case OpKind::kRelu:
        add_activation(node.input(0), node.input(0));
        add_activation(output, output);
        break;
      case OpKind::kSameParams:
        add_activation(node.input(0), node.input(0));
        add_activation(output, node.input(0));
        break;
      case OpKind::kUnsupported:
        break;
    }
  }
  std::set<std::string> needed;
  for (const auto& name : plan.activations) {
    const std::string& source = plan.params_of[name];
    if (needed.insert(source).second) plan.needed_ranges.push_back(source);
  }
  return plan;
}

// uint8 asymmetric parameters for [min, max], the range first widened to include 0 so that zero
// (padding, Relu) is exact.
struct UInt8Params {
  float scale = 1;
  std::uint8_t zero_point = 0;
};
UInt8Params ActivationParams(TensorRange range) {
  const float low = std::min(range.min, 0.0f);
  const float high = std::max(range.max, 0.0f);
  UInt8Params params;
  params.scale = (high - low) / 255.0f;
  if (!(params.scale > 0) || !std::isfinite(params.scale)) {
    params.scale = 1;
    return params;
  }
  const float zero = std::round(-low / params.scale);
  params.zero_point = static_cast<std::uint8_t>(std::clamp(zero, 0.0f, 255.0f));
  return params;
}

template <typename T>
onnx::TensorProto MakeTensor(const std::string& name, int data_type,
                             const std::vector<std::int64_t>& dims, const std::vector<T>& values) {
  onnx::TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(data_type);
  for (auto d : dims) tensor.add_dims(d);
  tensor.set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
  return tensor;
}

onnx::NodeProto MakeQdqNode(const std::string& op, const std::string& input,
                            const std::string& scale, const std::string& zero_point,
                            const std::string& output, int axis = -1) {
  onnx::NodeProto node;
  node.set_op_type(op);
  node.set_name(output);
  node.add_input(input);
  node.add_input(scale);
  node.add_input(zero_point);
  node.add_output(output);
  if (axis >= 0) {
    auto* attr = node.add_attribute();
    attr->set_name("axis");
    attr->set_type(onnx::AttributeProto::INT);
    attr->set_i(axis);
  }
  return node;
}

// Quantised weight: int8 values and one scale per channel (or one in all).
struct Int8Weight {
  std::vector<std::int8_t> values;
  std::vector<float> scales;
  int axis = -1;  // -1: per tensor
};

Int8Weight QuantizeWeight(const std::vector<float>& values, const std::vector<std::int64_t>& dims,
                          int axis) {
  Int8Weight weight;
  weight.axis = axis;
  std::int64_t channels = 1;
  std::int64_t inner = 1;
  if (axis >= 0) {
    channels = dims[static_cast<std::size_t>(axis)];
    for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
  } else {
    inner = static_cast<std::int64_t>(values.size());
  }
  auto channel_of = [&](std::size_t index) {
    return axis >= 0
               ? static_cast<std::size_t>((static_cast<std::int64_t>(index) / inner) % channels)
               : 0;
  };
  std::vector<float> abs_max(static_cast<std::size_t>(channels), 0.0f);
  for (std::size_t i = 0; i < values.size(); ++i) {
    abs_max[channel_of(i)] = std::max(abs_max[channel_of(i)], std::abs(values[i]));
  }
  // Symmetric int8 in [-127, 127] (ONNX Runtime's choice), zero point 0.
  for (float m : abs_max) weight.scales.push_back(m > 0 ? m / 127.0f : 1.0f);
  weight.values.resize(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float q = std::round(values[i] / weight.scales[channel_of(i)]);
    weight.values[i] = static_cast<std::int8_t>(std::clamp(q, -127.0f, 127.0f));
  }
  return weight;
}

// The output-channel axis of a weight, or -1 for per-tensor.
int WeightAxis(const onnx::NodeProto& node, const onnx::TensorProto& weight, bool per_channel) {
  if (!per_channel) return -1;
  const std::string& op = node.op_type();
  if (op == "Conv") return 0;
  if (op == "ConvTranspose") return IntAttribute(node, "group", 1) == 1 ? 1 : -1;
  if (op == "Gemm") return IntAttribute(node, "transB", 0) != 0 ? 0 : 1;
  if (op == "MatMul" && weight.dims_size() == 2) return 1;
  return -1;
}

}  // namespace

Result<std::vector<std::string>> ActivationsToCalibrate(const onnx::ModelProto& model,
                                                        const QuantizeOptions& options) {
  ORBIT_ASSIGN_OR_RETURN(QuantPlan plan, MakePlan(model, options));
  return plan.needed_ranges;
}

Result<TransformResult> QuantizeQdq(const onnx::ModelProto& model, const RangeTable& ranges,
                                    const QuantizeOptions& options) {
  ORBIT_ASSIGN_OR_RETURN(QuantPlan plan, MakePlan(model, options));
  std::string missing;
  for (const auto& name : plan.needed_ranges) {
    if (ranges.count(name) == 0) missing += (missing.empty() ? "'" : ", '") + name + "'";
  }
  if (!missing.empty()) {
    return FailedPreconditionError("INT8 quantisation: no calibrated range for " + missing +
                                   " (calibrate the tensors ActivationsToCalibrate lists)");
  }

  TransformResult result;
  result.model = model;
  result.converted_nodes = plan.converted;
  result.kept_fp32 = plan.kept_fp32;
  onnx::GraphProto& graph = *result.model.mutable_graph();
  std::map<std::string, const onnx::TensorProto*> initializers;
  for (const auto& init : model.graph().initializer()) initializers[init.name()] = &init;
  std::vector<onnx::TensorProto> new_initializers;
  std::set<std::string> replaced_initializers;

  // Scale and zero point initializers, one pair per range source (shared by same-params ops, so
  // that ONNX Runtime sees identical parameters on both sides of MaxPool / Resize).
  std::map<std::string, UInt8Params> params;
  for (const auto& source : plan.needed_ranges) {
    params[source] = ActivationParams(ranges.at(source));
    new_initializers.push_back(
        MakeTensor(source + "_scale", kFloat, {}, std::vector<float>{params[source].scale}));
    new_initializers.push_back(MakeTensor(source + "_zero_point", onnx::TensorProto::UINT8, {},
                                          std::vector<std::uint8_t>{params[source].zero_point}));
  }
  auto params_of = [&](const std::string& activation) {
    return params.at(plan.params_of.at(activation));
  };

  std::vector<onnx::NodeProto> prologue;                      // before every node
  std::map<std::size_t, std::vector<onnx::NodeProto>> after;  // after node u
  std::map<std::string, std::string> input_rename;            // graph input -> its DQ output
  std::map<std::string, std::size_t> producer;
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const auto& name : graph.node(i).output()) producer[name] = static_cast<std::size_t>(i);
  }
  // Fused Relus: their producer writes the Relu's output.
  for (std::size_t u = 0; u < plan.fused_relu.size(); ++u) {
    if (!plan.fused_relu[u]) continue;
    const onnx::NodeProto& relu = graph.node(static_cast<int>(u));
    onnx::NodeProto& source = *graph.mutable_node(static_cast<int>(producer.at(relu.input(0))));
    source.set_output(0, relu.output(0));
    producer[relu.output(0)] = producer.at(relu.input(0));
  }
  // Activations: the producer writes "<t>_QuantizeLinear_Input", Q -> DQ restores "<t>", so every
  // consumer (quantised or not) reads the quantised value. Graph inputs keep their name: their
  // consumers read "<t>_DequantizeLinear_Output" instead.
  for (const auto& name : plan.activations) {
    const std::string source = plan.params_of.at(name);
    const std::string scale = source + "_scale";
    const std::string zero_point = source + "_zero_point";
    auto p = producer.find(name);
    if (p == producer.end()) {
      const std::string dq = name + "_DequantizeLinear_Output";
      prologue.push_back(
          MakeQdqNode("QuantizeLinear", name, scale, zero_point, name + "_QuantizeLinear_Output"));
      prologue.push_back(
          MakeQdqNode("DequantizeLinear", name + "_QuantizeLinear_Output", scale, zero_point, dq));
      input_rename[name] = dq;
      continue;
    }
    onnx::NodeProto& node = *graph.mutable_node(static_cast<int>(p->second));
    const std::string pre = name + "_QuantizeLinear_Input";
    for (auto& output : *node.mutable_output()) {
      if (output == name) output = pre;
    }
    after[p->second].push_back(
        MakeQdqNode("QuantizeLinear", pre, scale, zero_point, name + "_QuantizeLinear_Output"));
    after[p->second].push_back(
        MakeQdqNode("DequantizeLinear", name + "_QuantizeLinear_Output", scale, zero_point, name));
  }
  for (auto& node : *graph.mutable_node()) {
    for (auto& input : *node.mutable_input()) {
      if (auto it = input_rename.find(input); it != input_rename.end()) input = it->second;
    }
  }

  // Weights (int8, symmetric) and biases (int32, scale = input scale x weight scale).
  std::map<std::string, std::string> dequantized_weights;
  for (std::size_t u = 0; u < plan.quantized.size(); ++u) {
    if (!plan.quantized[u]) continue;
    onnx::NodeProto& node = *graph.mutable_node(static_cast<int>(u));
    const std::string& weight_name = plan.weight_of[u];
    if (weight_name.empty()) continue;
    const onnx::TensorProto& weight = *initializers.at(weight_name);
    const int axis = WeightAxis(node, weight, options.per_channel);
    std::vector<std::int64_t> dims(weight.dims().begin(), weight.dims().end());
    ORBIT_ASSIGN_OR_RETURN(std::vector<float> values, FloatValues(weight));
    const Int8Weight q = QuantizeWeight(values, dims, axis);
    const std::string key = weight_name + (axis >= 0 ? "_axis" + std::to_string(axis) : "");
    std::string dq = key + "_DequantizeLinear_Output";
    if (dequantized_weights.count(key) == 0) {
      const std::vector<std::int64_t> scale_dims =
          axis >= 0 ? std::vector<std::int64_t>{static_cast<std::int64_t>(q.scales.size())}
                    : std::vector<std::int64_t>{};
      new_initializers.push_back(
          MakeTensor(key + "_quantized", onnx::TensorProto::INT8, dims, q.values));
      new_initializers.push_back(MakeTensor(key + "_scale", kFloat, scale_dims, q.scales));
      new_initializers.push_back(MakeTensor(key + "_zero_point", onnx::TensorProto::INT8,
                                            scale_dims,
                                            std::vector<std::int8_t>(q.scales.size(), 0)));
      prologue.push_back(MakeQdqNode("DequantizeLinear", key + "_quantized", key + "_scale",
                                     key + "_zero_point", dq, axis));
      dequantized_weights[key] = dq;
    }
    node.set_input(1, dq);
    replaced_initializers.insert(weight_name);

    const std::string& bias_name = plan.bias_of[u];
    if (bias_name.empty()) continue;
    const onnx::TensorProto& bias = *initializers.at(bias_name);
    ORBIT_ASSIGN_OR_RETURN(std::vector<float> bias_values, FloatValues(bias));
    const float input_scale = params_of(model.graph().node(static_cast<int>(u)).input(0)).scale;
    const bool per_channel_bias = axis >= 0 && q.scales.size() == bias_values.size();
    std::vector<float> bias_scales;
    std::vector<std::int32_t> quantized_bias(bias_values.size());
    for (std::size_t c = 0; c < bias_values.size(); ++c) {
      const float s = input_scale * q.scales[per_channel_bias ? c : 0];
      if (per_channel_bias || c == 0) bias_scales.push_back(s);
      const double v = s > 0 ? std::round(static_cast<double>(bias_values[c]) / s) : 0.0;
      quantized_bias[c] = static_cast<std::int32_t>(std::clamp(v, -2147483647.0, 2147483647.0));
    }
    const std::string bias_key = NodeLabel(node, static_cast<int>(u)) + "/" + bias_name;
    const std::vector<std::int64_t> bias_scale_dims =
        per_channel_bias ? std::vector<std::int64_t>{static_cast<std::int64_t>(bias_scales.size())}
                         : std::vector<std::int64_t>{};
    new_initializers.push_back(MakeTensor(bias_key + "_quantized", onnx::TensorProto::INT32,
                                          {static_cast<std::int64_t>(bias_values.size())},
                                          quantized_bias));
    new_initializers.push_back(
        MakeTensor(bias_key + "_scale", kFloat, bias_scale_dims, bias_scales));
    new_initializers.push_back(MakeTensor(bias_key + "_zero_point", onnx::TensorProto::INT32,
                                          bias_scale_dims,
                                          std::vector<std::int32_t>(bias_scales.size(), 0)));
    const std::string bias_dq = bias_key + "_DequantizeLinear_Output";
    prologue.push_back(MakeQdqNode("DequantizeLinear", bias_key + "_quantized", bias_key + "_scale",
                                   bias_key + "_zero_point", bias_dq, per_channel_bias ? 0 : -1));
    node.set_input(2, bias_dq);
    replaced_initializers.insert(bias_name);
  }

  // Constant inputs of Add / Mul / Concat: uint8 from their own values.
  for (const auto& name : plan.constant_inputs) {
    ORBIT_ASSIGN_OR_RETURN(std::vector<float> values, FloatValues(*initializers.at(name)));
    TensorRange range{0, 0};
    for (float v : values) {
      range.min = std::min(range.min, v);
      range.max = std::max(range.max, v);
    }
    const UInt8Params p = ActivationParams(range);
    std::vector<std::uint8_t> quantized(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      const float q = std::round(values[i] / p.scale) + static_cast<float>(p.zero_point);
      quantized[i] = static_cast<std::uint8_t>(std::clamp(q, 0.0f, 255.0f));
    }
    const onnx::TensorProto& source = *initializers.at(name);
    std::vector<std::int64_t> dims(source.dims().begin(), source.dims().end());
    new_initializers.push_back(
        MakeTensor(name + "_quantized", onnx::TensorProto::UINT8, dims, quantized));
    new_initializers.push_back(
        MakeTensor(name + "_scale", kFloat, {}, std::vector<float>{p.scale}));
    new_initializers.push_back(MakeTensor(name + "_zero_point", onnx::TensorProto::UINT8, {},
                                          std::vector<std::uint8_t>{p.zero_point}));
    const std::string dq = name + "_DequantizeLinear_Output";
    prologue.push_back(MakeQdqNode("DequantizeLinear", name + "_quantized", name + "_scale",
                                   name + "_zero_point", dq));
    for (std::size_t u = 0; u < plan.quantized.size(); ++u) {
      if (!plan.quantized[u]) continue;
      for (auto& input : *graph.mutable_node(static_cast<int>(u))->mutable_input()) {
        if (input == name) input = dq;
      }
    }
    replaced_initializers.insert(name);
  }

  // New node list: prologue (graph-input Q/DQ, weight DQ), then each node followed by its Q/DQ.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& node : prologue) *nodes.Add() = std::move(node);
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto u = static_cast<std::size_t>(i);
    if (plan.fused_relu[u]) continue;
    *nodes.Add() = std::move(*graph.mutable_node(i));
    for (auto& node : after[u]) *nodes.Add() = std::move(node);
  }
  graph.mutable_node()->Swap(&nodes);

  // Drop FP32 initializers nothing reads any more, then add the quantised ones.
  std::set<std::string> referenced;
  for (const auto& node : graph.node()) referenced.insert(node.input().begin(), node.input().end());
  for (const auto& output : graph.output()) referenced.insert(output.name());
  google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
  for (auto& init : *graph.mutable_initializer()) {
    if (replaced_initializers.count(init.name()) > 0 && referenced.count(init.name()) == 0) {
      continue;
    }
    *kept.Add() = std::move(init);
  }
  graph.mutable_initializer()->Swap(&kept);
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (auto& input : *graph.mutable_input()) {
    if (replaced_initializers.count(input.name()) > 0 && referenced.count(input.name()) == 0) {
      continue;
    }
    *inputs.Add() = std::move(input);
  }
  graph.mutable_input()->Swap(&inputs);
  for (auto& init : new_initializers) *graph.add_initializer() = std::move(init);
  return result;
}

}  // namespace orbit::optimize
