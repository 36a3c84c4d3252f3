#include "optimize/variant_report.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

namespace orbit::optimize {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(ORBIT_SOURCE_DIR) / "models/cellseg";

// Sleeps `delay` per run and records, in a log shared by all engines, which engine ran.
class SleepingEngine : public runtime::Engine {
 public:
  SleepingEngine(std::string name, std::chrono::milliseconds delay, std::vector<std::string>* log)
      : name_(std::move(name)), delay_(delay), log_(log) {}
  const std::string& name() const override { return name_; }
  const std::vector<runtime::TensorInfo>& inputs() const override { return io_; }
  const std::vector<runtime::TensorInfo>& outputs() const override { return io_; }
  const std::vector<std::string>& active_providers() const override { return providers_; }
  Status ValidateInputs(std::span<const Tensor>) const override { return Status::Ok(); }
  Result<std::vector<Tensor>> Run(std::span<const Tensor> inputs) const override {
    std::this_thread::sleep_for(delay_ * inputs[0].shape()[0]);
    log_->push_back(name_ + "@" + std::to_string(inputs[0].shape()[0]));
    return std::vector<Tensor>{};
  }

 private:
  std::string name_;
  std::chrono::milliseconds delay_;
  std::vector<std::string>* log_;
  std::vector<runtime::TensorInfo> io_ = {{"x", DType::kFloat32, {-1, 1, -1, -1}}};
  std::vector<std::string> providers_ = {"cpu"};
};

TEST(VariantReportTest, SummarizesNearestRankPercentilesAndThroughput) {
  std::vector<double> samples;
  for (int i = 100; i >= 1; --i) samples.push_back(i);  // 1..100 ms, unsorted
  const LatencyStats s = SummarizeLatency(8, samples);
  EXPECT_EQ(s.batch, 8);
  EXPECT_DOUBLE_EQ(s.p50_ms, 50);
  EXPECT_DOUBLE_EQ(s.p99_ms, 99);
  EXPECT_DOUBLE_EQ(s.mean_ms, 50.5);
  EXPECT_EQ(s.iterations, 100);
  EXPECT_DOUBLE_EQ(s.images_per_second, 8000.0 / 50.5);
  EXPECT_EQ(SummarizeLatency(1, {}).iterations, 0);
}

// Median-latency ratios, so one slow outlier (a mean of 100 ms below) does not decide the gate.
TEST(VariantReportTest, SpeedupsAreMedianLatencyRatiosPerBatch) {
  LatencyStats r1{1, 30, 0, 100, 10, 1}, r8{8, 100, 0, 0, 20, 1};
  LatencyStats v1{1, 20, 0, 20, 15, 1}, v8{8, 40, 0, 0, 50, 1};
  const auto s = Speedups({r1, r8}, {v1, v8});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, 1);
  EXPECT_DOUBLE_EQ(s[0].second, 1.5);
  EXPECT_EQ(s[1].first, 8);
  EXPECT_DOUBLE_EQ(s[1].second, 2.5);
}

TEST(VariantReportTest, InterleavesEnginesAndRotatesWhoGoesFirst) {
  std::vector<std::string> log;
  SleepingEngine fast("fast", std::chrono::milliseconds(1), &log);
  SleepingEngine slow("slow", std::chrono::milliseconds(4), &log);
  auto sample = Tensor::Zeros(DType::kFloat32, {1, 1, 4, 4});
  ASSERT_TRUE(sample.ok());
  SpeedOptions options;
  options.batches = {1, 2};
  options.seconds = 0;
  options.min_iterations = 4;
  options.warmup = 1;
  auto stats = MeasureSpeedInterleaved({&fast, &slow}, *sample, options);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->size(), 2u);
  ASSERT_EQ((*stats)[0].size(), 2u);
  EXPECT_EQ((*stats)[0][0].iterations, 4);
  EXPECT_EQ((*stats)[1][1].batch, 2);
  EXPECT_GT((*stats)[0][0].images_per_second, (*stats)[1][0].images_per_second);
  // Batch 1: warm-ups (fast, slow), then rounds alternate the starting engine.
  const std::vector<std::string> expected = {"fast@1", "slow@1", "fast@1", "slow@1", "slow@1",
                                             "fast@1", "fast@1", "slow@1", "slow@1", "fast@1"};
  ASSERT_GE(log.size(), expected.size());
  EXPECT_EQ(std::vector<std::string>(log.begin(), log.begin() + 10), expected);
  EXPECT_EQ(log.back(), "fast@2");
}

