// Tiny hand-built ONNX graphs for the optimiser tests, and a way to run them in ONNX Runtime
// through orbit's engine, so that every transform is checked by the real consumer.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "optimize/onnx_model.h"
#include "runtime/engine.h"
#include "tensor/tensor.h"

namespace orbit::optimize::testing {

// Builds a ModelProto node by node (opset 17 by default, IR version 8).
class GraphBuilder {
 public:
  explicit GraphBuilder(int opset = 17) {
    model_.set_ir_version(8);
    model_.set_producer_name("orbit-test");
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }

  // dims: -1 is a dynamic dimension.
  GraphBuilder& Input(const std::string& name, const std::vector<std::int64_t>& dims,
                      int elem_type = onnx::TensorProto::FLOAT) {
    auto* info = model_.mutable_graph()->add_input();
    SetValueInfo(*info, name, dims, elem_type);
    return *this;
  }

  static void SetValueInfo(onnx::ValueInfoProto& info, const std::string& name,
                           const std::vector<std::int64_t>& dims, int elem_type) {
    info.set_name(name);
    auto* type = info.mutable_type()->mutable_tensor_type();
    type->set_elem_type(elem_type);
    auto* shape = type->mutable_shape();
    for (std::size_t i = 0; i < dims.size(); ++i) {
      auto* dim = shape->add_dim();
      if (dims[i] < 0) {
        dim->set_dim_param(name + "_d" + std::to_string(i));
      } else {
        dim->set_dim_value(dims[i]);
      }
    }
  }

  // ONNX 1.12's checker requires a shape on graph outputs; -1 is a dynamic dimension.
  GraphBuilder& Output(const std::string& name, const std::vector<std::int64_t>& dims,
                       int elem_type = onnx::TensorProto::FLOAT) {
    auto* info = model_.mutable_graph()->add_output();
    SetValueInfo(*info, name, dims, elem_type);
    return *this;
  }

  GraphBuilder& Initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                            const std::vector<float>& values) {
    *model_.mutable_graph()->add_initializer() = MakeFloatTensor(name, dims, values);
    return *this;
  }

  GraphBuilder& Int64Initializer(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::INT64);
    init->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) init->add_int64_data(v);
    return *this;
  }

  // Uniform values in [-scale, scale], reproducible from `seed`.
  GraphBuilder& RandomInitializer(const std::string& name, const std::vector<std::int64_t>& dims,
                                  unsigned seed, float scale = 0.5f) {
    std::int64_t count = 1;
    for (auto d : dims) count *= d;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> values(static_cast<std::size_t>(count));
    for (auto& v : values) v = dist(rng);
    return Initializer(name, dims, values);
  }

  onnx::NodeProto& Node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    auto* node = model_.mutable_graph()->add_node();
    node->set_op_type(op);
    node->set_name(name.empty() ? outputs.front() + "_node" : name);
    for (const auto& in : inputs) node->add_input(in);
    for (const auto& out : outputs) node->add_output(out);
    return *node;
  }

  onnx::ModelProto& model() { return model_; }
  onnx::ModelProto Build() const { return model_; }

 private:
  onnx::ModelProto model_;
};

inline void SetInts(onnx::NodeProto& node, const std::string& name,
                    const std::vector<std::int64_t>& values) {
  auto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (auto v : values) attr->add_ints(v);
}

inline void SetInt(onnx::NodeProto& node, const std::string& name, std::int64_t value) {
  auto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

inline void SetString(onnx::NodeProto& node, const std::string& name, const std::string& value) {
  auto* attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::STRING);
  attr->set_s(value);
}

// Uniform values in [lo, hi], reproducible from `seed`.
inline Tensor RandomTensor(const Shape& shape, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::int64_t count = 1;
  for (auto d : shape) count *= d;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<std::size_t>(count));
  for (auto& v : values) v = dist(rng);
  return std::move(Tensor::FromVector(shape, values).value());
}

// Runs the model in ONNX Runtime (CPU) and returns every output as floats.
inline Result<std::vector<std::vector<float>>> RunInOrt(const onnx::ModelProto& model,
                                                        std::span<const Tensor> inputs) {
  ORBIT_ASSIGN_OR_RETURN(std::string bytes, SerializeOnnxModel(model));
  ORBIT_ASSIGN_OR_RETURN(
      auto engine, runtime::LoadOnnxEngineFromBytes(
                       std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), "test"));
  ORBIT_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, engine->Run(inputs));
  std::vector<std::vector<float>> values;
  for (const auto& out : outputs) {
    auto data = out.data<float>();
    values.emplace_back(data.begin(), data.end());
  }
  return values;
}

// Largest |a - b| over two equally long vectors.
inline float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  return worst;
}

