// The registry's reliability promises under concurrency, on both back ends, with one Database
// handle per thread (as separate server processes would have): 16 registrants of one model get
// gapless unique versions and a reader never sees a half-registered one; 16 alias movers leave
// a consistent alias and one history row per move.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "registry_fixture.h"

namespace orbit::registry {
namespace {

constexpr int kThreads = 16;

class ConcurrencyTest : public testing::RegistryTest {
 protected:
  std::unique_ptr<store::Database> OpenHandle() {
    store::DatabaseOptions options;
    options.max_connections = 2;
    options.max_transaction_attempts = 50;
    auto db = OpenDb(options);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }
};

TEST_P(ConcurrencyTest, SixteenRegistrantsGetGaplessVersionsAndNoHalfRegisteredOneIsVisible) {
  constexpr int kPerThread = 3;
  const std::string sha = PutSourceFile("tests/runtime/data/conv_dynamic.onnx");
  std::vector<std::unique_ptr<store::Database>> handles;
  for (int i = 0; i < kThreads; ++i) handles.push_back(OpenHandle());
  std::atomic<bool> done{false};
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::int64_t> numbers;

  // A reader that checks, while registrations run, that every visible version is complete and
  // that the visible versions are 1..k.
  std::thread reader([&] {
    auto db = OpenHandle();
    ModelRegistry registry(*db, *artifacts_);
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      auto versions = registry.ListVersions("cellseg");
      if (!versions.ok()) continue;  // the model may not exist yet
      for (std::size_t i = 0; i < versions->size(); ++i) {
        const ModelVersion& v = (*versions)[i];
        if (v.version != static_cast<std::int64_t>(i) + 1 || v.signature.inputs.empty() ||
            v.blob_sha256 != sha) {
          std::lock_guard lock(mu);
          errors.push_back("reader saw an incomplete or out-of-order version " +
                           std::to_string(v.version));
        }
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      ModelRegistry registry(*handles[static_cast<std::size_t>(t)], *artifacts_);
      for (int i = 0; i < kPerThread; ++i) {
        NewModelVersion request;
        request.model = "cellseg";  // created by whichever registration comes first
        request.blob_sha256 = sha;
        request.user = "writer" + std::to_string(t);
        auto version = registry.RegisterVersion(request);
        std::lock_guard lock(mu);
        if (version.ok()) {
          numbers.push_back(version->version);
        } else {
          errors.push_back(version.status().ToString());
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_THAT(errors, ::testing::IsEmpty());
  std::sort(numbers.begin(), numbers.end());
  ASSERT_EQ(numbers.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    ASSERT_EQ(numbers[i], static_cast<std::int64_t>(i) + 1) << "gap or repeat";
  }
  auto versions = registry_->ListVersions("cellseg");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), numbers.size());
}

TEST_P(ConcurrencyTest, ConcurrentAliasMovesLeaveAConsistentAliasAndOneHistoryRowPerMove) {
  constexpr int kMovesPerThread = 5;
  constexpr int kVersions = 4;
  NewModelVersion request;
  request.model = "cellseg";
  request.blob_sha256 = PutSourceFile("tests/runtime/data/conv_dynamic.onnx");
  for (int i = 0; i < kVersions; ++i) ASSERT_TRUE(registry_->RegisterVersion(request).ok());
  std::vector<std::unique_ptr<store::Database>> handles;
  for (int i = 0; i < kThreads; ++i) handles.push_back(OpenHandle());
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> movers;
  for (int t = 0; t < kThreads; ++t) {
    movers.emplace_back([&, t] {
      ModelRegistry registry(*handles[static_cast<std::size_t>(t)], *artifacts_);
      for (int i = 0; i < kMovesPerThread; ++i) {
        const std::int64_t version = 1 + (t + i) % kVersions;
        auto moved =
            registry.SetAlias("cellseg", "production", version, "mover" + std::to_string(t));
        if (!moved.ok()) {
          std::lock_guard lock(mu);
          errors.push_back(moved.status().ToString());
        }
      }
    });
  }
  for (auto& m : movers) m.join();
  EXPECT_THAT(errors, ::testing::IsEmpty());
  auto history = registry_->AliasHistory("cellseg", "production");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), static_cast<std::size_t>(kThreads * kMovesPerThread));
  // Each move started where the previous one ended: no move was lost or interleaved.
  EXPECT_EQ((*history)[0].from_version, std::nullopt);
  for (std::size_t i = 1; i < history->size(); ++i) {
    ASSERT_EQ((*history)[i].from_version, (*history)[i - 1].to_version) << "move " << i;
  }
  auto alias = registry_->GetAlias("cellseg", "production");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias->version, history->back().to_version);
  EXPECT_EQ(alias->moved_by, history->back().moved_by);
}

ORBIT_INSTANTIATE_BACKENDS(ConcurrencyTest);

}  // namespace
}  // namespace orbit::registry
