// The registry's invariant: 16 concurrent writers registering versions of one model get 1..N,
// unique and gapless, including when some registrations roll back after taking a number.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/schema.h"
#include "test_backends.h"

namespace orbit::store {
namespace {

using testing::BackendTest;

constexpr int kWriters = 16;
constexpr int kPerWriter = 20;

class VersionNumbersTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (HasFatalFailure()) return;
    DatabaseOptions options;
    options.max_connections = kWriters;
    auto db = OpenDb(options);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto migrated = ApplyMigrations(*db_, OrbitMigrations());
    ASSERT_TRUE(migrated.ok()) << migrated.status().ToString();
    ASSERT_TRUE(db_->Execute("INSERT INTO blobs (sha256, size_bytes, created_at_ms) "
                             "VALUES (?, 1, 1)",
                             {kSha})
                    .ok());
    auto model = db_->Query(
        "INSERT INTO registered_models (name, created_at_ms, updated_at_ms) "
        "VALUES ('cellseg', 1, 1) RETURNING id");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_id_ = (*model)[0][0].AsInt64();
  }

  // One registration as the registry will do it: allocate, insert, commit. `fail_after_allocate`
  // simulates an error (or a crash) after the number was taken.
  static Status Register(Database& db, std::int64_t model_id, bool fail_after_allocate) {
    return db.InTransaction([&](Sql& sql) -> Status {
      ORBIT_ASSIGN_OR_RETURN(std::int64_t version, AllocateModelVersion(sql, model_id, 2));
      ORBIT_ASSIGN_OR_RETURN(
          std::int64_t n,
          sql.Execute("INSERT INTO model_versions (model_id, version, blob_sha256, created_at_ms) "
                      "VALUES (?, ?, ?, ?)",
                      {model_id, version, kSha, 2}));
      (void)n;
      if (fail_after_allocate) return InternalError("simulated failure after allocation");
      return Status::Ok();
    });
  }

  void ExpectVersionsOneTo(std::int64_t n) {
    auto rows = db_->Query("SELECT version FROM model_versions WHERE model_id = ? ORDER BY version",
                           {model_id_});
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    ASSERT_EQ(static_cast<std::int64_t>(rows->size()), n);
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_EQ((*rows)[static_cast<std::size_t>(i)][0].AsInt64(), i + 1) << "gap or repeat";
    }
    auto next = db_->Query("SELECT next_version FROM registered_models WHERE id = ?", {model_id_});
    ASSERT_TRUE(next.ok());
    EXPECT_EQ((*next)[0][0].AsInt64(), n + 1);
  }

  static constexpr const char* kSha =
      "0000000000000000000000000000000000000000000000000000000000000001";
  std::unique_ptr<Database> db_;
  std::int64_t model_id_ = 0;
};

TEST_P(VersionNumbersTest, SixteenConcurrentWritersGetGaplessUniqueVersions) {
  std::atomic<int> committed{0};
  std::vector<std::string> errors;
  std::mutex errors_mu;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const bool fail = (w * kPerWriter + i) % 7 == 3;  // some roll back after allocating
        Status status = Register(*db_, model_id_, fail);
        if (status.ok()) {
          ++committed;
        } else if (!fail) {
          std::lock_guard lock(errors_mu);
          errors.push_back(status.ToString());
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_GT(committed.load(), kWriters * kPerWriter * 5 / 6);
  ExpectVersionsOneTo(committed.load());
}

TEST_P(VersionNumbersTest, SixteenIndependentHandlesGetGaplessUniqueVersions) {
  // Like 16 server processes: each has its own Database, so SQLite writers meet on the file lock
  // (busy timeout) instead of the in-process writer mutex.
  std::atomic<int> committed{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      DatabaseOptions options;
      options.max_connections = 1;
      auto db = OpenDb(options);
      if (!db.ok()) {
        ++failures;
        return;
      }
      for (int i = 0; i < kPerWriter / 2; ++i) {
        Status status = Register(**db, model_id_, false);
        status.ok() ? ++committed : ++failures;
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectVersionsOneTo(committed.load());
}

TEST_P(VersionNumbersTest, AllocationForMissingModelIsNotFound) {
  Status status = db_->InTransaction(
      [](Sql& sql) -> Status { return AllocateModelVersion(sql, 424242, 1).status(); });
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.ToString();
}

ORBIT_INSTANTIATE_BACKENDS(VersionNumbersTest);

}  // namespace
}  // namespace orbit::store
