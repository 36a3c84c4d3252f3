#include "telemetry/metric_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

namespace orbit {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The snapshot of the family called `name` (fails the test if absent).
FamilySnapshot FindFamily(const MetricRegistry& registry, std::string_view name) {
  for (FamilySnapshot& family : registry.Collect()) {
    if (family.name == name) return family;
  }
  ADD_FAILURE() << "no family " << name;
  return {};
}

TEST(CounterTest, CountsWholeAndFractionalIncrements) {
  Counter counter;
  counter.Increment();
  counter.Increment(41);
  counter.Add(0.5);
  EXPECT_DOUBLE_EQ(counter.Value(), 42.5);
}

TEST(CounterTest, IgnoresNegativeAndNanAmounts) {
  Counter counter;
  counter.Increment(3);
  counter.Add(-1.0);
  counter.Add(std::nan(""));
  EXPECT_EQ(counter.Value(), 3.0);
}

TEST(GaugeTest, SetsAndAddsBothWays) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Add(2.5);
  gauge.Decrement();
  gauge.Increment();
  gauge.Add(-4);
  EXPECT_EQ(gauge.Value(), 8.5);
}

TEST(HistogramTest, CountsEachObservationInTheFirstBucketWhoseBoundIncludesIt) {
  Histogram histogram({1, 2, 4});
  for (double value : {0.5, 1.0, 1.5, 4.0, 4.5, 100.0}) histogram.Observe(value);
  const HistogramSnapshot snapshot = histogram.Snapshot();
  // le=1: 0.5, 1.0 (bounds are inclusive); le=2: +1.5; le=4: +4.0; +Inf: +4.5, +100.
  EXPECT_THAT(snapshot.cumulative_counts, ElementsAre(2, 3, 4, 6));
  EXPECT_EQ(snapshot.count, 6u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 111.5);
}

TEST(HistogramTest, BucketCountsAreCumulativeAndEndAtTheTotalCount) {
  Histogram histogram({0.1, 0.2, 0.3});
  histogram.Observe(0.25);
  histogram.Observe(0.25);
  histogram.Observe(0.05);
  const HistogramSnapshot snapshot = histogram.Snapshot();
  EXPECT_THAT(snapshot.cumulative_counts, ElementsAre(1, 1, 3, 3));
  for (std::size_t i = 1; i < snapshot.cumulative_counts.size(); ++i) {
    EXPECT_GE(snapshot.cumulative_counts[i], snapshot.cumulative_counts[i - 1]);
  }
  EXPECT_EQ(snapshot.cumulative_counts.back(), snapshot.count);
}

TEST(HistogramTest, NanGoesToTheInfBucketOnly) {
  Histogram histogram({1});
  histogram.Observe(std::nan(""));
  EXPECT_THAT(histogram.Snapshot().cumulative_counts, ElementsAre(0, 1));
  EXPECT_TRUE(std::isnan(histogram.Snapshot().sum));
}

TEST(MetricNameTest, AcceptsPrometheusMetricNames) {
  for (const char* name : {"a", "_a", ":a", "orbit_requests_total", "job:rate5m", "A9_"}) {
    EXPECT_TRUE(ValidateMetricName(name).ok()) << name;
  }
}

TEST(MetricNameTest, RejectsInvalidMetricNames) {
  for (const char* name : {"", "1a", "a-b", "a b", "a.b", "caf\xc3\xa9", "a{b}"}) {
    const Status status = ValidateMetricName(name);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << name;
  }
}

