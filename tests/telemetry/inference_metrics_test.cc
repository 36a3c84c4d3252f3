#include "telemetry/inference_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "telemetry/exposition_parser.h"
#include "telemetry/prometheus_text.h"

namespace orbit {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

const std::vector<std::pair<std::string, std::string>> kCellseg1 = {{"model", "cellseg"},
                                                                    {"version", "1"}};

std::vector<testing::ParsedSample> RenderAndParse(const MetricRegistry& registry) {
  Result<std::vector<testing::ParsedSample>> samples =
      testing::ParseExposition(RenderPrometheusText(registry));
  EXPECT_TRUE(samples.ok()) << samples.status().ToString();
  return samples.ok() ? *samples : std::vector<testing::ParsedSample>{};
}

TEST(InferenceMetricsTest, ForModelShowsEveryTritonSeriesAtZero) {
  MetricRegistry registry;
  Result<InferenceMetrics> metrics = InferenceMetrics::Register(registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  metrics->ForModel("cellseg", "1");
  const std::string text = RenderPrometheusText(registry);
  for (const char* name :
       {"nv_inference_request_success", "nv_inference_count", "nv_inference_exec_count",
        "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
        "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
        "nv_inference_compute_output_duration_us", "orbit_inference_queue_depth",
        "orbit_inference_in_flight"}) {
    EXPECT_THAT(text, HasSubstr(std::string(name) + "{model=\"cellseg\",version=\"1\"} 0\n"));
  }
  for (const char* reason : {"REJECTED", "CANCELED", "BACKEND", "OTHER"}) {
    EXPECT_THAT(text, HasSubstr("nv_inference_request_failure{model=\"cellseg\",version=\"1\","
                                "reason=\"" +
                                std::string(reason) + "\"} 0\n"));
  }
  EXPECT_THAT(text, HasSubstr("# HELP nv_inference_request_success Number of successful "
                              "inference requests, all batch sizes\n"
                              "# TYPE nv_inference_request_success counter\n"));
  EXPECT_TRUE(testing::ParseExposition(text).ok());
}

TEST(InferenceMetricsTest, RecordSuccessAddsMicrosecondCountersAndSecondHistograms) {
  MetricRegistry registry;
  const InferenceMetrics metrics = *InferenceMetrics::Register(registry);
  RequestTimings timings;
  timings.request = milliseconds(30);
  timings.queue = microseconds(5500);
  timings.compute = {microseconds(1000), milliseconds(20), std::chrono::nanoseconds(2'000'900)};
  metrics.RecordSuccess("cellseg", "1", timings);
  metrics.RecordSuccess("cellseg", "1", timings);

  const auto samples = RenderAndParse(registry);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_request_success", kCellseg1), 2);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_request_duration_us", kCellseg1),
            60000);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_queue_duration_us", kCellseg1), 11000);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_compute_input_duration_us", kCellseg1),
            2000);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_compute_infer_duration_us", kCellseg1),
            40000);
  // Whole microseconds per request, as Triton: 2000.9 us counts 2000.
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_compute_output_duration_us", kCellseg1),
            4000);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_request_duration_seconds_count",
                                     kCellseg1),
            2);
  EXPECT_DOUBLE_EQ(
      *testing::FindSampleValue(samples, "orbit_inference_request_duration_seconds_sum", kCellseg1),
      0.06);
  auto cellseg_le = kCellseg1;
  cellseg_le.emplace_back("le", "0.025");
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_request_duration_seconds_bucket",
                                     cellseg_le),
            0);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_queue_duration_seconds_bucket",
                                     cellseg_le),
            2);
}

TEST(InferenceMetricsTest, RecordExecutionCountsBatchItemsAsInferences) {
  MetricRegistry registry;
  const InferenceMetrics metrics = *InferenceMetrics::Register(registry);
  const ModelInferenceMetrics cellseg = metrics.ForModel("cellseg", "1");
  cellseg.RecordExecution(4, {milliseconds(1), milliseconds(8), milliseconds(1)});
  cellseg.RecordExecution(3, {milliseconds(1), milliseconds(8), milliseconds(1)});

  const auto samples = RenderAndParse(registry);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_exec_count", kCellseg1), 2);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_count", kCellseg1), 7);
  auto le4 = kCellseg1;
  le4.emplace_back("le", "4");
  auto le2 = kCellseg1;
  le2.emplace_back("le", "2");
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_batch_size_bucket", le2), 0);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_batch_size_bucket", le4), 2);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_batch_size_sum", kCellseg1), 7);
  auto le10ms = kCellseg1;
  le10ms.emplace_back("le", "0.01");
  EXPECT_EQ(
      testing::FindSampleValue(samples, "orbit_inference_compute_duration_seconds_bucket", le10ms),
      2);
}

