#include "optimize/calibration.h"

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace orbit::optimize {
namespace {

using testing::GraphBuilder;

CalibrationOptions Options(CalibrationMethod method, int bins = 2048, double percentile = 99.999) {
  CalibrationOptions options;
  options.method = method;
  options.histogram_bins = bins;
  options.percentile = percentile;
  return options;
}

TEST(ParseCalibrationMethod, AcceptsTheThreeNamesAndRejectsOthers) {
  EXPECT_EQ(*ParseCalibrationMethod("minmax"), CalibrationMethod::kMinMax);
  EXPECT_EQ(*ParseCalibrationMethod("percentile"), CalibrationMethod::kPercentile);
  EXPECT_EQ(*ParseCalibrationMethod("entropy"), CalibrationMethod::kEntropy);
  auto bad = ParseCalibrationMethod("kl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("minmax, percentile, entropy"), std::string::npos);
  EXPECT_EQ(CalibrationMethodName(CalibrationMethod::kEntropy), "entropy");
}

TEST(RangeCollector, MinMaxSpansEveryBatch) {
  RangeCollector collector(Options(CalibrationMethod::kMinMax));
  collector.Add("a", std::vector<float>{-2, 3});
  collector.Add("a", std::vector<float>{5, -1});
  collector.Add("b", std::vector<float>{0.5f});
  auto table = collector.Compute();
  ASSERT_TRUE(table.ok());
  EXPECT_FLOAT_EQ(table->at("a").min, -2);
  EXPECT_FLOAT_EQ(table->at("a").max, 5);
  EXPECT_FLOAT_EQ(table->at("b").min, 0.5f);
  EXPECT_FLOAT_EQ(table->at("b").max, 0.5f);
}

TEST(RangeCollector, PercentileKeepsTheUpperEdgeOfThePercentileBin) {
  // 1..100 in 100 bins of width 1 over [0, 100]: value v lands in bin v (100 in the last one).
  // 90 % of the 100 values are reached in bin 90, whose upper edge is 91.
  RangeCollector collector(Options(CalibrationMethod::kPercentile, 100, 90.0));
  std::vector<float> values;
  for (int v = 1; v <= 100; ++v) values.push_back(static_cast<float>(v));
  collector.Add("t", values);
  auto table = collector.Compute();
  ASSERT_TRUE(table.ok());
  EXPECT_FLOAT_EQ(table->at("t").min, 1);  // clipped to the real minimum
  EXPECT_FLOAT_EQ(table->at("t").max, 91);
}

TEST(RangeCollector, PercentileIsSymmetricOnAbsoluteValues) {
  RangeCollector collector(Options(CalibrationMethod::kPercentile, 100, 90.0));
  std::vector<float> values;
  for (int v = 1; v <= 100; ++v) values.push_back(static_cast<float>(v % 2 == 0 ? v : -v));
  collector.Add("t", values);
  auto table = collector.Compute();
  ASSERT_TRUE(table.ok());
  EXPECT_FLOAT_EQ(table->at("t").min, -91);
  EXPECT_FLOAT_EQ(table->at("t").max, 91);
}

TEST(RangeCollector, HistogramGrowsWhenALaterBatchIsWider) {
  RangeCollector collector(Options(CalibrationMethod::kPercentile, 64, 100.0));
  collector.Add("t", std::vector<float>{0.5f, 1.0f});
  collector.Add("t", std::vector<float>{10.0f});
  auto table = collector.Compute();
  ASSERT_TRUE(table.ok());
  EXPECT_FLOAT_EQ(table->at("t").max, 10.0f);
}

// 10000 values spread over [0, 1) and 10 outliers at 100: over 2048 bins of [0, 100] the data
// fills the first 21 bins, the outliers the last. Percentile 99.9 stops right after the bulk.
// Entropy folds the outliers into P's last candidate bin but not into Q (TensorRT's and ONNX
// Runtime's definition), so every candidate pays a little for them and the search settles on a
// threshold a few bins past the bulk (10.74 = 220 bins here), far below the outliers.
std::vector<float> BulkWithOutliers() {
  std::vector<float> values;
  for (int i = 0; i < 10000; ++i) values.push_back(static_cast<float>(i) / 10000.0f);
  for (int i = 0; i < 10; ++i) values.push_back(100.0f);
  return values;
}

TEST(RangeCollector, PercentileClipsRareOutliers) {
  RangeCollector collector(Options(CalibrationMethod::kPercentile, 2048, 99.9));
  collector.Add("t", BulkWithOutliers());
  auto table = collector.Compute();
  ASSERT_TRUE(table.ok());
  EXPECT_GE(table->at("t").max, 0.99f);
  EXPECT_LE(table->at("t").max, 1.1f);
  EXPECT_FLOAT_EQ(table->at("t").min, 0);
}

TEST(RangeCollector, EntropyChoosesTheThresholdWithTheSmallestKlDivergence) {
  RangeCollector collector(Options(CalibrationMethod::kEntropy));
  collector.Add("t", BulkWithOutliers());
  auto table = collector.Compute();
  ASSERT_TRUE(table.ok());
  EXPECT_GE(table->at("t").max, 6.25f);  // never fewer than 128 bins
  EXPECT_LT(table->at("t").max, 20.0f);
  EXPECT_FLOAT_EQ(table->at("t").min, 0);
}

TEST(RangeCollector, EntropyKeepsTheWholeRangeOfAUniformDistribution) {
  RangeCollector collector(Options(CalibrationMethod::kEntropy));
  std::vector<float> values;
  for (int i = 0; i <= 20000; ++i) values.push_back(static_cast<float>(i) / 20000.0f * 4.0f - 2.0f);
  collector.Add("t", values);
  auto table = collector.Compute();
  ASSERT_TRUE(table.ok());
  EXPECT_GT(table->at("t").max, 1.8f);
  EXPECT_LT(table->at("t").min, -1.8f);
}

TEST(RangeCollector, EntropyWithMoreQuantisedLevelsClipsLess) {
  std::vector<float> values;
  for (int i = 0; i < 20000; ++i) {
    const float u = static_cast<float>(i) / 20000.0f;
    values.push_back(u * u * u * 10.0f);  // heavy right tail, like a Relu activation
  }
  CalibrationOptions coarse = Options(CalibrationMethod::kEntropy);
  CalibrationOptions fine = coarse;
  fine.entropy_quantized_bins = 256;
  RangeCollector a(coarse);
  RangeCollector b(fine);
  a.Add("t", values);
  b.Add("t", values);
  EXPECT_LE(a.Compute()->at("t").max, b.Compute()->at("t").max);
}

// x -> Mul(2) -> m -> Relu -> y
onnx::ModelProto DoubleRelu() {
  GraphBuilder b;
  b.Input("x", {1, 4}).Output("y", {1, 4});
  b.Initializer("two", {}, {2.0f});
  b.Node("Mul", {"x", "two"}, {"m"}, "mul");
  b.Node("Relu", {"m"}, {"y"}, "relu");
  b.Node("Shape", {"x"}, {"s"}, "shape");
  return b.Build();
}

TEST(Calibrate, RunsTheModelAndMeasuresInputsAndIntermediates) {
  std::vector<Tensor> inputs;
  inputs.push_back(*Tensor::FromVector<float>({1, 4}, {-1, 0.5f, 2, -3}));
  inputs.push_back(*Tensor::FromVector<float>({1, 4}, {0, 0, 0, 2.5f}));
  auto table = Calibrate(DoubleRelu(), inputs, {"x", "m", "y"}, {});
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_FLOAT_EQ(table->at("x").min, -3);
  EXPECT_FLOAT_EQ(table->at("x").max, 2.5f);
  EXPECT_FLOAT_EQ(table->at("m").min, -6);
  EXPECT_FLOAT_EQ(table->at("m").max, 5);
  EXPECT_FLOAT_EQ(table->at("y").min, 0);
  EXPECT_FLOAT_EQ(table->at("y").max, 5);
}

TEST(Calibrate, DefaultsToTheTensorsTheQuantiserNeeds) {
  std::vector<Tensor> inputs;
  inputs.push_back(*Tensor::FromVector<float>({1, 4}, {-1, 0.5f, 2, -3}));
  auto table = Calibrate(DoubleRelu(), inputs, {}, {});
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->count("x"), 1u);
  EXPECT_EQ(table->count("y"), 1u);  // Mul -> Relu: the Relu's range quantises the Mul output
  EXPECT_EQ(table->count("m"), 0u);
}

TEST(Calibrate, RejectsEmptyInputs) {
  auto table = Calibrate(DoubleRelu(), {}, {"x"}, {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(table.status().message().find("no input"), std::string::npos);
}

TEST(Calibrate, RejectsNonFloatInputTensors) {
  std::vector<Tensor> inputs;
  inputs.push_back(*Tensor::FromVector<std::int32_t>({1, 4}, {1, 2, 3, 4}));
  auto table = Calibrate(DoubleRelu(), inputs, {"x"}, {});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(table.status().message().find("expected FP32"), std::string::npos);
}

TEST(Calibrate, RejectsUnknownAndNonFloatTensorNames) {
  std::vector<Tensor> inputs;
  inputs.push_back(*Tensor::FromVector<float>({1, 4}, {1, 2, 3, 4}));
  auto unknown = Calibrate(DoubleRelu(), inputs, {"nope"}, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'nope'"), std::string::npos);
  auto integer = Calibrate(DoubleRelu(), inputs, {"s"}, {});
  ASSERT_FALSE(integer.ok());
  EXPECT_NE(integer.status().message().find("not float32"), std::string::npos);
}

}  // namespace
}  // namespace orbit::optimize