TEST(MetricNameTest, RejectsColonsAndReservedPrefixInLabelNames) {
  EXPECT_TRUE(ValidateLabelName("model").ok());
  EXPECT_TRUE(ValidateLabelName("_private").ok());
  EXPECT_EQ(ValidateLabelName("a:b").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLabelName("9lives").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLabelName("").code(), StatusCode::kInvalidArgument);
  const Status reserved = ValidateLabelName("__name__");
  EXPECT_EQ(reserved.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(reserved.message(), HasSubstr("reserved"));
}

TEST(MetricRegistryTest, RejectsInvalidNamesAtFamilyCreation) {
  MetricRegistry registry;
  EXPECT_EQ(registry.AddCounter("bad-name", "h").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddGauge("g", "h", {"__reserved"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddGauge("g", "h", {"model", "model"}).status().code(),
            StatusCode::kInvalidArgument);
  const Status le = registry.AddHistogram("h", "h", {"le"}, {1}).status();
  EXPECT_EQ(le.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(le.message(), HasSubstr("'le' is reserved"));
  EXPECT_TRUE(registry.Collect().empty());
}

TEST(MetricRegistryTest, RejectsBucketBoundsThatAreNotStrictlyIncreasingFiniteValues) {
  MetricRegistry registry;
  EXPECT_EQ(registry.AddHistogram("h", "h", {}, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "h", {}, {1, 1}).status().code(),
            StatusCode::kInvalidArgument);
  const Status decreasing = registry.AddHistogram("h", "h", {}, {2, 1}).status();
  EXPECT_THAT(decreasing.message(), HasSubstr("strictly increasing (1 follows 2)"));
  EXPECT_EQ(registry.AddHistogram("h", "h", {}, {std::nan(""), 1}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "h", {}, {-HUGE_VAL, 1}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(MetricRegistryTest, DropsATrailingInfBucketBound) {
  MetricRegistry registry;
  Result<HistogramFamily*> family = registry.AddHistogram("h", "h", {}, {1, HUGE_VAL});
  ASSERT_TRUE(family.ok()) << family.status().ToString();
  EXPECT_THAT((*family)->bucket_bounds(), ElementsAre(1.0));
}

TEST(MetricRegistryTest, RejectsWrongNumberOfLabelValues) {
  MetricRegistry registry;
  Result<CounterFamily*> family = registry.AddCounter("c", "h", {"model", "version"});
  ASSERT_TRUE(family.ok());
  const Status status = (*family)->WithLabels({"cellseg"}).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "metric 'c': expected 2 label values for {model, version}, got 1");
  EXPECT_FALSE((*family)->WithLabels({"a", "b", "c"}).ok());
}

TEST(MetricRegistryTest, ReturnsTheSameChildForTheSameLabelValues) {
  MetricRegistry registry;
  CounterFamily* family = *registry.AddCounter("c", "h", {"model", "version"});
  Counter* first = *family->WithLabels({"cellseg", "1"});
  Counter* other = *family->WithLabels({"cellseg", "2"});
  // Creating many more children must not move the first ones.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(family->WithLabels({"m", std::to_string(i)}).ok());
  EXPECT_EQ(*family->WithLabels({"cellseg", "1"}), first);
  EXPECT_NE(first, other);
  first->Increment(7);
  EXPECT_EQ((*family->WithLabels({"cellseg", "1"}))->Value(), 7.0);
}

TEST(MetricRegistryTest, UnlabelledFamilyHasItsSeriesFromTheStart) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddGauge("g", "h").ok());
  const FamilySnapshot family = FindFamily(registry, "g");
  ASSERT_EQ(family.metrics.size(), 1u);
  EXPECT_TRUE(family.metrics[0].label_values.empty());
  EXPECT_EQ(family.metrics[0].value, 0.0);
}

TEST(MetricRegistryTest, ReRegisteringTheSameFamilyReturnsTheExistingOne) {
  MetricRegistry registry;
  CounterFamily* first = *registry.AddCounter("c", "first help", {"model"});
  Result<CounterFamily*> again = registry.AddCounter("c", "other help", {"model"});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, first);
  EXPECT_EQ((*again)->help(), "first help");
  HistogramFamily* histogram = *registry.AddHistogram("h", "h", {}, {1, 2});
  EXPECT_EQ(*registry.AddHistogram("h", "h", {}, {1, 2, HUGE_VAL}), histogram);
}

TEST(MetricRegistryTest, RejectsConflictingReRegistration) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddCounter("c", "h", {"model"}).ok());
  const Status other_type = registry.AddGauge("c", "h", {"model"}).status();
  EXPECT_EQ(other_type.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(other_type.message(),
            "metric 'c' is already registered as a counter with labels {model}; cannot register "
            "it as a gauge with labels {model}");
  EXPECT_EQ(registry.AddCounter("c", "h", {"model", "version"}).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddCounter("c", "h").status().code(), StatusCode::kAlreadyExists);

  ASSERT_TRUE(registry.AddHistogram("h", "h", {}, {1, 2}).ok());
  const Status other_bounds = registry.AddHistogram("h", "h", {}, {1, 3}).status();
  EXPECT_EQ(other_bounds.code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(other_bounds.message(), HasSubstr("bucket bounds [1, 2]"));
}

TEST(MetricRegistryTest, RejectsNamesThatCollideWithHistogramSeries) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddHistogram("latency", "h", {}, {1}).ok());
  const Status status = registry.AddCounter("latency_count", "h").status();
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("collides with metric 'latency'"));

  ASSERT_TRUE(registry.AddGauge("size_sum", "h").ok());
  EXPECT_EQ(registry.AddHistogram("size", "h", {}, {1}).status().code(),
            StatusCode::kAlreadyExists);
}