TEST(VariantReportTest, RefusesASampleWithMoreThanOneItem) {
  std::vector<std::string> log;
  SleepingEngine e("e", std::chrono::milliseconds(0), &log);
  auto sample = Tensor::Zeros(DType::kFloat32, {2, 1, 4, 4});
  ASSERT_TRUE(sample.ok());
  EXPECT_EQ(MeasureSpeedInterleaved({&e}, *sample, {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(VariantReportTest, SameModelTwiceAgreesOnEveryPixel) {
  auto a = repository::LoadModelPackage(kModel);
  auto b = repository::LoadModelPackage(kModel);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const fs::path fixtures = kModel / "fixtures";
  auto results = MeasureAccuracy(
      {&*a, &*b}, {{fixtures / "images/img_000.png", fixtures / "masks/img_000.png"},
                   {fixtures / "images/img_001.png", fixtures / "masks/img_001.png"}});
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].metrics.image_count, 2);
  EXPECT_GT((*results)[0].metrics.iou, 0.5);
  EXPECT_DOUBLE_EQ((*results)[1].metrics.iou, (*results)[0].metrics.iou);
  EXPECT_DOUBLE_EQ((*results)[1].pixel_agreement, 1.0);
  EXPECT_EQ((*results)[1].pixels, (*results)[0].pixels);
  EXPECT_GT((*results)[1].pixels, 256 * 256);
}

TEST(VariantReportTest, AccuracyNamesAMissingMask) {
  auto a = repository::LoadModelPackage(kModel);
  ASSERT_TRUE(a.ok());
  auto results = MeasureAccuracy(
      {&*a}, {{kModel / "fixtures/images/img_000.png", kModel / "fixtures/masks/none.png"}});
  ASSERT_FALSE(results.ok());
  EXPECT_NE(results.status().message().find("none.png"), std::string::npos);
}

OptimizeReport SampleReport(bool accepted) {
  OptimizeReport r;
  r.model_name = "cellseg";
  r.source_model = "models/cellseg/model.onnx";
  r.providers = "cpu";
  r.bench_size = "512x512";
  r.labelled_images = 20;
  r.calibration_images = 8;
  r.calibration_inputs = 8;
  r.reference.name = "fp32";
  r.reference.precision = "fp32";
  r.reference.file_bytes = 2 * 1024 * 1024;
  r.reference.parameters = {500000, 2000000};
  r.reference.latency = {SummarizeLatency(1, {10, 10}), SummarizeLatency(8, {80, 80})};
  r.reference.accuracy.metrics.iou = 0.8;
  VariantReport v;
  v.name = "int8";
  v.precision = "int8";
  v.path = "int8";
  v.file_bytes = 600 * 1024;
  v.parameters = {500000, 520000};
  v.latency = {SummarizeLatency(1, {5, 5}), SummarizeLatency(8, {40, 40})};
  v.speedup = Speedups(r.reference.latency, v.latency);
  v.accuracy.metrics.iou = accepted ? 0.795 : 0.7;
  v.accuracy.pixel_agreement = 0.99;
  v.converted_nodes = 10;
  v.kept_fp32 = {{"sin_1", "Sin", "op not supported by the quantiser"}};
  v.gate = ApplyGate({v.name, 0.8, v.accuracy.metrics.iou, v.speedup}, r.gate);
  r.recommended = RecommendVariant({*v.gate});
  r.variants.push_back(v);
  return r;
}

TEST(VariantReportTest, JsonCarriesNumbersVerdictAndKeptNodes) {
  const nlohmann::json j = ReportToJson(SampleReport(true));
  EXPECT_EQ(j["model"], "cellseg");
  EXPECT_EQ(j["recommended"], "int8");
  EXPECT_EQ(j["gate"]["min_speedup"], 1.2);
  const auto& v = j["variants"][0];
  EXPECT_EQ(v["precision"], "int8");
  EXPECT_EQ(v["file_bytes"], 600 * 1024);
  EXPECT_EQ(v["parameter_bytes"], 520000);
  EXPECT_DOUBLE_EQ(v["speedup"]["1"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(v["latency"][1]["images_per_second"].get<double>(), 200.0);
  EXPECT_TRUE(v["gate"]["accepted"].get<bool>());
  EXPECT_EQ(v["kept_fp32"][0]["op_type"], "Sin");
  EXPECT_TRUE(j["reference"].find("gate") == j["reference"].end());
}

TEST(VariantReportTest, RejectedVariantHasReasonsAndNoRecommendation) {
  const OptimizeReport r = SampleReport(false);
  const nlohmann::json j = ReportToJson(r);
  EXPECT_TRUE(j["recommended"].is_null());
  EXPECT_FALSE(j["variants"][0]["gate"]["accepted"].get<bool>());
  const std::string md = ReportToMarkdown(r);
  EXPECT_NE(md.find("Recommended: none"), std::string::npos) << md;
  EXPECT_NE(md.find("IoU drop 0.1000"), std::string::npos) << md;
  EXPECT_NE(md.find("| rejected |"), std::string::npos) << md;
}

TEST(VariantReportTest, MarkdownHasOneTableRowPerModelAndListsKeptNodes) {
  const std::string md = ReportToMarkdown(SampleReport(true));
  EXPECT_NE(md.find("| fp32 (reference, raw ONNX Runtime) | fp32 | 2.00 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| int8 | int8 | 0.59 |"), std::string::npos) << md;
  EXPECT_NE(md.find("2.00x"), std::string::npos) << md;
  EXPECT_NE(md.find("**accepted** (recommended)"), std::string::npos) << md;
  EXPECT_NE(md.find("`sin_1` (Sin): op not supported by the quantiser"), std::string::npos) << md;
}

}  // namespace
}  // namespace orbit::optimize
