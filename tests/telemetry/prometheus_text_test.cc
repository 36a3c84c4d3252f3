#include "telemetry/prometheus_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include <sys/wait.h>
#include <unistd.h>

#include "telemetry/exposition_parser.h"

namespace orbit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PrometheusTextTest, ContentTypeIsTextFormatVersion004) {
  EXPECT_EQ(kPrometheusTextContentType, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(PrometheusTextTest, RendersASmallRegistryExactly) {
  MetricRegistry registry;
  CounterFamily* requests =
      *registry.AddCounter("orbit_test_requests_total", "Requests served.", {"model", "version"});
  (*requests->WithLabels({"cellseg", "1"}))->Increment(3);
  (*requests->WithLabels({"nuclei", "2"}))->Add(0.5);
  GaugeFamily* temperature = *registry.AddGauge("orbit_test_temperature", "Temperature.");
  (*temperature->WithLabels({}))->Set(-1.25);
  HistogramFamily* latency = *registry.AddHistogram("orbit_test_latency_seconds",
                                                    "Latency in seconds.", {"model"}, {0.125, 1});
  Histogram* cellseg = *latency->WithLabels({"cellseg"});
  for (double value : {0.0625, 0.125, 0.5, 4.0}) cellseg->Observe(value);

  EXPECT_EQ(RenderPrometheusText(registry),
            "# HELP orbit_test_latency_seconds Latency in seconds.\n"
            "# TYPE orbit_test_latency_seconds histogram\n"
            "orbit_test_latency_seconds_bucket{model=\"cellseg\",le=\"0.125\"} 2\n"
            "orbit_test_latency_seconds_bucket{model=\"cellseg\",le=\"1\"} 3\n"
            "orbit_test_latency_seconds_bucket{model=\"cellseg\",le=\"+Inf\"} 4\n"
            "orbit_test_latency_seconds_sum{model=\"cellseg\"} 4.6875\n"
            "orbit_test_latency_seconds_count{model=\"cellseg\"} 4\n"
            "# HELP orbit_test_requests_total Requests served.\n"
            "# TYPE orbit_test_requests_total counter\n"
            "orbit_test_requests_total{model=\"cellseg\",version=\"1\"} 3\n"
            "orbit_test_requests_total{model=\"nuclei\",version=\"2\"} 0.5\n"
            "# HELP orbit_test_temperature Temperature.\n"
            "# TYPE orbit_test_temperature gauge\n"
            "orbit_test_temperature -1.25\n");
}

TEST(PrometheusTextTest, RendersAnUnlabelledHistogramWithOnlyTheLeLabel) {
  MetricRegistry registry;
  HistogramFamily* family = *registry.AddHistogram("size", "Sizes.", {}, {2});
  (*family->WithLabels({}))->Observe(1);
  EXPECT_EQ(RenderPrometheusText(registry),
            "# HELP size Sizes.\n"
            "# TYPE size histogram\n"
            "size_bucket{le=\"2\"} 1\n"
            "size_bucket{le=\"+Inf\"} 1\n"
            "size_sum 1\n"
            "size_count 1\n");
}

TEST(PrometheusTextTest, FamilyWithoutChildrenShowsOnlyHelpAndType) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddCounter("nv_inference_count", "Inferences.", {"model"}).ok());
  EXPECT_EQ(RenderPrometheusText(registry),
            "# HELP nv_inference_count Inferences.\n"
            "# TYPE nv_inference_count counter\n");
}

TEST(PrometheusTextTest, OmitsHelpLineWhenHelpIsEmpty) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddGauge("bare", "").ok());
  EXPECT_EQ(RenderPrometheusText(registry), "# TYPE bare gauge\nbare 0\n");
}