TEST(MetricRegistryTest, CollectsFamiliesSortedByNameAndChildrenInCreationOrder) {
  MetricRegistry registry;
  GaugeFamily* zeta = *registry.AddGauge("zeta", "h", {"k"});
  ASSERT_TRUE(registry.AddCounter("alpha", "h").ok());
  ASSERT_TRUE(registry.AddGauge("mid", "h").ok());
  for (const char* key : {"c", "a", "b"}) ASSERT_TRUE(zeta->WithLabels({key}).ok());

  const std::vector<FamilySnapshot> families = registry.Collect();
  std::vector<std::string> names;
  for (const FamilySnapshot& family : families) names.push_back(family.name);
  EXPECT_THAT(names, ElementsAre("alpha", "mid", "zeta"));
  std::vector<std::string> keys;
  for (const MetricSnapshot& metric : families[2].metrics) keys.push_back(metric.label_values[0]);
  EXPECT_THAT(keys, ElementsAre("c", "a", "b"));
}

TEST(MetricRegistryTest, ConcurrentIncrementsFromEightThreadsSumExactly) {
  MetricRegistry registry;
  CounterFamily* counters = *registry.AddCounter("c", "h", {"model"});
  GaugeFamily* gauges = *registry.AddGauge("g", "h", {"model"});
  HistogramFamily* histograms = *registry.AddHistogram("h", "h", {"model"}, {1, 2});
  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;

  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      Counter* cached = *counters->WithLabels({"cached"});
      for (int i = 0; i < kIterations; ++i) {
        cached->Increment();
        // Looked up every time, and racing to create children.
        (*counters->WithLabels({"looked_up_" + std::to_string(i % 8)}))->Add(0.5);
        (*gauges->WithLabels({"g"}))->Add(t % 2 == 0 ? 1.0 : 2.0);
        (*histograms->WithLabels({"h"}))->Observe(static_cast<double>(i % 3));
      }
    });
  }
  go = true;
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ((*counters->WithLabels({"cached"}))->Value(), kThreads * kIterations);
  double looked_up = 0;
  for (int k = 0; k < 8; ++k) {
    looked_up += (*counters->WithLabels({"looked_up_" + std::to_string(k)}))->Value();
  }
  EXPECT_EQ(looked_up, kThreads * kIterations * 0.5);
  EXPECT_EQ(FindFamily(registry, "c").metrics.size(), 9u);  // no child created twice
  EXPECT_EQ((*gauges->WithLabels({"g"}))->Value(), 1.5 * kThreads * kIterations);
  const HistogramSnapshot histogram = (*histograms->WithLabels({"h"}))->Snapshot();
  EXPECT_EQ(histogram.count, static_cast<std::uint64_t>(kThreads) * kIterations);
  // Values 0, 1, 2 in turn: i % 3 == 2 lands in le=2, the rest in le=1.
  const std::uint64_t twos = static_cast<std::uint64_t>(kThreads) * (kIterations / 3);
  EXPECT_THAT(histogram.cumulative_counts,
              ElementsAre(histogram.count - twos, histogram.count, histogram.count));
  EXPECT_EQ(histogram.sum, static_cast<double>(kThreads) * (kIterations / 3) * 3 +
                               kThreads * (kIterations % 3 == 2 ? 1 : 0));
}

