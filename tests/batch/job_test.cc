// Job creation, resume refusal, reports derived from journals, and the failure threshold, on the
// real demo model with small generated images.
#include "batch/job.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "batch/job_state.h"
#include "batch/journal.h"
#include "batch/local_executor.h"
#include "core/file.h"
#include "core/sha256.h"

namespace orbit::batch {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(ORBIT_SOURCE_DIR) / "models/cellseg";

std::vector<std::string> Lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class JobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_batch_job_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A small crop of a demo fixture, so each item takes milliseconds.
  void Images(int count) {
    const cv::Mat fixture =
        cv::imread((kModel / "fixtures/images/img_000.png").string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(fixture.empty());
    for (int i = 0; i < count; ++i) {
      const cv::Rect roi((i * 8) % (fixture.cols - 64), (i * 5) % (fixture.rows - 64), 64, 64);
      char name[32];
      std::snprintf(name, sizeof(name), "img_%03d.png", i);
      ASSERT_TRUE(cv::imwrite((dir_ / "in" / name).string(), fixture(roi)));
    }
  }
  void BadImages(int count) {
    for (int i = 0; i < count; ++i) {
      std::ofstream(dir_ / "in" / ("bad_" + std::to_string(i) + ".png")) << "not a png";
    }
  }
  JobRequest Request() const {
    JobRequest r;
    r.model = kModel.string();
    r.inputs = {(dir_ / "in").string()};
    r.output_dir = dir_ / "job";
    return r;
  }
  RunOptions Options() const {
    RunOptions o;
    o.workers = 2;
    o.batch_size = 4;
    o.max_retries = 1;
    o.error_threshold = 0.5;
    return o;
  }

  fs::path dir_;
};

TEST_F(JobTest, CreatesSpecAndFrozenItemList) {
  Images(3);
  auto job = PrepareJob(Request());
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_FALSE(job->resumed);
  EXPECT_EQ(job->spec.item_count, 3);
  EXPECT_EQ(job->spec.model_name, "cellseg");
  EXPECT_EQ(job->spec.model_sha256.size(), 64u);
  auto stored = ReadJobSpec(job->layout.spec());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->items_sha256, Sha256Hex(*ReadFileBytes(job->layout.items())));
  // A file added later is not part of the job: the list is frozen.
  Images(4);
  auto resumed = PrepareJob(Request());
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_TRUE(resumed->resumed);
  EXPECT_EQ(resumed->items.size(), 3u);
}

TEST_F(JobTest, ResumeWithDifferentModelIsRefused) {
  Images(2);
  ASSERT_TRUE(PrepareJob(Request()).ok());
  fs::create_directories(dir_ / "other");
  fs::copy_file(kModel / "model.onnx", dir_ / "other/model.onnx");
  std::string yaml = *ReadFileBytes(kModel / "orbit.yaml");
  yaml += "\n# tuned\n";
  std::ofstream(dir_ / "other/orbit.yaml") << yaml;
  JobRequest other = Request();
  other.model = (dir_ / "other").string();
  auto refused = PrepareJob(other);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("cannot resume job"), std::string::npos);
  EXPECT_NE(refused.status().message().find("sha256"), std::string::npos);
}

TEST_F(JobTest, ResumeWithDifferentInputsOrOutputsIsRefused) {
  Images(2);
  ASSERT_TRUE(PrepareJob(Request()).ok());
  JobRequest inputs = Request();
  inputs.inputs = {(dir_ / "in" / "*.png").string()};
  auto refused = PrepareJob(inputs);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--input"), std::string::npos);
  JobRequest outputs = Request();
  outputs.outputs = OutputSelection{true, true, true};
  refused = PrepareJob(outputs);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--outputs masks,objects"), std::string::npos);
  // Omitted model, inputs and outputs mean "as stored".
  JobRequest bare;
  bare.output_dir = dir_ / "job";
  EXPECT_TRUE(PrepareJob(bare).ok());
}

