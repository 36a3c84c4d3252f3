// Experiments and runs on both back ends: lifecycle, params/tags/metrics, batch atomicity,
// artifacts and search.
#include "registry/tracking.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "registry_fixture.h"

namespace orbit::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TrackingTest : public testing::RegistryTest {
 protected:
  registry::Run MustCreateRun(const std::string& name, const std::string& experiment = "seg") {
    auto run = tracking_->CreateRun({experiment, name, "alice", "", {}});
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? *run : registry::Run{};
  }
};

TEST_P(TrackingTest, RunLifecycleRecordsTimesAndUser) {
  auto run = tracking_->CreateRun({"seg", "baseline", "alice", "run-1", {{"team", "cells"}}});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->id, "run-1");
  EXPECT_EQ(run->status, RunStatus::kRunning);
  EXPECT_EQ(run->user, "alice");
  EXPECT_EQ(run->tags.at("team"), "cells");
  EXPECT_FALSE(run->end_time_ms);
  ASSERT_TRUE(tracking_->EndRun("run-1", RunStatus::kFinished).ok());
  auto ended = tracking_->GetRun("run-1");
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->status, RunStatus::kFinished);
  ASSERT_TRUE(ended->end_time_ms);
  EXPECT_GT(*ended->end_time_ms, ended->start_time_ms);
  auto experiment = tracking_->GetExperiment("seg");
  ASSERT_TRUE(experiment.ok());
  EXPECT_EQ(ended->experiment_id, experiment->id);
}