TEST(MetricRegistryTest, CallbackIsEvaluatedAtEachCollection) {
  MetricRegistry registry;
  std::atomic<int> depth{5};
  ASSERT_TRUE(registry.AddCallbackGauge("queue_depth", "h", [&] { return depth.load(); }).ok());
  EXPECT_EQ(FindFamily(registry, "queue_depth").metrics.at(0).value, 5.0);
  depth = 7;
  EXPECT_EQ(FindFamily(registry, "queue_depth").metrics.at(0).value, 7.0);
}

TEST(MetricRegistryTest, LabelledCallbackDropsSamplesWithTheWrongLabelCount) {
  MetricRegistry registry;
  ASSERT_TRUE(
      registry
          .AddCallback(
              MetricType::kGauge, "in_flight", "h", {"model"},
              [] {
                return std::vector<CallbackSample>{{{"a"}, 1}, {{"a", "extra"}, 2}, {{"b"}, 3}};
              })
          .ok());
  const FamilySnapshot family = FindFamily(registry, "in_flight");
  ASSERT_EQ(family.metrics.size(), 2u);
  EXPECT_THAT(family.metrics[0].label_values, ElementsAre("a"));
  EXPECT_THAT(family.metrics[1].label_values, ElementsAre("b"));
  EXPECT_EQ(family.metrics[1].value, 3.0);
}

TEST(MetricRegistryTest, CallbackMayUseTheRegistryWithoutDeadlock) {
  MetricRegistry registry;
  ASSERT_TRUE(registry
                  .AddCallbackGauge(
                      "outer", "h",
                      [&registry] { return registry.AddGauge("inner", "h").ok() ? 1.0 : 0.0; })
                  .ok());
  EXPECT_EQ(FindFamily(registry, "outer").metrics.at(0).value, 1.0);
}

TEST(MetricRegistryTest, RejectsInvalidCallbacks) {
  MetricRegistry registry;
  EXPECT_EQ(registry.AddCallbackGauge("g", "h", nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry
                .AddCallback(MetricType::kHistogram, "g", "h", {},
                             [] { return std::vector<CallbackSample>{}; })
                .code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry.AddCallbackGauge("g", "h", [] { return 1.0; }).ok());
  EXPECT_EQ(registry.AddCallbackGauge("g", "h", [] { return 1.0; }).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddGauge("g", "h").status().code(), StatusCode::kAlreadyExists);
}

TEST(MetricRegistryTest, RemoveCallbackUnregistersOnlyCallbackFamilies) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddCallbackGauge("cb", "h", [] { return 1.0; }).ok());
  ASSERT_TRUE(registry.AddGauge("plain", "h").ok());
  EXPECT_EQ(registry.RemoveCallback("plain").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry.RemoveCallback("absent").code(), StatusCode::kNotFound);
  ASSERT_TRUE(registry.RemoveCallback("cb").ok());
  ASSERT_EQ(registry.Collect().size(), 1u);
  // The name is free again.
  EXPECT_TRUE(registry.AddGauge("cb", "h").ok());
}

TEST(MetricRegistryTest, CollectsWhileOtherThreadsCreateAndUpdateChildren) {
  MetricRegistry registry;
  CounterFamily* family = *registry.AddCounter("c", "h", {"k"});
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) (*family->WithLabels({std::to_string(i)}))->Increment();
    done = true;
  });
  std::size_t last_size = 0;
  while (!done.load()) {
    const std::size_t size = FindFamily(registry, "c").metrics.size();
    EXPECT_GE(size, last_size);
    last_size = size;
  }
  writer.join();
  EXPECT_EQ(FindFamily(registry, "c").metrics.size(), 2000u);
}

}  // namespace
}  // namespace orbit
