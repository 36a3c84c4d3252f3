#include "batch/progress.h"

#include <gtest/gtest.h>

#include <sstream>

#include "batch/slurm_executor.h"

namespace orbit::batch {
namespace {

TEST(ProgressTest, LineHasCountRateEtaAndFailures) {
  ProgressSnapshot s{.done = 150, .total = 400, .failed = 2, .done_this_run = 100, .seconds = 10};
  const std::string line = FormatProgress(s, false);
  EXPECT_NE(line.find("150/400"), std::string::npos) << line;
  EXPECT_NE(line.find("37.5%"), std::string::npos) << line;
  EXPECT_NE(line.find("10.0 items/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 25 s"), std::string::npos) << line;
  EXPECT_NE(line.find("2 failed"), std::string::npos) << line;
  EXPECT_EQ(FormatProgress(s, true).rfind("[###########", 0), 0u);
}

TEST(ProgressTest, DurationsReadNaturally) {
  EXPECT_EQ(FormatDuration(41.2), "41 s");
  EXPECT_EQ(FormatDuration(185), "3 min 05 s");
  EXPECT_EQ(FormatDuration(3720), "1 h 02 min");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(ProgressTest, PlainOutputIsRateLimitedAndTerminalRedraws) {
  std::ostringstream plain;
  ProgressPrinter lines(plain, false, std::chrono::hours(1));
  ProgressSnapshot s{.done = 1, .total = 2};
  lines.Update(s);
  lines.Update(s);
  lines.Finish(s);
  const std::string text = plain.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  std::ostringstream tty;
  ProgressPrinter bar(tty, true, std::chrono::hours(1));
  bar.Update(s);
  bar.Update(s);
  const std::string drawn = tty.str();
  EXPECT_EQ(std::count(drawn.begin(), drawn.end(), '\r'), 2);
}

TEST(SlurmTest, ArrayJobRunsOneShardPerTaskAndMergeWaitsForIt) {
  JobLayout layout{"/data/job"};
  SlurmOptions options;
  options.shards = 3;
  options.partition = "gpu";
  options.orbit_binary = "/opt/orbit";
  const auto array = ArraySbatchArgs(layout, options);
  const auto has = [](const std::vector<std::string>& args, const std::string& what) {
    for (const auto& a : args) {
      if (a.find(what) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(array, "--array=0-2"));
  EXPECT_TRUE(has(array, "--partition=gpu"));
  EXPECT_TRUE(has(array, "--shard \"${SLURM_ARRAY_TASK_ID}/3\""));
  EXPECT_TRUE(has(array, "'/opt/orbit' batch run --output '/data/job'"));
  EXPECT_TRUE(has(array, "--output=/data/job/logs/shard-%a.out"));
  const auto merge = MergeSbatchArgs(layout, options, "42");
  EXPECT_TRUE(has(merge, "--dependency=afterany:42"));
  EXPECT_TRUE(has(merge, "batch merge '/data/job'"));
}

TEST(SlurmTest, SubmissionRoundTripsThroughJson) {
  SlurmSubmission s{"12", "13", 3, "debug", "2024-01-01T00:00:00Z"};
  auto back = SlurmSubmission::FromJson(s.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->array_job_id, "12");
  EXPECT_EQ(back->merge_job_id, "13");
  EXPECT_EQ(back->shards, 3);
}

TEST(SlurmTest, RunCommandCapturesOutputAndExitCode) {
  auto out = RunCommand({"sh", "-c", "echo hello; exit 3"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit_code, 3);
  EXPECT_EQ(out->output, "hello\n");
  EXPECT_FALSE(RunCommand({"/nonexistent/binary"}).ok());
}

}  // namespace
}  // namespace orbit::batch
