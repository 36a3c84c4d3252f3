// End-to-end tests of `orbit batch` on the real binary: exactly-once outputs after kill -9 at
// random moments and a resume, bad inputs in failures.csv, the failure threshold, status, and
// refusing to resume with another model.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "e2e/subprocess.h"

namespace orbit::testing {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const fs::path kSource = ORBIT_SOURCE_DIR;
const fs::path kModel = kSource / "models/cellseg";

std::vector<std::vector<std::string>> ReadCsv(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

class BatchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("orbit_batch_e2e_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "in");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `count` small crops of the demo fixtures (8- and 16-bit PNG, 16-bit TIFF) and, optionally, a
  // 3-page TIFF stack. Returns the number of items.
  int MakeInputs(int count, bool stack) {
    std::vector<cv::Mat> fixtures;
    for (const char* name : {"img_000.png", "img_010.png", "img_015.tif"}) {
      fixtures.push_back(
          cv::imread((kModel / "fixtures/images" / name).string(), cv::IMREAD_UNCHANGED));
    }
    for (int i = 0; i < count; ++i) {
      const cv::Mat& src = fixtures[static_cast<std::size_t>(i) % fixtures.size()];
      const cv::Rect roi((i * 13) % (src.cols - 80), (i * 7) % (src.rows - 80), 80, 80);
      char name[32];
      std::snprintf(name, sizeof(name), "cells_%03d.%s", i, i % 3 == 2 ? "tif" : "png");
      EXPECT_TRUE(cv::imwrite((dir_ / "in" / name).string(), src(roi).clone()));
    }
    if (!stack) return count;
    std::vector<cv::Mat> pages;
    for (int p = 0; p < 3; ++p)
      pages.push_back(fixtures[0](cv::Rect(p * 20, p * 10, 80, 80)).clone());
    EXPECT_TRUE(cv::imwritemulti((dir_ / "in" / "timelapse.tif").string(), pages));
    return count + 3;
  }

  std::string RunArgs(const fs::path& out, const std::string& extra = "") const {
    return "batch run --model " + ShellQuote(kModel.string()) + " --input " +
           ShellQuote((dir_ / "in").string()) + " --output " + ShellQuote(out.string()) +
           " --workers 2 --batch-size 4 " + extra;
  }

  // Starts orbit with `args` (split on spaces; no quoting needed for these tests).
  static pid_t Spawn(const std::string& args, const fs::path& log) {
    std::vector<std::string> argv = {OrbitBinary()};
    std::stringstream ss(args);
    for (std::string a; ss >> a;) argv.push_back(a.front() == '\'' ? a.substr(1, a.size() - 2) : a);
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::freopen(log.c_str(), "a", stdout);
      std::freopen(log.c_str(), "a", stderr);
      std::vector<char*> raw;
      for (auto& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      ::execv(raw[0], raw.data());
      ::_exit(127);
    }
    return pid;
  }

  // Every item exactly once: one ok row, one decodable mask, nothing temporary left.
  static void ExpectExactlyOnce(const fs::path& job, int items, const std::string& context) {
    const auto rows = ReadCsv(job / "results.csv");
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(items + 1)) << context;
    std::set<std::string> names;
    for (std::size_t i = 1; i < rows.size(); ++i) {
      ASSERT_GE(rows[i].size(), 6u) << context;
      EXPECT_EQ(rows[i][3], "ok") << context << " row " << i;
      EXPECT_TRUE(names.insert(rows[i][0]).second) << context << " duplicate " << rows[i][0];
      EXPECT_EQ(rows[i][5], "masks/" + rows[i][0] + ".png") << context;
    }
    int masks = 0;
    for (const auto& e : fs::directory_iterator(job / "masks")) {
      const std::string name = e.path().filename().string();
      ASSERT_FALSE(name.starts_with(".")) << context << " temporary file left: " << name;
      ASSERT_TRUE(names.count(e.path().stem().string())) << context << " stray mask " << name;
      const cv::Mat mask = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED);
      ASSERT_FALSE(mask.empty()) << context << " mask does not decode: " << name;
      EXPECT_EQ(mask.depth(), CV_16U) << context;
      ++masks;
    }
    EXPECT_EQ(masks, items) << context;
    for (const auto& e : fs::directory_iterator(job)) {
      const std::string name = e.path().filename().string();
      EXPECT_TRUE(!name.starts_with(".") || name == ".lock") << context << " left " << name;
    }
    const auto summary = nlohmann::json::parse(std::ifstream(job / "summary.json"));
    EXPECT_EQ(summary["state"], "complete") << context;
    EXPECT_EQ(summary["items"]["succeeded"], items) << context;
  }

  fs::path dir_;
};