TEST_P(TrackingTest, RefusesIllegalTransitions) {
  for (RunStatus end : {RunStatus::kFinished, RunStatus::kFailed, RunStatus::kKilled}) {
    const registry::Run run = MustCreateRun("r");
    ASSERT_TRUE(tracking_->EndRun(run.id, end).ok());
    for (RunStatus next :
         {RunStatus::kRunning, RunStatus::kFinished, RunStatus::kFailed, RunStatus::kKilled}) {
      const Status status = tracking_->EndRun(run.id, next);
      EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
      EXPECT_THAT(status.message(), HasSubstr("run '" + run.id + "' cannot go from " +
                                              std::string(RunStatusName(end))));
    }
  }
  const registry::Run running = MustCreateRun("r2");
  EXPECT_EQ(tracking_->EndRun(running.id, RunStatus::kRunning).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(tracking_->EndRun("nope", RunStatus::kFinished).message(), "run 'nope' does not exist");
}

TEST_P(TrackingTest, ParamsAreImmutableButTheSameValueMayBeLoggedAgain) {
  const registry::Run run = MustCreateRun("r");
  ASSERT_TRUE(tracking_->LogParam(run.id, "lr", "0.001").ok());
  EXPECT_TRUE(tracking_->LogParam(run.id, "lr", "0.001").ok());
  const Status changed = tracking_->LogParam(run.id, "lr", "0.01");
  EXPECT_EQ(changed.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(changed.message(), HasSubstr("param 'lr' of run '" + run.id +
                                           "' is already '0.001'; params cannot be changed"));
  EXPECT_EQ(tracking_->GetRun(run.id)->params.at("lr"), "0.001");
}

TEST_P(TrackingTest, TagsAreMutableAndDeletable) {
  const registry::Run run = MustCreateRun("r");
  ASSERT_TRUE(tracking_->SetTag(run.id, "stage", "draft").ok());
  ASSERT_TRUE(tracking_->SetTag(run.id, "stage", "final").ok());
  EXPECT_EQ(tracking_->GetRun(run.id)->tags.at("stage"), "final");
  ASSERT_TRUE(tracking_->DeleteTag(run.id, "stage").ok());
  EXPECT_FALSE(tracking_->GetRun(run.id)->tags.contains("stage"));
  EXPECT_EQ(tracking_->DeleteTag(run.id, "stage").code(), StatusCode::kNotFound);
}

TEST_P(TrackingTest, BatchLoggingIsAtomic) {
  const registry::Run run = MustCreateRun("r");
  ASSERT_TRUE(tracking_->LogParam(run.id, "epochs", "10").ok());
  RunBatch bad;
  bad.params = {{"lr", "0.1"}, {"epochs", "20"}};  // the second conflicts
  bad.tags = {{"note", "x"}};
  bad.metrics = {{"loss", 0.5, 1, 0}, {"loss", 0.4, 2, 0}};
  EXPECT_EQ(tracking_->LogBatch(run.id, bad).code(), StatusCode::kInvalidArgument);
  RunBatch bad_key = bad;
  bad_key.params = {{"lr", "0.1"}};
  bad_key.metrics.push_back({"bad key!", 1, 0, 0});
  EXPECT_EQ(tracking_->LogBatch(run.id, bad_key).code(), StatusCode::kInvalidArgument);
  auto after = tracking_->GetRun(run.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->params.size(), 1u);
  EXPECT_TRUE(after->tags.empty());
  EXPECT_TRUE(after->latest_metrics.empty());

  RunBatch good = bad;
  good.params = {{"lr", "0.1"}, {"epochs", "10"}};
  ASSERT_TRUE(tracking_->LogBatch(run.id, good).ok());
  after = tracking_->GetRun(run.id);
  EXPECT_EQ(after->params.size(), 2u);
  EXPECT_EQ(after->tags.at("note"), "x");
  EXPECT_EQ(after->latest_metrics.at("loss").value, 0.4);
}

TEST_P(TrackingTest, MetricHistoryIsOrderedByStepAndLatestIsHighestStep) {
  const registry::Run run = MustCreateRun("r");
  ASSERT_TRUE(tracking_->LogMetric(run.id, {"iou", 0.7, 3, 0}).ok());
  ASSERT_TRUE(tracking_->LogMetric(run.id, {"iou", 0.5, 1, 0}).ok());
  ASSERT_TRUE(tracking_->LogMetric(run.id, {"iou", 0.6, 2, 0}).ok());
  ASSERT_TRUE(tracking_->LogMetric(run.id, {"loss", 1.0, 0, 42}).ok());
  auto history = tracking_->MetricHistory(run.id, "iou");
  ASSERT_TRUE(history.ok());
  std::vector<std::int64_t> steps;
  for (const Metric& m : *history) steps.push_back(m.step);
  EXPECT_THAT(steps, ElementsAre(1, 2, 3));
  EXPECT_EQ(tracking_->GetRun(run.id)->latest_metrics.at("iou").value, 0.7);
  EXPECT_EQ(tracking_->MetricHistory(run.id, "loss")->at(0).timestamp_ms, 42);
  EXPECT_EQ(tracking_->LogMetric(run.id, {"iou", std::nan(""), 4, 0}).code(),
            StatusCode::kInvalidArgument);
}

TEST_P(TrackingTest, ArtifactsPointAtBlobsInTheStore) {
  const registry::Run run = MustCreateRun("r");
  auto blob = artifacts_->PutBytes("weights");
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(tracking_->LogArtifact(run.id, "model/model.onnx", blob->sha256).ok());
  EXPECT_TRUE(tracking_->LogArtifact(run.id, "model/model.onnx", blob->sha256).ok());
  auto other = artifacts_->PutBytes("other");
  EXPECT_EQ(tracking_->LogArtifact(run.id, "model/model.onnx", other->sha256).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(tracking_->LogArtifact(run.id, "../x", blob->sha256).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(tracking_->LogArtifact(run.id, "x", std::string(64, 'a')).code(),
            StatusCode::kNotFound);
  EXPECT_THAT(*tracking_->ListArtifacts(run.id),
              ElementsAre(RunArtifact{"model/model.onnx", blob->sha256}));
  auto referenced = store::ReferencedBlobs(*db_);
  ASSERT_TRUE(referenced.ok());
  EXPECT_TRUE(referenced->contains(blob->sha256));
}

TEST_P(TrackingTest, SearchFiltersOrdersAndPages) {
  // 12 runs: iou = i / 10 for i in 0..11, lr alternating, every third run failed.
  for (int i = 0; i < 12; ++i) {
    const registry::Run run = MustCreateRun("run" + std::to_string(i));
    RunBatch batch;
    batch.params = {{"lr", i % 2 == 0 ? "0.001" : "0.01"}};
    batch.metrics = {{"iou", 0.0, 0, 0}, {"iou", i / 10.0, 1, 0}};
    ASSERT_TRUE(tracking_->LogBatch(run.id, batch).ok());
    ASSERT_TRUE(
        tracking_->EndRun(run.id, i % 3 == 0 ? RunStatus::kFailed : RunStatus::kFinished).ok());
  }
  MustCreateRun("no-metrics");
  auto names = [](const RunPage& page) {
    std::vector<std::string> out;
    for (const registry::Run& run : page.runs) out.push_back(run.name);
    return out;
  };
  RunSearch search;
  search.filter = "metrics.iou > 0.45 and params.lr = '0.001' order by metrics.iou desc";
  auto page = tracking_->SearchRuns(search);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_THAT(names(*page), ElementsAre("run10", "run8", "run6"));

  search.filter = "attributes.status = 'failed' order by metrics.iou asc";
  EXPECT_THAT(names(*tracking_->SearchRuns(search)), ElementsAre("run0", "run3", "run6", "run9"));

  // Runs without the metric sort last both ways; ties fall back to newest first.
  search.filter = "order by metrics.iou desc";
  search.max_results = 5;
  page = tracking_->SearchRuns(search);
  EXPECT_THAT(names(*page), ElementsAre("run11", "run10", "run9", "run8", "run7"));
  ASSERT_FALSE(page->next_page_token.empty());
  search.page_token = page->next_page_token;
  page = tracking_->SearchRuns(search);
  EXPECT_THAT(names(*page), ElementsAre("run6", "run5", "run4", "run3", "run2"));
  search.page_token = page->next_page_token;
  page = tracking_->SearchRuns(search);
  EXPECT_THAT(names(*page), ElementsAre("run1", "run0", "no-metrics"));
  EXPECT_TRUE(page->next_page_token.empty());

  search = RunSearch{};
  search.filter = "attributes.name like 'run1%' order by attributes.name limit 2";
  page = tracking_->SearchRuns(search);
  EXPECT_THAT(names(*page), ElementsAre("run1", "run10"));
  EXPECT_TRUE(page->next_page_token.empty());
  search.filter = "attributes.name like 'RUN1%'";  // case-sensitive on both back ends
  EXPECT_TRUE(tracking_->SearchRuns(search)->runs.empty());

  search.filter = "params.lr = 'x''; DROP TABLE runs; --'";
  EXPECT_TRUE(tracking_->SearchRuns(search)->runs.empty());
  search.filter = "";
  search.max_results = 100;
  EXPECT_EQ(tracking_->SearchRuns(search)->runs.size(), 13u);

  search.experiments = {"missing"};
  EXPECT_EQ(tracking_->SearchRuns(search).status().message(),
            "experiment 'missing' does not exist");
}

ORBIT_INSTANTIATE_BACKENDS(TrackingTest);

}  // namespace
}  // namespace orbit::registry
