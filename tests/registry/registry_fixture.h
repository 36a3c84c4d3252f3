// Test support: a migrated database on each back end (store's BackendTest), an artifact store in
// a temp dir, a manual clock, and Tracking/ModelRegistry over them.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "core/file.h"
#include "registry/model_registry.h"
#include "registry/tracking.h"
#include "store/schema.h"
#include "store/test_backends.h"

namespace orbit::registry::testing {

// Starts at 1,700,000,000,000 ms and advances 1 ms per reading, so every event has a distinct,
// predictable time.
class ManualClock {
 public:
  store::Clock AsClock() {
    return [this] {
      return std::chrono::system_clock::time_point(std::chrono::milliseconds(now_ms_++));
    };
  }
  std::atomic<std::int64_t> now_ms_{1'700'000'000'000};
};

inline std::filesystem::path SourcePath(const std::string& relative) {
  return std::filesystem::path(ORBIT_SOURCE_DIR) / relative;
}

class RegistryTest : public store::testing::BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (HasFatalFailure()) return;
    store::DatabaseOptions options;
    options.max_connections = 4;
    auto db = OpenDb(options);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto migrated = store::ApplyMigrations(*db_, store::OrbitMigrations());
    ASSERT_TRUE(migrated.ok()) << migrated.status().ToString();
    auto artifacts = store::ArtifactStore::Open(dir().path() / "blobs");
    ASSERT_TRUE(artifacts.ok()) << artifacts.status().ToString();
    artifacts_ = std::move(artifacts).value();
    tracking_ = std::make_unique<Tracking>(*db_, *artifacts_, clock_.AsClock());
    registry_ = std::make_unique<ModelRegistry>(*db_, *artifacts_, clock_.AsClock());
  }

  // Puts a file of the source tree into the artifact store; returns its digest.
  std::string PutSourceFile(const std::string& relative) {
    auto blob = artifacts_->PutFile(SourcePath(relative));
    EXPECT_TRUE(blob.ok()) << blob.status().ToString();
    return blob.ok() ? blob->sha256 : std::string();
  }

  std::string ReadSourceFile(const std::string& relative) {
    auto text = ReadFileBytes(SourcePath(relative));
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? *text : std::string();
  }

  ManualClock clock_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::ArtifactStore> artifacts_;
  std::unique_ptr<Tracking> tracking_;
  std::unique_ptr<ModelRegistry> registry_;
};

}  // namespace orbit::registry::testing
