#include "serving/model_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>

namespace orbit::serving {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(ORBIT_SOURCE_DIR) / "models/cellseg";

class ModelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("orbit_manager_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // root_/<name>/orbit.yaml (+ serving section) and the given versions of the demo model.
  void AddModel(const std::string& name, std::vector<int> versions,
                const std::string& serving = "") {
    fs::create_directories(root_ / name);
    std::ifstream in(kModel / "orbit.yaml");
    std::string yaml((std::istreambuf_iterator<char>(in)), {});
    yaml.replace(yaml.find("name: cellseg"), 13, "name: " + name);
    std::ofstream(root_ / name / "orbit.yaml") << yaml << serving;
    for (int v : versions) AddVersion(name, v);
  }
  void AddVersion(const std::string& name, int v) {
    fs::create_directories(root_ / name / std::to_string(v));
    fs::copy_file(kModel / "model.onnx", root_ / name / std::to_string(v) / "model.onnx");
  }
  std::unique_ptr<ModelManager> Start(ModelControlMode mode = ModelControlMode::kNone,
                                      std::vector<std::string> startup = {}) {
    ModelManager::Options options;
    options.repository = root_;
    options.mode = mode;
    options.startup_models = std::move(startup);
    options.engine.intra_op_threads = 1;
    auto manager = ModelManager::Create(options);
    EXPECT_TRUE(manager.ok()) << manager.status().ToString();
    return manager.ok() ? std::move(*manager) : nullptr;
  }
  // Runs one 32x32 inference through the version's scheduler.
  static Result<std::vector<Tensor>> Infer(LoadedVersion& version) {
    std::promise<Result<std::vector<Tensor>>> done;
    auto future = done.get_future();
    scheduler::InferenceRequest request;
    request.inputs.push_back(*Tensor::Zeros(DType::kFloat32, {1, 1, 32, 32}));
    version.scheduler->Submit(std::move(request), [&done](Result<std::vector<Tensor>> r) {
      done.set_value(std::move(r));
    });
    return future.get();
  }

  fs::path root_;
};

TEST_F(ModelManagerTest, LoadsLatestVersionByDefault) {
  AddModel("seg", {1, 2});
  auto manager = Start();
  auto latest = manager->Find("seg", std::nullopt);
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ((*latest)->version, 2);
  EXPECT_TRUE(Infer(**latest).ok());
  EXPECT_EQ(manager->Find("seg", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(manager->Find("nope", std::nullopt).status().message(), "unknown model 'nope'");
  EXPECT_TRUE(manager->IsReady());
}

TEST_F(ModelManagerTest, ServingSectionSelectsVersionsAndBatching) {
  AddModel("seg", {1, 2, 3},
           "serving:\n  version_policy: specific:1,3\n  max_batch_size: 4\n"
           "  max_queue_delay_us: 500\n");
  auto manager = Start();
  EXPECT_TRUE(manager->Find("seg", 1).ok());
  EXPECT_FALSE(manager->Find("seg", 2).ok());
  auto v3 = manager->Find("seg", 3);
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ((*v3)->config.scheduler.max_batch_size, 4);
}

TEST_F(ModelManagerTest, BrokenModelIsReportedNotFatal) {
  AddModel("good", {1});
  fs::create_directories(root_ / "broken" / "1");
  std::ofstream(root_ / "broken" / "1" / "model.onnx") << "not onnx";
  auto manager = Start();
  EXPECT_TRUE(manager->Find("good", std::nullopt).ok());
  auto broken = manager->Find("broken", std::nullopt);
  EXPECT_EQ(broken.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(broken.status().message().find("not a valid ONNX model"), std::string::npos)
      << broken.status().message();
  EXPECT_FALSE(manager->IsReady());
  bool listed = false;
  for (const auto& entry : manager->Index()) {
    if (entry.model == "broken") {
      listed = true;
      EXPECT_EQ(entry.state, repository::ModelState::kUnavailable);
    }
  }
  EXPECT_TRUE(listed);
}

TEST_F(ModelManagerTest, UnknownServingKeyFailsTheLoadWithItsName) {
  AddModel("seg", {1}, "serving:\n  max_batch: 4\n");
  auto manager = Start();
  auto r = manager->Find("seg", std::nullopt);
  EXPECT_NE(r.status().message().find("unknown key 'serving.max_batch'"), std::string::npos)
      << r.status().message();
}

TEST_F(ModelManagerTest, ExplicitModeLoadsOnlyWhatIsAskedThenUnloads) {
  AddModel("a", {1});
  AddModel("b", {1});
  auto manager = Start(ModelControlMode::kExplicit, {"a"});
  EXPECT_TRUE(manager->Find("a", std::nullopt).ok());
  EXPECT_EQ(manager->Find("b", std::nullopt).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(manager->LoadModel("b").ok());
  EXPECT_TRUE(manager->Find("b", std::nullopt).ok());
  ASSERT_TRUE(manager->UnloadModel("b").ok());
  EXPECT_EQ(manager->Find("b", std::nullopt).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(manager->UnloadModel("b").code(), StatusCode::kNotFound);
  EXPECT_EQ(manager->LoadModel("zzz").code(), StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, PollPicksUpNewVersionsAndRemovedModels) {
  AddModel("seg", {1});
  AddModel("old", {1});
  auto manager = Start(ModelControlMode::kPoll);
  AddVersion("seg", 2);
  fs::remove_all(root_ / "old");
  AddModel("fresh", {1});
  ASSERT_TRUE(manager->Poll().ok());
  EXPECT_EQ((*manager->Find("seg", std::nullopt))->version, 2);
  EXPECT_EQ(manager->Find("old", std::nullopt).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(manager->Find("fresh", std::nullopt).ok());
}

// Requests accepted before a reload or an unload all complete: none fails because of it.
TEST_F(ModelManagerTest, ReloadAndUnloadNeverFailAcceptedRequests) {
  AddModel("seg", {1}, "serving:\n  max_batch_size: 4\n  max_queue_size: 1000\n");
  auto manager = Start(ModelControlMode::kPoll);
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::promise<void>> done(60);
  for (int i = 0; i < 60; ++i) {
    if (i == 20) {
      AddVersion("seg", 2);
      ASSERT_TRUE(manager->Poll().ok());  // version 1 retires while its requests run
    }
    auto version = manager->Find("seg", std::nullopt);
    ASSERT_TRUE(version.ok()) << version.status().ToString();
    scheduler::InferenceRequest request;
    request.inputs.push_back(*Tensor::Zeros(DType::kFloat32, {1, 1, 32, 32}));
    (*version)->scheduler->Submit(std::move(request), [&, i](Result<std::vector<Tensor>> r) {
      (r.ok() ? ok : failed)++;
      done[static_cast<std::size_t>(i)].set_value();
    });
    if (i == 40) {
      ASSERT_TRUE(manager->UnloadModel("seg").ok());
    }
    if (i >= 40) break;
  }
  for (int i = 0; i <= 40; ++i) done[static_cast<std::size_t>(i)].get_future().wait();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ok.load(), 41);
}

TEST(ServingConfigTest, ParsesAndValidates) {
  auto config = ParseServingConfig(
      "name: m\nserving:\n  version_policy: latest:2\n  max_batch_size: 8\n"
      "  preferred_batch_sizes: [4, 8]\n  max_queue_delay_us: 1000\n  max_queue_size: 16\n"
      "  instance_count: 2\n  timeout_ms: 500\n  adaptive_batch_size: true\n",
      "orbit.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->version_policy.latest_count, 2);
  EXPECT_EQ(config->scheduler.max_batch_size, 8);
  EXPECT_EQ(config->scheduler.preferred_batch_sizes, (std::vector<std::int64_t>{4, 8}));
  EXPECT_EQ(config->scheduler.max_queue_delay, std::chrono::microseconds(1000));
  EXPECT_EQ(config->scheduler.instance_count, 2);
  EXPECT_EQ(config->scheduler.default_timeout, std::chrono::milliseconds(500));
  EXPECT_TRUE(config->scheduler.adaptive_batch_size);
  EXPECT_FALSE(ParseServingConfig("name: m\n", "x")->scheduler.adaptive_batch_size);
  EXPECT_FALSE(ParseServingConfig("serving:\n  adaptive_batch_size: sometimes\n", "x").ok());
  EXPECT_TRUE(ParseServingConfig("name: m\n", "x").ok());
  EXPECT_FALSE(ParseServingConfig("serving:\n  max_batch_size: 0\n", "x").ok());
  EXPECT_FALSE(ParseServingConfig("serving:\n  version_policy: newest\n", "x").ok());
  EXPECT_FALSE(ParseServingConfig("serving: 3\n", "x").ok());
}

}  // namespace
}  // namespace orbit::serving