inline float MaxAbs(const std::vector<float>& a) {
  float worst = 0;
  for (float v : a) worst = std::max(worst, std::abs(v));
  return worst;
}

// Nodes of the given op type, in graph order.
inline std::vector<const onnx::NodeProto*> NodesOfType(const onnx::ModelProto& model,
                                                       const std::string& op) {
  std::vector<const onnx::NodeProto*> nodes;
  for (const auto& node : model.graph().node()) {
    if (node.op_type() == op) nodes.push_back(&node);
  }
  return nodes;
}

inline const onnx::NodeProto* NodeNamed(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& node : model.graph().node()) {
    if (node.name() == name) return &node;
  }
  return nullptr;
}

// The node producing `tensor`, or null for graph inputs and initializers.
inline const onnx::NodeProto* ProducerOf(const onnx::ModelProto& model, const std::string& tensor) {
  for (const auto& node : model.graph().node()) {
    for (const auto& out : node.output()) {
      if (out == tensor) return &node;
    }
  }
  return nullptr;
}

inline const onnx::TensorProto* InitializerNamed(const onnx::ModelProto& model,
                                                 const std::string& name) {
  for (const auto& init : model.graph().initializer()) {
    if (init.name() == name) return &init;
  }
  return nullptr;
}

// x -> Conv(3x3) -> Relu -> MaxPool -> Conv(1x1) -> Relu -> ConvTranspose(2x2, stride 2)
//   -> Concat(with the first Relu) -> Conv(1x1) -> y
inline onnx::ModelProto UNetBlock() {
  GraphBuilder b;
  b.Input("x", {1, 3, 16, 16}).Output("y", {1, 2, 16, 16});
  b.RandomInitializer("w1", {8, 3, 3, 3}, 1).RandomInitializer("b1", {8}, 2, 0.1f);
  b.RandomInitializer("w2", {16, 8, 1, 1}, 3).RandomInitializer("b2", {16}, 4, 0.1f);
  b.RandomInitializer("wt", {16, 8, 2, 2}, 5).RandomInitializer("bt", {8}, 6, 0.1f);
  b.RandomInitializer("w3", {2, 16, 1, 1}, 7).RandomInitializer("b3", {2}, 8, 0.1f);
  testing::SetInts(b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1"), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r1"}, "relu1");
  auto& pool = b.Node("MaxPool", {"r1"}, {"p1"}, "pool");
  testing::SetInts(pool, "kernel_shape", {2, 2});
  testing::SetInts(pool, "strides", {2, 2});
  b.Node("Conv", {"p1", "w2", "b2"}, {"c2"}, "conv2");
  b.Node("Relu", {"c2"}, {"r2"}, "relu2");
  auto& up = b.Node("ConvTranspose", {"r2", "wt", "bt"}, {"u"}, "up");
  testing::SetInts(up, "kernel_shape", {2, 2});
  testing::SetInts(up, "strides", {2, 2});
  testing::SetInt(b.Node("Concat", {"u", "r1"}, {"cat"}, "concat"), "axis", 1);
  b.Node("Conv", {"cat", "w3", "b3"}, {"y"}, "conv3");
  return b.Build();
}

// x[4,1,4,4] -> Resize(x2, nearest) -> MaxPool(2) -> Reshape[4,16] -> Gemm(transB, 16->6)
//   -> MatMul(6->8) -> Add(constant) -> y[4,8]
inline onnx::ModelProto ResizePoolGemmMatMulAdd() {
  GraphBuilder b;
  b.Input("x", {4, 1, 4, 4}).Output("y", {4, 8});
  b.Int64Initializer("shape", {4, 16});
  b.Initializer("scales", {4}, {1, 1, 2, 2});
  b.RandomInitializer("wg", {6, 16}, 1).RandomInitializer("bg", {6}, 2, 0.1f);
  b.RandomInitializer("wm", {6, 8}, 3).RandomInitializer("k", {8}, 4);
  auto& resize = b.Node("Resize", {"x", "", "scales"}, {"big"}, "resize");
  testing::SetString(resize, "mode", "nearest");
  auto& pool = b.Node("MaxPool", {"big"}, {"small"}, "pool");
  testing::SetInts(pool, "kernel_shape", {2, 2});
  testing::SetInts(pool, "strides", {2, 2});
  b.Node("Reshape", {"small", "shape"}, {"flat"}, "reshape");
  auto& gemm = b.Node("Gemm", {"flat", "wg", "bg"}, {"g"}, "gemm");
  testing::SetInt(gemm, "transB", 1);
  b.Node("MatMul", {"g", "wm"}, {"mm"}, "matmul");
  b.Node("Add", {"mm", "k"}, {"y"}, "add");
  return b.Build();
}

}  // namespace orbit::optimize::testing