TEST(InferenceMetricsTest, RecordFailureCountsByTritonReason) {
  MetricRegistry registry;
  const InferenceMetrics metrics = *InferenceMetrics::Register(registry);
  metrics.RecordFailure("cellseg", "1", FailureReason::kRejected);
  metrics.RecordFailure("cellseg", "1", FailureReason::kRejected);
  metrics.RecordFailure("cellseg", "1", FailureReasonFromStatus(InternalError("engine")));

  const auto samples = RenderAndParse(registry);
  auto with_reason = [](const char* reason) {
    auto labels = kCellseg1;
    labels.emplace_back("reason", reason);
    return labels;
  };
  EXPECT_EQ(
      testing::FindSampleValue(samples, "nv_inference_request_failure", with_reason("REJECTED")),
      2);
  EXPECT_EQ(
      testing::FindSampleValue(samples, "nv_inference_request_failure", with_reason("BACKEND")), 1);
  EXPECT_EQ(
      testing::FindSampleValue(samples, "nv_inference_request_failure", with_reason("CANCELED")),
      0);
  EXPECT_EQ(testing::FindSampleValue(samples, "nv_inference_request_success", kCellseg1), 0);
}

TEST(InferenceMetricsTest, MapsStatusCodesToTritonFailureReasons) {
  EXPECT_EQ(FailureReasonFromStatus(CancelledError("x")), FailureReason::kCanceled);
  EXPECT_EQ(FailureReasonFromStatus(ResourceExhaustedError("queue full")),
            FailureReason::kRejected);
  EXPECT_EQ(FailureReasonFromStatus(UnavailableError("not ready")), FailureReason::kRejected);
  EXPECT_EQ(FailureReasonFromStatus(DeadlineExceededError("queue timeout")),
            FailureReason::kRejected);
  EXPECT_EQ(FailureReasonFromStatus(InternalError("ort")), FailureReason::kBackend);
  EXPECT_EQ(FailureReasonFromStatus(InvalidArgumentError("shape")), FailureReason::kOther);
  EXPECT_EQ(FailureReasonName(FailureReason::kCanceled), "CANCELED");
}

TEST(InferenceMetricsTest, QueueGaugesAreSharedByEveryHandleOfAModel) {
  MetricRegistry registry;
  const InferenceMetrics metrics = *InferenceMetrics::Register(registry);
  metrics.ForModel("cellseg", "1").queue_depth().Increment();
  metrics.ForModel("cellseg", "1").queue_depth().Increment();
  metrics.ForModel("cellseg", "1").in_flight().Set(3);
  const auto samples = RenderAndParse(registry);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_queue_depth", kCellseg1), 2);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_inference_in_flight", kCellseg1), 3);
}

TEST(InferenceMetricsTest, RecordsModelLifecycleAndHttpRequests) {
  MetricRegistry registry;
  const InferenceMetrics metrics = *InferenceMetrics::Register(registry);
  metrics.RecordModelLoad("cellseg", "1", true, milliseconds(1500));
  metrics.RecordModelLoad("cellseg", "2", false, milliseconds(10));
  metrics.RecordModelUnload("cellseg", "1");
  metrics.RecordHttpRequest("POST", "/v2/models/{model}/infer", 200);
  metrics.RecordHttpRequest("POST", "/v2/models/{model}/infer", 200);
  metrics.RecordHttpRequest("GET", "/v2/health/ready", 503);

  const auto samples = RenderAndParse(registry);
  EXPECT_EQ(
      testing::FindSampleValue(samples, "orbit_model_load_total",
                               {{"model", "cellseg"}, {"version", "1"}, {"outcome", "success"}}),
      1);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_model_load_total",
                                     {{"version", "2"}, {"outcome", "failure"}}),
            1);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_model_unload_total", kCellseg1), 1);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_model_load_duration_seconds_sum", kCellseg1),
            1.5);
  // Failed loads have no duration.
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_model_load_duration_seconds_count",
                                     {{"version", "2"}}),
            std::nullopt);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_http_requests_total",
                                     {{"method", "POST"}, {"code", "200"}}),
            2);
  EXPECT_EQ(testing::FindSampleValue(samples, "orbit_http_requests_total",
                                     {{"route", "/v2/health/ready"}, {"code", "503"}}),
            1);
}

TEST(InferenceMetricsTest, RegisteringAgainOnTheSameRegistrySharesTheFamilies) {
  MetricRegistry registry;
  const InferenceMetrics first = *InferenceMetrics::Register(registry);
  Result<InferenceMetrics> second = InferenceMetrics::Register(registry);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  first.RecordFailure("m", "1", FailureReason::kOther);
  second->RecordFailure("m", "1", FailureReason::kOther);
  EXPECT_EQ(testing::FindSampleValue(RenderAndParse(registry), "nv_inference_request_failure",
                                     {{"reason", "OTHER"}}),
            2);
}

TEST(InferenceMetricsTest, RegisterFailsWhenANameIsTakenByADifferentMetric) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddGauge("nv_inference_count", "not Triton's").ok());
  const Result<InferenceMetrics> metrics = InferenceMetrics::Register(registry);
  EXPECT_EQ(metrics.status().code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace orbit