TEST_F(JobTest, RunSettingsAreStoredButDoNotBlockAResume) {
  Images(2);
  JobRequest created = Request();
  created.run =
      RunSettings{.workers = 3, .batch_size = 5, .max_retries = 1, .error_threshold = 0.1};
  ASSERT_TRUE(PrepareJob(created).ok());
  auto stored = ReadJobSpec(dir_ / "job" / "job.json");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_TRUE(stored->run.has_value());
  EXPECT_EQ(*stored->run, created.run);
  JobRequest resumed = Request();
  resumed.run = RunSettings{.workers = 8, .batch_size = 16, .max_retries = 0, .error_threshold = 1};
  auto job = PrepareJob(resumed);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(*job->spec.run, created.run);  // the spec is not rewritten by a resume
}

TEST_F(JobTest, RegistryUriIsAClearError) {
  JobRequest r = Request();
  r.model = "models:/cellseg/3";
  auto job = PrepareJob(r);
  EXPECT_EQ(job.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(job.status().message().find("registry"), std::string::npos);
}

TEST_F(JobTest, NonEmptyForeignDirectoryIsRefused) {
  Images(1);
  fs::create_directories(dir_ / "job");
  std::ofstream(dir_ / "job" / "thesis.docx") << "x";
  EXPECT_EQ(PrepareJob(Request()).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(JobTest, RunWritesOneRowAndOneMaskPerItem) {
  Images(6);
  BadImages(1);
  auto job = PrepareJob(Request());
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  auto outcome = RunShard(*job, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->processed, 7);
  EXPECT_EQ(outcome->failed, 1);
  EXPECT_FALSE(outcome->stopped);
  auto state = ReadJobState(job->layout, job->spec.item_count);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->succeeded, 6);
  EXPECT_EQ(state->failed, 1);
  ASSERT_TRUE(WriteReports(job->layout, job->spec, job->items, *state, RunStats{}).ok());
  EXPECT_EQ(Lines(job->layout.results_csv()).size(), 8u);  // header + 7
  const auto failures = Lines(job->layout.failures_csv());
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_NE(failures[1].find("bad_0"), std::string::npos);
  EXPECT_NE(failures[1].find("not a PNG"), std::string::npos);
  int masks = 0;
  for (const auto& e : fs::directory_iterator(job->layout.masks())) {
    EXPECT_EQ(e.path().extension(), ".png") << e.path();
    ++masks;
  }
  EXPECT_EQ(masks, 6);
}

// Reports are derived from the journals: duplicated and superseded records never duplicate rows.
TEST_F(JobTest, ReportsHaveOneRowPerItemDespiteDuplicateRecords) {
  Images(3);
  auto job = PrepareJob(Request());
  ASSERT_TRUE(job.ok());
  auto make = [](std::int64_t index, bool ok) {
    ItemRecord r;
    r.index = index;
    r.ok = ok;
    r.error = ok ? "" : "transient";
    r.objects_csv = ok ? "1,2,3,4,5,6,7,8,9,10,11\n" : "";
    return r;
  };
  {
    auto a = JournalWriter::Open(job->layout.journal(ShardRef{0, 1}), nullptr);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE((*a)->Append(make(0, true)).ok());
    ASSERT_TRUE((*a)->Append(make(1, false)).ok());
    ASSERT_TRUE((*a)->Append(make(0, true)).ok());  // redone after a crash: ignored
    auto b = JournalWriter::Open(job->layout.journal(ShardRef{1, 2}), nullptr);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->Append(make(1, true)).ok());  // the retry succeeded
    ASSERT_TRUE((*b)->Append(make(0, true)).ok());
  }
  std::ofstream(job->layout.journal(ShardRef{1, 2}), std::ios::app) << "\x10\x00";  // torn tail
  auto state = ReadJobState(job->layout, 3);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->succeeded, 2);
  EXPECT_EQ(state->failed, 0);
  EXPECT_EQ(state->pending(), 1);
  EXPECT_EQ(state->duplicate_records, 2);
  EXPECT_EQ(state->torn_journals, 1);
  ASSERT_TRUE(WriteReports(job->layout, job->spec, job->items, *state, RunStats{}).ok());
  const auto results = Lines(job->layout.results_csv());
  ASSERT_EQ(results.size(), 4u);
  std::map<std::string, int> statuses;
  for (std::size_t i = 1; i < results.size(); ++i) {
    std::stringstream row(results[i]);
    std::string field;
    for (int k = 0; k < 4; ++k) std::getline(row, field, ',');
    ++statuses[field];
  }
  EXPECT_EQ(statuses["ok"], 2);
  EXPECT_EQ(statuses["pending"], 1);
  EXPECT_EQ(Lines(job->layout.objects_csv()).size(), 3u);  // header + one object per ok item
  EXPECT_EQ(Lines(job->layout.failures_csv()).size(), 1u);
  // Written again from the same journals: byte-identical.
  const std::string first = *ReadFileBytes(job->layout.results_csv());
  ASSERT_TRUE(WriteReports(job->layout, job->spec, job->items, *state, RunStats{}).ok());
  EXPECT_EQ(*ReadFileBytes(job->layout.results_csv()), first);
}

