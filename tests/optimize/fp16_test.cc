#include "optimize/fp16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "graph_builder.h"
#include "optimize/onnx_model.h"

namespace orbit::optimize {
namespace {

using testing::GraphBuilder;
using testing::NodeNamed;
using testing::NodesOfType;
using testing::ProducerOf;
using testing::RandomTensor;
using testing::RunInOrt;

// x -> Conv(3x3, 4->8) -> Relu -> Conv(1x1, 8->4) -> Add(x) -> Softmax(axis 1) -> y
onnx::ModelProto ConvSoftmaxModel() {
  GraphBuilder b;
  b.Input("x", {1, 4, 8, 8}).Output("y", {1, 4, 8, 8});
  b.RandomInitializer("w1", {8, 4, 3, 3}, 1).RandomInitializer("b1", {8}, 2);
  b.RandomInitializer("w2", {4, 8, 1, 1}, 3).RandomInitializer("b2", {4}, 4);
  auto& conv1 = b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  testing::SetInts(conv1, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r1"}, "relu1");
  b.Node("Conv", {"r1", "w2", "b2"}, {"c2"}, "conv2");
  b.Node("Add", {"c2", "x"}, {"s"}, "add");
  auto& softmax = b.Node("Softmax", {"s"}, {"y"}, "softmax");
  testing::SetInt(softmax, "axis", 1);
  return b.Build();
}

TEST(FloatToHalf, RoundsToNearestAndClampsToTheFiniteRange) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7bff);
  EXPECT_EQ(FloatToHalf(-1e9f), 0xfbff);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalf(1e-9f), 0x0000);                  // below half the smallest subnormal
  EXPECT_EQ(FloatToHalf(-1e-9f), 0x8000);                 // signed zero
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal survives
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  for (float v : {0.1f, -3.14159f, 1000.5f, 6.1e-5f, 1e-6f}) {
    EXPECT_NEAR(HalfToFloat(FloatToHalf(v)), v, std::abs(v) * 1e-3f + 6e-8f) << v;
  }
}

TEST(ConvertToFp16, ComputesTheSameFunctionAsFp32InOnnxRuntime) {
  onnx::ModelProto model = ConvSoftmaxModel();
  Status original = CheckOnnxModel(model);
  ASSERT_TRUE(original.ok()) << original.ToString();
  auto converted = ConvertToFp16(model, {});
  ASSERT_TRUE(converted.ok()) << converted.status().ToString();
  Status checked = CheckOnnxModel(converted->model);
  ASSERT_TRUE(checked.ok()) << checked.ToString();

  std::vector<Tensor> inputs;
  inputs.push_back(RandomTensor({1, 4, 8, 8}, 7));
  auto expected = RunInOrt(model, inputs);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  auto actual = RunInOrt(converted->model, inputs);
  ASSERT_TRUE(actual.ok()) << actual.status().ToString();
  EXPECT_LT(testing::MaxAbsDiff((*expected)[0], (*actual)[0]), 2e-3f);
}

TEST(ConvertToFp16, ConvTransposeConcatGemmResizeMatchFp32InOnnxRuntime) {
  struct Case {
    onnx::ModelProto model;
    Shape shape;
  };
  std::vector<Case> cases;
  cases.push_back({testing::UNetBlock(), {1, 3, 16, 16}});
  cases.push_back({testing::ResizePoolGemmMatMulAdd(), {4, 1, 4, 4}});
  for (const Case& c : cases) {
    auto converted = ConvertToFp16(c.model, {});
    ASSERT_TRUE(converted.ok()) << converted.status().ToString();
    Status checked = CheckOnnxModel(converted->model);
    ASSERT_TRUE(checked.ok()) << checked.ToString();
    EXPECT_TRUE(converted->kept_fp32.empty());
    std::vector<Tensor> inputs;
    inputs.push_back(RandomTensor(c.shape, 11));
    auto expected = RunInOrt(c.model, inputs);
    auto actual = RunInOrt(converted->model, inputs);
    ASSERT_TRUE(expected.ok() && actual.ok()) << actual.status().ToString();
    EXPECT_LT(testing::MaxAbsDiff((*expected)[0], (*actual)[0]),
              5e-3f * std::max(1.0f, testing::MaxAbs((*expected)[0])));
  }
}