TEST_F(BatchCliTest, KillNineAtRandomMomentsThenResumeIsExactlyOnce) {
  const int items = MakeInputs(45, /*stack=*/true);
  // How long an uninterrupted job takes, to spread kill points over its whole life.
  const auto t0 = Clock::now();
  const CommandResult full = RunOrbit(RunArgs(dir_ / "full"));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const auto full_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ExpectExactlyOnce(dir_ / "full", items, "uninterrupted");

  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  std::uniform_int_distribution<long> kill_at(0, full_ms + full_ms / 10);
  constexpr int kCycles = 20;
  int killed_mid_run = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    const fs::path job = dir_ / ("job" + std::to_string(cycle));
    // One or two kills per cycle, at random moments, before the resume that finishes the job.
    const int kills = 1 + cycle % 2;
    std::string when;
    for (int k = 0; k < kills; ++k) {
      const long ms = kill_at(rng);
      when += std::to_string(ms) + "ms ";
      const pid_t pid = Spawn(RunArgs(job), dir_ / "killed.log");
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (WIFSIGNALED(status)) ++killed_mid_run;
    }
    const CommandResult resumed = RunOrbit(RunArgs(job));
    const std::string context = "cycle " + std::to_string(cycle) + " (killed at " + when + ")";
    ASSERT_EQ(resumed.exit_code, 0) << context << ": " << resumed.err;
    ExpectExactlyOnce(job, items, context);
    // Same items and the same masks as the uninterrupted run.
    for (const auto& e : fs::directory_iterator(job / "masks")) {
      const cv::Mat a = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED);
      const cv::Mat b =
          cv::imread((dir_ / "full/masks" / e.path().filename()).string(), cv::IMREAD_UNCHANGED);
      ASSERT_EQ(cv::norm(a, b, cv::NORM_INF), 0) << context << " " << e.path().filename();
    }
    fs::remove_all(job);
  }
  std::cout << "[ kills    ] " << killed_mid_run << " SIGKILLs hit a running orbit over " << kCycles
            << " cycles (uninterrupted run: " << full_ms << " ms)\n";
  // Most kills must land while the job was running, or the test proves little.
  EXPECT_GE(killed_mid_run, kCycles / 2) << "kills that hit a running process";
}