TEST_F(JobTest, FailureThresholdStopsAMostlyBadJob) {
  Images(2);
  BadImages(18);
  auto job = PrepareJob(Request());
  ASSERT_TRUE(job.ok());
  RunOptions options = Options();
  options.error_threshold = 0.10;  // 2 of 20 allowed
  options.workers = 1;
  auto outcome = RunShard(*job, options);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(outcome->stopped);
  EXPECT_GE(outcome->failed, 3);
  EXPECT_LT(outcome->processed, 20);
  EXPECT_NE(outcome->stop_reason.find("--error-threshold"), std::string::npos);
}

TEST_F(JobTest, FailuresUnderTheThresholdDoNotStop) {
  Images(8);
  BadImages(2);
  auto job = PrepareJob(Request());
  ASSERT_TRUE(job.ok());
  RunOptions options = Options();
  options.error_threshold = 0.2;  // 2 of 10 allowed
  auto outcome = RunShard(*job, options);
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->stopped);
  EXPECT_EQ(outcome->processed, 10);
  EXPECT_EQ(outcome->failed, 2);
}

TEST_F(JobTest, SecondRunOfACompleteJobDoesNothingAndRetriesFailures) {
  Images(3);
  BadImages(1);
  auto job = PrepareJob(Request());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(RunShard(*job, Options()).ok());
  auto again = PrepareJob(Request());
  ASSERT_TRUE(again.ok());
  auto outcome = RunShard(*again, Options());
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->done_before, 3);
  EXPECT_EQ(outcome->processed, 1);  // only the failed item ran again
}

TEST(JobSpecTest, ParsesThresholdsAndOutputs) {
  EXPECT_DOUBLE_EQ(*ParseErrorThreshold("1%"), 0.01);
  EXPECT_DOUBLE_EQ(*ParseErrorThreshold("0.25"), 0.25);
  EXPECT_DOUBLE_EQ(*ParseErrorThreshold("100%"), 1.0);
  for (const char* bad : {"", "%", "abc", "101%", "-1%", "2"}) {
    EXPECT_FALSE(ParseErrorThreshold(bad).ok()) << bad;
  }
  auto sel = ParseOutputSelection("overlays,masks");
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->ToString(), "masks,overlays");
  EXPECT_FALSE(ParseOutputSelection("masks,pdf").ok());
  EXPECT_FALSE(ParseOutputSelection("").ok());
}

TEST(JobSpecTest, RunSettingChangesNameEachChangedKnobWithItsStoredValue) {
  const RunSettings stored;
  EXPECT_EQ(DescribeRunSettingChanges(stored, stored), "");
  RunSettings now = stored;
  now.workers = 4;
  now.error_threshold = 0.05;
  EXPECT_EQ(DescribeRunSettingChanges(stored, now),
            "--workers 4 (job.json: 2), --error-threshold 5% (job.json: 1%)");
  now = stored;
  now.batch_size = 32;
  now.max_retries = 0;
  EXPECT_EQ(DescribeRunSettingChanges(stored, now),
            "--batch-size 32 (job.json: 8), --max-retries 0 (job.json: 2)");
}

TEST(JobSpecTest, SpecWithoutStoredRunSettingsStillParses) {
  JobSpec spec;
  spec.model_source = "m";
  spec.inputs = {"/in"};
  nlohmann::json json = spec.ToJson();
  EXPECT_FALSE(json.contains("run"));
  auto parsed = JobSpec::FromJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(parsed->run.has_value());
  spec.run = RunSettings{.workers = 7};
  parsed = JobSpec::FromJson(spec.ToJson());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->run->workers, 7);
}

TEST(JobSpecTest, CsvFieldsAreQuotedOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
}

}  // namespace
}  // namespace orbit::batch