TEST(ConvertToFp16, KeepsInputsAndOutputsFp32WithCastsAtTheEdges) {
  auto converted = ConvertToFp16(ConvSoftmaxModel(), {});
  ASSERT_TRUE(converted.ok()) << converted.status().ToString();
  const onnx::ModelProto& m = converted->model;
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(m.graph().output(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  // x is cast once for conv1 and add (both FP16).
  const onnx::NodeProto* conv1 = NodeNamed(m, "conv1");
  ASSERT_NE(conv1, nullptr);
  EXPECT_EQ(conv1->input(0), "x_to_fp16");
  const onnx::NodeProto* cast_in = ProducerOf(m, "x_to_fp16");
  ASSERT_NE(cast_in, nullptr);
  EXPECT_EQ(cast_in->op_type(), "Cast");
  EXPECT_EQ(cast_in->attribute(0).i(), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(NodeNamed(m, "add")->input(1), "x_to_fp16");
  // Softmax is on the block list: it reads an FP32 copy of the FP16 sum and writes y in FP32.
  const onnx::NodeProto* softmax = NodeNamed(m, "softmax");
  EXPECT_EQ(softmax->input(0), "s_to_fp32");
  EXPECT_EQ(softmax->output(0), "y");
  ASSERT_EQ(converted->kept_fp32.size(), 1u);
  EXPECT_EQ(converted->kept_fp32[0].node, "softmax");
  EXPECT_NE(converted->kept_fp32[0].reason.find("block list"), std::string::npos);
  EXPECT_EQ(converted->converted_nodes.size(), 4u);
  // Initializers of FP16 nodes are stored in FP16.
  EXPECT_EQ(testing::InitializerNamed(m, "w1")->data_type(), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(testing::InitializerNamed(m, "b2")->data_type(), onnx::TensorProto::FLOAT16);
}

TEST(ConvertToFp16, CastsFp16GraphOutputsBackToFp32UnderTheOriginalName) {
  GraphBuilder b;
  b.Input("x", {2, 3}).Output("y", {2, 4});
  b.RandomInitializer("w", {3, 4}, 5);
  b.Node("MatMul", {"x", "w"}, {"y"}, "matmul");
  auto converted = ConvertToFp16(b.Build(), {});
  ASSERT_TRUE(converted.ok());
  const onnx::NodeProto* last = ProducerOf(converted->model, "y");
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->op_type(), "Cast");
  EXPECT_EQ(last->input(0), "y_fp16");
  EXPECT_EQ(NodeNamed(converted->model, "matmul")->output(0), "y_fp16");
  EXPECT_TRUE(CheckOnnxModel(converted->model).ok());
}

TEST(ConvertToFp16, ExcludedNodesStayFp32AndAreListed) {
  Fp16Options options;
  options.exclude_nodes = {"conv2"};
  auto converted = ConvertToFp16(ConvSoftmaxModel(), options);
  ASSERT_TRUE(converted.ok());
  const onnx::ModelProto& m = converted->model;
  const onnx::NodeProto* conv2 = NodeNamed(m, "conv2");
  EXPECT_EQ(conv2->input(0), "r1_to_fp32");
  EXPECT_EQ(testing::InitializerNamed(m, "w2")->data_type(), onnx::TensorProto::FLOAT);
  bool listed = false;
  for (const auto& d : converted->kept_fp32) {
    listed |= d.node == "conv2" && d.reason.find("exclude") != std::string::npos;
  }
  EXPECT_TRUE(listed);
  EXPECT_TRUE(CheckOnnxModel(m).ok());
  std::vector<Tensor> inputs;
  inputs.push_back(RandomTensor({1, 4, 8, 8}, 9));
  EXPECT_TRUE(RunInOrt(m, inputs).ok());
}

TEST(ConvertToFp16, UnknownOpsStayFp32BehindCasts) {
  GraphBuilder b;
  b.Input("x", {1, 4}).Output("y", {1, 4});
  b.Node("Relu", {"x"}, {"r"}, "relu");
  auto& custom = b.Node("Frobnicate", {"r"}, {"f"}, "custom");
  custom.set_domain("com.example");
  b.Node("Relu", {"f"}, {"y"}, "relu2");
  auto* op = b.model().add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  onnx::ModelProto model = b.Build();
  // The custom op's output type is unknown to ONNX: declare it so the converter sees a float.
  auto* info = model.mutable_graph()->add_value_info();
  info->set_name("f");
  info->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto converted = ConvertToFp16(model, {});
  ASSERT_TRUE(converted.ok());
  ASSERT_EQ(converted->kept_fp32.size(), 1u);
  EXPECT_EQ(converted->kept_fp32[0].node, "custom");
  EXPECT_NE(converted->kept_fp32[0].reason.find("not supported"), std::string::npos);
  EXPECT_EQ(NodeNamed(converted->model, "custom")->input(0), "r_to_fp32");
  EXPECT_EQ(NodeNamed(converted->model, "relu2")->input(0), "f_to_fp16");
}

TEST(ConvertToFp16, NodesFedByTensorsOfUnknownTypeStayFp32) {
  GraphBuilder b;
  b.Input("x", {1, 4}).Output("y", {1, 4});
  auto& custom = b.Node("Frobnicate", {"x"}, {"f"}, "custom");
  custom.set_domain("com.example");
  b.Node("Relu", {"f"}, {"y"}, "relu");
  auto* op = b.model().add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  auto converted = ConvertToFp16(b.Build(), {});
  ASSERT_TRUE(converted.ok());
  ASSERT_EQ(converted->kept_fp32.size(), 2u);
  EXPECT_EQ(converted->kept_fp32[1].node, "relu");
  EXPECT_NE(converted->kept_fp32[1].reason.find("unknown"), std::string::npos);
  EXPECT_EQ(NodeNamed(converted->model, "relu")->input(0), "f");
}

TEST(ConvertToFp16, ClampsConstantsToTheFp16RangeAndUpdatesConstantNodes) {
  GraphBuilder b;
  b.Input("x", {1, 3}).Output("y", {1, 3});
  b.Initializer("big", {3}, {1e6f, -1e6f, 1e-9f});
  auto& constant = b.Node("Constant", {}, {"c"}, "const");
  auto* attr = constant.add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto::TENSOR);
  *attr->mutable_t() = MakeFloatTensor("", {3}, {0.5f, 7e5f, 2.0f});
  b.Node("Mul", {"x", "big"}, {"m"}, "mul");
  b.Node("Add", {"m", "c"}, {"y"}, "add");
  auto converted = ConvertToFp16(b.Build(), {});
  ASSERT_TRUE(converted.ok());
  const onnx::TensorProto* big = testing::InitializerNamed(converted->model, "big");
  ASSERT_EQ(big->data_type(), onnx::TensorProto::FLOAT16);
  ASSERT_EQ(big->raw_data().size(), 6u);
  std::uint16_t bits[3];
  std::memcpy(bits, big->raw_data().data(), 6);
  EXPECT_EQ(HalfToFloat(bits[0]), 65504.0f);
  EXPECT_EQ(HalfToFloat(bits[1]), -65504.0f);
  EXPECT_EQ(HalfToFloat(bits[2]), 0.0f);
  const onnx::NodeProto* c = NodeNamed(converted->model, "const");
  EXPECT_EQ(c->attribute(0).t().data_type(), onnx::TensorProto::FLOAT16);
  EXPECT_TRUE(CheckOnnxModel(converted->model).ok());
  std::vector<Tensor> inputs;
  inputs.push_back(RandomTensor({1, 3}, 1, 0.001f, 0.01f));
  auto out = RunInOrt(converted->model, inputs);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  for (float v : (*out)[0]) EXPECT_TRUE(std::isfinite(v));
}

TEST(ConvertToFp16, UpdatesValueInfoTypes) {
  onnx::ModelProto model = ConvSoftmaxModel();
  auto* info = model.mutable_graph()->add_value_info();
  info->set_name("r1");
  info->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto converted = ConvertToFp16(model, {});
  ASSERT_TRUE(converted.ok());
  EXPECT_EQ(converted->model.graph().value_info(0).type().tensor_type().elem_type(),
            onnx::TensorProto::FLOAT16);
  EXPECT_TRUE(CheckOnnxModel(converted->model).ok());
}

TEST(ConvertToFp16, RejectsModelWithoutFloatInput) {
  GraphBuilder b;
  b.Input("ids", {4}, onnx::TensorProto::INT64).Output("y", {4}, onnx::TensorProto::INT64);
  b.Node("Identity", {"ids"}, {"y"});
  auto converted = ConvertToFp16(b.Build(), {});
  ASSERT_FALSE(converted.ok());
  EXPECT_EQ(converted.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(converted.status().message().find("no float32 input"), std::string::npos);
}

}  // namespace
}  // namespace orbit::optimize