TEST_F(BatchCliTest, NpyTimeLapseStackBecomesOneItemPerFrameLikeAFileSeries) {
  // The same three 16-bit frames twice: as one (T, H, W) NPY stack and as a numbered file series.
  const cv::Mat src =
      cv::imread((kModel / "fixtures/images/img_010.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(src.type(), CV_16UC1);
  std::string data;
  for (int t = 0; t < 3; ++t) {
    const cv::Mat frame = src(cv::Rect(t * 30, t * 20, 96, 80)).clone();
    char name[32];
    std::snprintf(name, sizeof(name), "series_t%03d.png", t + 1);
    ASSERT_TRUE(cv::imwrite((dir_ / "in" / name).string(), frame));
    data.append(reinterpret_cast<const char*>(frame.data), frame.total() * frame.elemSize());
  }
  std::string dict = "{'descr': '<u2', 'fortran_order': False, 'shape': (3, 80, 96), }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string npy("\x93NUMPY\x01\x00", 8);
  npy += static_cast<char>(dict.size() & 0xff);
  npy += static_cast<char>(dict.size() >> 8);
  std::ofstream(dir_ / "in" / "stack.npy", std::ios::binary) << npy << dict << data;

  const CommandResult r = RunOrbit(RunArgs(dir_ / "job"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectExactlyOnce(dir_ / "job", 6, "npy stack + series");
  for (int t = 0; t < 3; ++t) {
    char frame[32], file[32];
    std::snprintf(frame, sizeof(frame), "stack_t%04d.png", t);
    std::snprintf(file, sizeof(file), "series_t%03d.png", t + 1);
    const cv::Mat a = cv::imread((dir_ / "job/masks" / frame).string(), cv::IMREAD_UNCHANGED);
    const cv::Mat b = cv::imread((dir_ / "job/masks" / file).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(a.empty()) << frame;
    ASSERT_FALSE(b.empty()) << file;
    EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0) << frame << " vs " << file;
  }
  const auto rows = ReadCsv(dir_ / "job/results.csv");
  int frames = 0;
  for (const auto& row : rows) {
    if (row[0].starts_with("stack_t")) {
      EXPECT_EQ(row[2], std::to_string(frames)) << "page column of " << row[0];
      ++frames;
    }
  }
  EXPECT_EQ(frames, 3);
}

TEST_F(BatchCliTest, ResumeSaysWhichRunOptionsDifferFromTheStoredSpec) {
  MakeInputs(3, false);
  ASSERT_EQ(RunOrbit(RunArgs(dir_ / "job", "--max-retries 1")).exit_code, 0);
  const std::string job = ShellQuote((dir_ / "job").string());
  // Options not given keep the stored values: nothing changed, nothing said.
  const CommandResult bare = RunOrbit("batch run --output " + job);
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_EQ(bare.err.find("options changed"), std::string::npos) << bare.err;
  const CommandResult changed =
      RunOrbit("batch run --output " + job + " --workers 3 --batch-size 4 --error-threshold 5%");
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_NE(changed.err.find("options changed from the job's stored spec: --workers 3 (job.json: "
                             "2), --error-threshold 5% (job.json: 1%)"),
            std::string::npos)
      << changed.err;
}

TEST_F(BatchCliTest, BadInputsLandInFailuresCsvAndTheRestSucceed) {
  const int good = MakeInputs(12, false);
  std::ofstream(dir_ / "in" / "empty.png") << "";
  std::ofstream(dir_ / "in" / "corrupt.png") << "\x89PNG\r\n\x1a\n garbage";
  cv::imwrite((dir_ / "in" / "rgba.png").string(),
              cv::Mat(16, 16, CV_8UC4, cv::Scalar(1, 2, 3, 4)));
  const CommandResult r = RunOrbit(RunArgs(dir_ / "job", "--error-threshold 30% --max-retries 1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto failures = ReadCsv(dir_ / "job/failures.csv");
  ASSERT_EQ(failures.size(), 4u);  // header + 3
  std::map<std::string, std::string> reasons;
  for (std::size_t i = 1; i < failures.size(); ++i) reasons[failures[i][0]] = failures[i].back();
  EXPECT_NE(reasons["empty"].find("empty"), std::string::npos) << reasons["empty"];
  EXPECT_NE(reasons["corrupt"].find("decod"), std::string::npos) << reasons["corrupt"];
  EXPECT_NE(reasons["rgba"].find("4 channels"), std::string::npos) << reasons["rgba"];
  const auto results = ReadCsv(dir_ / "job/results.csv");
  EXPECT_EQ(results.size(), static_cast<std::size_t>(good + 3 + 1));
  const auto summary = nlohmann::json::parse(std::ifstream(dir_ / "job/summary.json"));
  EXPECT_EQ(summary["items"]["failed"], 3);
  EXPECT_EQ(summary["items"]["succeeded"], good);
}

TEST_F(BatchCliTest, ThresholdStopsAMostlyBadJobWithNonZeroExit) {
  MakeInputs(2, false);
  for (int i = 0; i < 30; ++i)
    std::ofstream(dir_ / "in" / ("bad" + std::to_string(i) + ".png")) << "x";
  const CommandResult r = RunOrbit(RunArgs(dir_ / "job", "--error-threshold 10% --max-retries 0"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("job stopped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--error-threshold of 10%"), std::string::npos) << r.err;
  const auto summary = nlohmann::json::parse(std::ifstream(dir_ / "job/summary.json"));
  EXPECT_EQ(summary["state"], "stopped");
  const CommandResult status = RunOrbit("batch status " + ShellQuote((dir_ / "job").string()));
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("stopped"), std::string::npos) << status.out;
}

TEST_F(BatchCliTest, StatusReportsProgressAndResumeRefusesAnotherModel) {
  const int items = MakeInputs(6, false);
  ASSERT_EQ(RunOrbit(RunArgs(dir_ / "job")).exit_code, 0);
  const CommandResult status =
      RunOrbit("batch status --json " + ShellQuote((dir_ / "job").string()));
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto report = nlohmann::json::parse(status.out);
  EXPECT_EQ(report["state"], "complete");
  EXPECT_EQ(report["items"]["succeeded"], items);
  EXPECT_EQ(report["items"]["pending"], 0);

  fs::create_directories(dir_ / "other");
  fs::copy_file(kModel / "model.onnx", dir_ / "other/model.onnx");
  std::ofstream(dir_ / "other/orbit.yaml")
      << std::ifstream(kModel / "orbit.yaml").rdbuf() << "\n# retuned\n";
  const CommandResult refused = RunOrbit(
      "batch run --model " + ShellQuote((dir_ / "other").string()) + " --input " +
      ShellQuote((dir_ / "in").string()) + " --output " + ShellQuote((dir_ / "job").string()));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("cannot resume job"), std::string::npos) << refused.err;
  const CommandResult registry =
      RunOrbit("batch run --model models:/cellseg/1 --input x --output " +
               ShellQuote((dir_ / "reg").string()));
  EXPECT_EQ(registry.exit_code, 2);
  EXPECT_NE(registry.err.find("model registry"), std::string::npos) << registry.err;
}

}  // namespace
}  // namespace orbit::testing