TEST(PrometheusTextTest, EscapesBackslashQuoteAndNewlineInLabelValues) {
  MetricRegistry registry;
  CounterFamily* family = *registry.AddCounter("c", "h", {"path"});
  (*family->WithLabels({"C:\\models\\\"cell\"\nseg"}))->Increment();
  const std::string text = RenderPrometheusText(registry);
  EXPECT_THAT(text, HasSubstr("c{path=\"C:\\\\models\\\\\\\"cell\\\"\\nseg\"} 1\n"));

  Result<std::vector<testing::ParsedSample>> samples = testing::ParseExposition(text);
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  EXPECT_EQ(samples->at(0).Label("path"), "C:\\models\\\"cell\"\nseg");
}

TEST(PrometheusTextTest, EscapesBackslashAndNewlineButNotQuotesInHelp) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddGauge("g", "A \"quoted\" C:\\path\nsecond line").ok());
  EXPECT_THAT(RenderPrometheusText(registry),
              HasSubstr("# HELP g A \"quoted\" C:\\\\path\\nsecond line\n# TYPE g gauge\n"));
  EXPECT_EQ(EscapePrometheusHelp("a\\b\nc\"d"), "a\\\\b\\nc\"d");
  EXPECT_EQ(EscapePrometheusLabelValue("a\\b\nc\"d"), "a\\\\b\\nc\\\"d");
}

TEST(PrometheusTextTest, FormatsIntegersWithoutExponent) {
  EXPECT_EQ(FormatPrometheusValue(0), "0");
  EXPECT_EQ(FormatPrometheusValue(-0.0), "0");
  EXPECT_EQ(FormatPrometheusValue(42), "42");
  EXPECT_EQ(FormatPrometheusValue(-7), "-7");
  EXPECT_EQ(FormatPrometheusValue(1e15), "1000000000000000");
  EXPECT_EQ(FormatPrometheusValue(1e18), "1000000000000000000");
  EXPECT_EQ(FormatPrometheusValue(9007199254740992.0), "9007199254740992");
}

TEST(PrometheusTextTest, FormatsDoublesSoTheyReadBackExactly) {
  EXPECT_EQ(FormatPrometheusValue(0.1), "0.1");
  EXPECT_EQ(FormatPrometheusValue(2.5), "2.5");
  EXPECT_EQ(FormatPrometheusValue(1e-7), "1e-07");
  EXPECT_EQ(FormatPrometheusValue(1e20), "1e+20");
  for (double value : {1.0 / 3.0, 0.1 + 0.2, 6.02214076e23, -2.2250738585072014e-308,
                       std::numeric_limits<double>::max(), 123456.789}) {
    const std::string text = FormatPrometheusValue(value);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), value) << text;
  }
}

TEST(PrometheusTextTest, FormatsInfinitiesAndNanAsPrometheusSpellsThem) {
  EXPECT_EQ(FormatPrometheusValue(HUGE_VAL), "+Inf");
  EXPECT_EQ(FormatPrometheusValue(-HUGE_VAL), "-Inf");
  EXPECT_EQ(FormatPrometheusValue(std::nan("")), "NaN");
}

TEST(PrometheusTextTest, RendersSpecialGaugeValuesThatStillParse) {
  MetricRegistry registry;
  GaugeFamily* family = *registry.AddGauge("g", "h", {"k"});
  (*family->WithLabels({"inf"}))->Set(HUGE_VAL);
  (*family->WithLabels({"ninf"}))->Set(-HUGE_VAL);
  (*family->WithLabels({"nan"}))->Set(std::nan(""));
  const std::string text = RenderPrometheusText(registry);
  EXPECT_THAT(text, HasSubstr("g{k=\"inf\"} +Inf\ng{k=\"ninf\"} -Inf\ng{k=\"nan\"} NaN\n"));
  EXPECT_TRUE(testing::ParseExposition(text).ok());
}

