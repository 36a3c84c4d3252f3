#include "telemetry/process_metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "telemetry/exposition_parser.h"
#include "telemetry/prometheus_text.h"

namespace orbit {
namespace {

std::vector<testing::ParsedSample> RenderAndParse(const MetricRegistry& registry) {
  Result<std::vector<testing::ParsedSample>> samples =
      testing::ParseExposition(RenderPrometheusText(registry));
  EXPECT_TRUE(samples.ok()) << samples.status().ToString();
  return samples.ok() ? *samples : std::vector<testing::ParsedSample>{};
}

TEST(ProcessMetricsTest, RegistersTheStandardProcessMetricsWithPlausibleValues) {
  MetricRegistry registry;
  ASSERT_TRUE(RegisterProcessMetrics(registry).ok());
  const std::vector<testing::ParsedSample> samples = RenderAndParse(registry);

  const auto cpu = testing::FindSampleValue(samples, "process_cpu_seconds_total");
  const auto resident = testing::FindSampleValue(samples, "process_resident_memory_bytes");
  const auto virtual_bytes = testing::FindSampleValue(samples, "process_virtual_memory_bytes");
  const auto open_fds = testing::FindSampleValue(samples, "process_open_fds");
  const auto max_fds = testing::FindSampleValue(samples, "process_max_fds");
  const auto start_time = testing::FindSampleValue(samples, "process_start_time_seconds");
  ASSERT_TRUE(cpu && resident && virtual_bytes && open_fds && start_time);

  EXPECT_GE(*cpu, 0.0);
  EXPECT_GT(*resident, 0.0);
  EXPECT_GE(*virtual_bytes, *resident);
  EXPECT_GT(*open_fds, 0.0);
  if (max_fds) {
    EXPECT_GE(*max_fds, *open_fds);
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(*start_time, now + 1.0);          // started before now ...
  EXPECT_GT(*start_time, now - 24 * 3600.0);  // ... and not long ago (it is this test)
}

TEST(ProcessMetricsTest, CpuTimeGrowsWithWork) {
  MetricRegistry registry;
  ASSERT_TRUE(RegisterProcessMetrics(registry).ok());
  const double before =
      *testing::FindSampleValue(RenderAndParse(registry), "process_cpu_seconds_total");
  const auto start = std::chrono::steady_clock::now();
  volatile double sink = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(200)) sink = sink + 1;
  const double after =
      *testing::FindSampleValue(RenderAndParse(registry), "process_cpu_seconds_total");
  EXPECT_GT(after, before);
}

TEST(ProcessMetricsTest, RegisteringTwiceOnOneRegistryIsAlreadyExists) {
  MetricRegistry registry;
  ASSERT_TRUE(RegisterProcessMetrics(registry).ok());
  EXPECT_EQ(RegisterProcessMetrics(registry).code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace orbit
