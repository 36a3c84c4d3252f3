#include "optimize/qdq.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "graph_builder.h"
#include "optimize/calibration.h"
#include "optimize/fp16.h"
#include "optimize/onnx_model.h"
#include "optimize/ort_offline.h"
#include "vision/image_io.h"
#include "vision/preprocess.h"
#include "vision/recipe.h"

namespace orbit::optimize {
namespace {

using testing::GraphBuilder;
using testing::InitializerNamed;
using testing::NodeNamed;
using testing::NodesOfType;
using testing::ProducerOf;
using testing::RandomTensor;
using testing::ResizePoolGemmMatMulAdd;
using testing::RunInOrt;
using testing::UNetBlock;

// Calibrates on a few random batches and quantises; fails the test on any error.
TransformResult CalibrateAndQuantize(const onnx::ModelProto& model, const Shape& input_shape,
                                     const QuantizeOptions& options = {}) {
  auto tensors = ActivationsToCalibrate(model, options);
  EXPECT_TRUE(tensors.ok()) << tensors.status().ToString();
  std::vector<Tensor> batches;
  for (unsigned seed = 100; seed < 104; ++seed) batches.push_back(RandomTensor(input_shape, seed));
  auto ranges = Calibrate(model, batches, *tensors, {});
  EXPECT_TRUE(ranges.ok()) << ranges.status().ToString();
  auto quantized = QuantizeQdq(model, *ranges, options);
  EXPECT_TRUE(quantized.ok()) << quantized.status().ToString();
  Status checked = CheckOnnxModel(quantized->model);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  return std::move(quantized).value();
}

// Max |fp32 - int8| relative to the largest fp32 output, on a fresh random input.
float RelativeError(const onnx::ModelProto& fp32, const onnx::ModelProto& int8,
                    const Shape& input_shape) {
  std::vector<Tensor> inputs;
  inputs.push_back(RandomTensor(input_shape, 42));
  auto expected = RunInOrt(fp32, inputs);
  auto actual = RunInOrt(int8, inputs);
  EXPECT_TRUE(expected.ok()) << expected.status().ToString();
  EXPECT_TRUE(actual.ok()) << actual.status().ToString();
  if (!expected.ok() || !actual.ok()) return 1e9f;
  return testing::MaxAbsDiff((*expected)[0], (*actual)[0]) / testing::MaxAbs((*expected)[0]);
}

TEST(QuantizeQdq, UNetBlockComputesTheSameFunctionWithinInt8Tolerance) {
  for (bool per_channel : {false, true}) {
    QuantizeOptions options;
    options.per_channel = per_channel;
    TransformResult q = CalibrateAndQuantize(UNetBlock(), {1, 3, 16, 16}, options);
    EXPECT_LT(RelativeError(UNetBlock(), q.model, {1, 3, 16, 16}), 0.05f) << per_channel;
    EXPECT_TRUE(q.kept_fp32.empty());
  }
}

// The real check of placement: ONNX Runtime's own graph rewrites (level extended, saved offline)
// must turn the QDQ groups into integer kernels.
TEST(QuantizeQdq, OnnxRuntimeFusesTheQdqGroupsIntoIntegerKernels) {
  QuantizeOptions options;
  options.per_channel = true;
  TransformResult q = CalibrateAndQuantize(UNetBlock(), {1, 3, 16, 16}, options);
  const auto dir =
      std::filesystem::temp_directory_path() / ("orbit_qdq_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(SaveOnnxModel(q.model, dir / "int8.onnx").ok());
  OrtOfflineOptions ort;
  ort.level = runtime::GraphOptimization::kExtended;
  Status written = WriteOrtOptimizedModel(dir / "int8.onnx", dir / "fused.onnx", ort);
  ASSERT_TRUE(written.ok()) << written.ToString();
  auto fused = LoadOnnxModel(dir / "fused.onnx");
  ASSERT_TRUE(fused.ok());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(NodesOfType(*fused, "QLinearConv").size(), 3u);
  EXPECT_EQ(NodesOfType(*fused, "QLinearConcat").size(), 1u);
  EXPECT_EQ(NodesOfType(*fused, "Conv").size(), 0u);
  // MaxPool runs on uint8: its Q/DQ pair (same parameters on both sides) is dropped.
  ASSERT_EQ(NodesOfType(*fused, "MaxPool").size(), 1u);
  EXPECT_EQ(ProducerOf(*fused, NodesOfType(*fused, "MaxPool")[0]->input(0))->op_type(),
            "QLinearConv");
  // ONNX Runtime 1.29's CPU provider has no integer ConvTranspose: it stays between DQ and Q.
  EXPECT_EQ(NodesOfType(*fused, "ConvTranspose").size(), 1u);
}

TEST(QuantizeQdq, PlacesQdqPairsAroundConvAndFoldsTheFollowingRelu) {
  TransformResult q = CalibrateAndQuantize(UNetBlock(), {1, 3, 16, 16});
  const onnx::ModelProto& m = q.model;
  EXPECT_TRUE(NodesOfType(m, "Relu").empty());  // folded into the Conv output quantisation
  const onnx::NodeProto* conv1 = NodeNamed(m, "conv1");
  ASSERT_NE(conv1, nullptr);
  // Input: graph input through Q -> DQ.
  EXPECT_EQ(conv1->input(0), "x_DequantizeLinear_Output");
  EXPECT_EQ(ProducerOf(m, "x_DequantizeLinear_Output")->op_type(), "DequantizeLinear");
  EXPECT_EQ(ProducerOf(m, "x_QuantizeLinear_Output")->op_type(), "QuantizeLinear");
  // Weight: int8 initializer through DQ; bias: int32 through DQ with scale = x_scale * w_scale.
  const onnx::NodeProto* weight_dq = ProducerOf(m, conv1->input(1));
  ASSERT_EQ(weight_dq->op_type(), "DequantizeLinear");
  EXPECT_EQ(InitializerNamed(m, weight_dq->input(0))->data_type(), onnx::TensorProto::INT8);
  const onnx::NodeProto* bias_dq = ProducerOf(m, conv1->input(2));
  ASSERT_EQ(bias_dq->op_type(), "DequantizeLinear");
  EXPECT_EQ(InitializerNamed(m, bias_dq->input(0))->data_type(), onnx::TensorProto::INT32);
  auto scalar = [&](const std::string& name) {
    float v = 0;
    std::memcpy(&v, InitializerNamed(m, name)->raw_data().data(), sizeof(v));
    return v;
  };
  EXPECT_FLOAT_EQ(scalar(bias_dq->input(1)), scalar("x_scale") * scalar(weight_dq->input(1)));
  // Output: the Conv writes the Relu's output name through Q -> DQ, zero point 0 (Relu range).
  EXPECT_EQ(conv1->output(0), "r1_QuantizeLinear_Input");
  EXPECT_EQ(ProducerOf(m, "r1")->op_type(), "DequantizeLinear");
  EXPECT_EQ(InitializerNamed(m, "r1_zero_point")->raw_data(), std::string(1, '\0'));
  EXPECT_EQ(InitializerNamed(m, "r1_zero_point")->data_type(), onnx::TensorProto::UINT8);
  // No FP32 weights are left behind.
  EXPECT_EQ(InitializerNamed(m, "w1"), nullptr);
  EXPECT_EQ(InitializerNamed(m, "b1"), nullptr);
}

TEST(QuantizeQdq, MaxPoolOutputKeepsTheInputQuantisationParameters) {
  TransformResult q = CalibrateAndQuantize(UNetBlock(), {1, 3, 16, 16});
  const onnx::NodeProto* p1_q = ProducerOf(q.model, "p1_QuantizeLinear_Output");
  ASSERT_NE(p1_q, nullptr);
  EXPECT_EQ(p1_q->input(1), "r1_scale");
  EXPECT_EQ(p1_q->input(2), "r1_zero_point");
  auto needed = ActivationsToCalibrate(UNetBlock(), {});
  ASSERT_TRUE(needed.ok());
  EXPECT_EQ(std::count(needed->begin(), needed->end(), "p1"), 0);
  EXPECT_EQ(std::count(needed->begin(), needed->end(), "c1"), 0);  // folded into r1
  EXPECT_EQ(std::count(needed->begin(), needed->end(), "r1"), 1);
  EXPECT_EQ(std::count(needed->begin(), needed->end(), "x"), 1);
}

TEST(QuantizeQdq, PerChannelScalesFollowTheOutputChannelAxis) {
  QuantizeOptions options;
  options.per_channel = true;
  TransformResult q = CalibrateAndQuantize(UNetBlock(), {1, 3, 16, 16}, options);
  auto check = [&](const std::string& node_name, std::int64_t axis, std::int64_t channels) {
    const onnx::NodeProto* node = NodeNamed(q.model, node_name);
    ASSERT_NE(node, nullptr);
    const onnx::NodeProto* dq = ProducerOf(q.model, node->input(1));
    ASSERT_NE(dq, nullptr);
    ASSERT_EQ(dq->attribute_size(), 1);
    EXPECT_EQ(dq->attribute(0).name(), "axis");
    EXPECT_EQ(dq->attribute(0).i(), axis) << node_name;
    const onnx::TensorProto* scale = InitializerNamed(q.model, dq->input(1));
    ASSERT_EQ(scale->dims_size(), 1);
    EXPECT_EQ(scale->dims(0), channels) << node_name;
    const onnx::NodeProto* bias_dq = ProducerOf(q.model, node->input(2));
    EXPECT_EQ(InitializerNamed(q.model, bias_dq->input(1))->dims(0), channels) << node_name;
  };
  check("conv1", 0, 8);
  check("up", 1, 8);  // ConvTranspose weights are [C_in, C_out, kh, kw]
}

TEST(QuantizeQdq, GemmMatMulAddAndResizeMatchFp32) {
  onnx::ModelProto model = ResizePoolGemmMatMulAdd();
  for (bool per_channel : {false, true}) {
    QuantizeOptions options;
    options.per_channel = per_channel;
    TransformResult q = CalibrateAndQuantize(model, {4, 1, 4, 4}, options);
    EXPECT_LT(RelativeError(model, q.model, {4, 1, 4, 4}), 0.05f);
    // Reshape is not quantised: listed with the reason; everything else converted.
    ASSERT_EQ(q.kept_fp32.size(), 1u);
    EXPECT_EQ(q.kept_fp32[0].node, "reshape");
    EXPECT_EQ(q.kept_fp32[0].reason, "op not supported by the INT8 quantiser");
    EXPECT_EQ(q.converted_nodes.size(), 5u);
    // Add's constant input is a uint8 initializer behind a DQ.
    const onnx::NodeProto* add = NodeNamed(q.model, "add");
    const onnx::NodeProto* k_dq = ProducerOf(q.model, add->input(1));
    ASSERT_EQ(k_dq->op_type(), "DequantizeLinear");
    EXPECT_EQ(InitializerNamed(q.model, k_dq->input(0))->data_type(), onnx::TensorProto::UINT8);
    if (per_channel) {
      const onnx::NodeProto* gemm_dq = ProducerOf(q.model, NodeNamed(q.model, "gemm")->input(1));
      EXPECT_EQ(gemm_dq->attribute(0).i(), 0);  // transB: [N, K], channels on axis 0
      const onnx::NodeProto* mm_dq = ProducerOf(q.model, NodeNamed(q.model, "matmul")->input(1));
      EXPECT_EQ(mm_dq->attribute(0).i(), 1);
      EXPECT_EQ(InitializerNamed(q.model, mm_dq->input(1))->dims(0), 8);
    }
  }
}

TEST(QuantizeQdq, ReluWithoutAQuantisedProducerGetsItsOwnQdqPairs) {
  GraphBuilder b;
  b.Input("x", {2, 8}).Output("y", {2, 8});
  b.Node("Relu", {"x"}, {"y"}, "relu");
  onnx::ModelProto model = b.Build();
  TransformResult q = CalibrateAndQuantize(model, {2, 8});
  const onnx::NodeProto* relu = NodeNamed(q.model, "relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->input(0), "x_DequantizeLinear_Output");
  EXPECT_EQ(relu->output(0), "y_QuantizeLinear_Input");
  EXPECT_EQ(ProducerOf(q.model, "y")->op_type(), "DequantizeLinear");
  EXPECT_LT(RelativeError(model, q.model, {2, 8}), 0.02f);
}

TEST(QuantizeQdq, ExcludedNodesStayFp32AndAreListed) {
  QuantizeOptions options;
  options.exclude_nodes = {"conv2"};
  TransformResult q = CalibrateAndQuantize(UNetBlock(), {1, 3, 16, 16}, options);
  const onnx::NodeProto* conv2 = NodeNamed(q.model, "conv2");
  ASSERT_NE(conv2, nullptr);
  EXPECT_EQ(conv2->input(1), "w2");  // FP32 weight untouched
  ASSERT_FALSE(q.kept_fp32.empty());
  EXPECT_EQ(q.kept_fp32[0].node, "conv2");
  EXPECT_EQ(q.kept_fp32[0].reason, "excluded by --exclude-nodes");
  EXPECT_LT(RelativeError(UNetBlock(), q.model, {1, 3, 16, 16}), 0.05f);
}

TEST(QuantizeQdq, FailsNamingTensorsMissingFromTheRanges) {
  RangeTable ranges = {{"x", {-1, 1}}};
  auto q = QuantizeQdq(UNetBlock(), ranges, {});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(q.status().message().find("'r1'"), std::string::npos) << q.status().message();
}

// The demo U-Net on real fixture images, pre-processed by the package's own recipe.
class DemoModel : public ::testing::Test {
 protected:
  static std::filesystem::path Dir() {
    return std::filesystem::path(ORBIT_SOURCE_DIR) / "models" / "cellseg";
  }
  static std::vector<Tensor> Images(int first, int count) {
    auto recipe = vision::LoadModelRecipe(Dir() / "orbit.yaml");
    EXPECT_TRUE(recipe.ok()) << recipe.status().ToString();
    std::vector<Tensor> images;
    for (int i = first; i < first + count; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "img_%03d.png", i);
      auto image = vision::ReadImageFile(Dir() / "fixtures" / "images" / name);
      EXPECT_TRUE(image.ok()) << image.status().ToString();
      auto prepared = vision::PrepareInput(*image, recipe->preprocess);
      EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
      images.push_back(std::move(prepared->tensor));
    }
    return images;
  }
  // Fraction of pixels whose foreground decision (logit > 0, channel 0) agrees.
  static double MaskAgreement(const std::vector<float>& a, const std::vector<float>& b,
                              std::size_t plane) {
    std::size_t agree = 0;
    for (std::size_t i = 0; i < plane; ++i) agree += (a[i] > 0) == (b[i] > 0) ? 1 : 0;
    return static_cast<double>(agree) / static_cast<double>(plane);
  }
};

TEST_F(DemoModel, Int8AgreesWithFp32OnFixtureImages) {
  auto model = LoadOnnxModel(Dir() / "model.onnx");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tensors = ActivationsToCalibrate(*model, {});
  ASSERT_TRUE(tensors.ok());
  auto ranges = Calibrate(*model, Images(0, 6), *tensors, {});
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  QuantizeOptions options;
  options.per_channel = true;
  auto q = QuantizeQdq(*model, *ranges, options);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  Status checked = CheckOnnxModel(q->model);
  ASSERT_TRUE(checked.ok()) << checked.ToString();
  EXPECT_TRUE(q->kept_fp32.empty());
  for (Tensor& image : Images(10, 3)) {
    const auto plane = static_cast<std::size_t>(image.shape()[2] * image.shape()[3]);
    std::vector<Tensor> inputs;
    inputs.push_back(std::move(image));
    auto fp32 = RunInOrt(*model, inputs);
    auto int8 = RunInOrt(q->model, inputs);
    ASSERT_TRUE(fp32.ok() && int8.ok()) << int8.status().ToString();
    EXPECT_GT(MaskAgreement((*fp32)[0], (*int8)[0], plane), 0.98);
  }
}

TEST_F(DemoModel, Fp16RunsAndAgreesWithFp32) {
  auto model = LoadOnnxModel(Dir() / "model.onnx");
  ASSERT_TRUE(model.ok());
  auto half = ConvertToFp16(*model, {});
  ASSERT_TRUE(half.ok()) << half.status().ToString();
  Status checked = CheckOnnxModel(half->model);
  ASSERT_TRUE(checked.ok()) << checked.ToString();
  for (Tensor& image : Images(12, 2)) {
    const auto plane = static_cast<std::size_t>(image.shape()[2] * image.shape()[3]);
    std::vector<Tensor> inputs;
    inputs.push_back(std::move(image));
    auto fp32 = RunInOrt(*model, inputs);
    auto fp16 = RunInOrt(half->model, inputs);
    ASSERT_TRUE(fp32.ok() && fp16.ok()) << fp16.status().ToString();
    EXPECT_GT(MaskAgreement((*fp32)[0], (*fp16)[0], plane), 0.995);
  }
}

}  // namespace
}  // namespace orbit::optimize