// Everything the renderer can produce, in one registry.
void FillRegistryWithEveryKind(MetricRegistry& registry) {
  CounterFamily* counters = *registry.AddCounter("a_total", "Counter.", {"model", "version"});
  (*counters->WithLabels({"m\"1", "1"}))->Increment(10);
  (*counters->WithLabels({"m2", "2"}))->Add(0.25);
  HistogramFamily* histograms =
      *registry.AddHistogram("b_seconds", "Hist.", {"model"}, {0.001, 0.01, 0.1, 1});
  for (const char* model : {"x", "y"}) {
    Histogram* histogram = *histograms->WithLabels({model});
    for (int i = 0; i < 50; ++i) histogram->Observe(i * 0.003);
  }
  ASSERT_TRUE(registry.AddGauge("c", "Help with \\ and\nnewline.").ok());
  ASSERT_TRUE(registry.AddCallbackGauge("d", "Callback.", [] { return 3.5; }).ok());
  ASSERT_TRUE(registry.AddCounter("e_empty", "No children.", {"k"}).ok());
}

TEST(PrometheusTextTest, OutputPassesTheLineFormatValidator) {
  MetricRegistry registry;
  FillRegistryWithEveryKind(registry);
  const std::string text = RenderPrometheusText(registry);
  Result<std::vector<testing::ParsedSample>> samples = testing::ParseExposition(text);
  ASSERT_TRUE(samples.ok()) << samples.status().ToString() << "\n" << text;
  EXPECT_EQ(testing::FindSampleValue(*samples, "a_total", {{"model", "m\"1"}}), 10.0);
  EXPECT_EQ(
      testing::FindSampleValue(*samples, "b_seconds_bucket", {{"model", "y"}, {"le", "0.01"}}),
      4.0);  // 0, 0.003, 0.006, 0.009
  EXPECT_EQ(testing::FindSampleValue(*samples, "b_seconds_count", {{"model", "x"}}), 50.0);
  EXPECT_EQ(testing::FindSampleValue(*samples, "d"), 3.5);
}

TEST(ExpositionParserTest, RejectsMalformedLines) {
  const char* bad[] = {
      "# TYPE x gauge\nx 1",                                                  // no final newline
      "x 1\n",                                                                // no TYPE line
      "# TYPE x gauge\nx{a=\"1\" 1\n",                                        // unclosed labels
      "# TYPE x gauge\nx{a=1} 1\n",                                           // unquoted value
      "# TYPE x gauge\nx{a=\"\\t\"} 1\n",                                     // unknown escape
      "# TYPE x gauge\nx one\n",                                              // bad value
      "# TYPE x gauge\nx 1 1700000000\n",                                     // timestamp
      "# TYPE x gauge\nx 1\nx 2\n",                                           // duplicate series
      "# TYPE x gauge\n# TYPE x gauge\n",                                     // second TYPE
      "# TYPE x gauge\n\n",                                                   // empty line
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n",  // not cumulative
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",             // count mismatch
  };
  for (const char* text : bad) {
    EXPECT_FALSE(testing::ParseExposition(text).ok()) << text;
  }
}

// promtool is the reference parser; the bootstrap installs it, other machines may not have it.
TEST(PrometheusTextTest, PromtoolAcceptsTheOutput) {
  const char* promtool = "/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) GTEST_SKIP() << "promtool is not installed";
  MetricRegistry registry;
  FillRegistryWithEveryKind(registry);
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("orbit_prometheus_text_test_" + std::to_string(::getpid()) + ".prom");
  std::ofstream(path) << RenderPrometheusText(registry);
  const std::string command = std::string(promtool) + " check metrics < " + path.string() + " > " +
                              path.string() + ".out 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream out(path.string() + ".out");
  const std::string output((std::istreambuf_iterator<char>(out)), {});
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + ".out");
  // Exit 1 is a parse error; 3 is lint advice only (Triton's counter names lack "_total"), which
  // is about naming, not the format.
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_THAT(WEXITSTATUS(status), ::testing::AnyOf(0, 3)) << output;
  EXPECT_THAT(output, Not(HasSubstr("error"))) << output;
}

}  // namespace
}  // namespace orbit
