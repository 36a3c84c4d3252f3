#include "store/migrations.h"

#include <gtest/gtest.h>

#include "store/schema.h"
#include "test_backends.h"

namespace orbit::store {
namespace {

using testing::BackendTest;

class MigrationsTest : public BackendTest {
 protected:
  std::unique_ptr<Database> Open() {
    auto db = OpenDb();
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  static std::vector<Migration> TwoMigrations() {
    return {{1, "widgets", "CREATE TABLE widgets (id {{id}}, name TEXT NOT NULL)"},
            {2, "widget colour", "ALTER TABLE widgets ADD COLUMN colour TEXT"}};
  }
};

TEST_P(MigrationsTest, AppliesEachMigrationOnceAndIsIdempotentOnReopen) {
  {
    auto db = Open();
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(SchemaVersion(*db).value(), 0);
    auto first = ApplyMigrations(*db, TwoMigrations());
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->version_before, 0);
    EXPECT_EQ(first->version_after, 2);
    EXPECT_EQ(first->applied, (std::vector<int>{1, 2}));
    ASSERT_TRUE(db->Execute("INSERT INTO widgets (name, colour) VALUES ('w', 'red')").ok());
  }
  auto db = Open();  // a restart
  ASSERT_NE(db, nullptr);
  auto again = ApplyMigrations(*db, TwoMigrations());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->version_before, 2);
  auto rows = db->Query(
      "SELECT version, name, checksum, applied_at_ms FROM schema_migrations "
      "ORDER BY version");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1][1].AsText(), "widget colour");
  EXPECT_EQ((*rows)[1][2].AsText(), MigrationChecksum(TwoMigrations()[1]));
  EXPECT_GT((*rows)[1][3].AsInt64(), 0);
  EXPECT_EQ(db->Query("SELECT COUNT(*) FROM widgets").value()[0][0].AsInt64(), 1);
}

TEST_P(MigrationsTest, AppliesOnlyTheNewMigrationsOfAnUpgrade) {
  auto db = Open();
  ASSERT_NE(db, nullptr);
  auto old = TwoMigrations();
  old.pop_back();
  ASSERT_TRUE(ApplyMigrations(*db, old).ok());
  auto upgrade = ApplyMigrations(*db, TwoMigrations());
  ASSERT_TRUE(upgrade.ok()) << upgrade.status().ToString();
  EXPECT_EQ(upgrade->applied, (std::vector<int>{2}));
  EXPECT_EQ(SchemaVersion(*db).value(), 2);
}

TEST_P(MigrationsTest, RefusesDatabaseFromNewerOrbit) {
  auto db = Open();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ApplyMigrations(*db, TwoMigrations()).ok());
  auto older = TwoMigrations();
  older.pop_back();
  auto refused = ApplyMigrations(*db, older);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("newer than this Orbit"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("schema version 2"), std::string::npos);
}

TEST_P(MigrationsTest, DetectsMigrationEditedAfterItWasApplied) {
  auto db = Open();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ApplyMigrations(*db, TwoMigrations()).ok());
  auto edited = TwoMigrations();
  edited[0].sql += ";  CREATE INDEX widgets_by_name ON widgets (name)";
  auto refused = ApplyMigrations(*db, edited);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("migration 1 'widgets' was changed"), std::string::npos)
      << refused.status().message();
}

TEST_P(MigrationsTest, FailedMigrationLeavesSchemaAtPreviousVersion) {
  auto db = Open();
  ASSERT_NE(db, nullptr);
  auto broken = TwoMigrations();
  broken[1].sql = "CREATE TABLE gadgets (id BIGINT); ALTER TABLE no_such_table ADD COLUMN x TEXT";
  auto failed = ApplyMigrations(*db, broken);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("migration 2 'widget colour'"), std::string::npos)
      << failed.status().message();
  EXPECT_EQ(SchemaVersion(*db).value(), 1);
  EXPECT_FALSE(db->Query("SELECT * FROM gadgets").ok());  // rolled back with its migration
  auto fixed = ApplyMigrations(*db, TwoMigrations());
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_EQ(fixed->applied, (std::vector<int>{2}));
}

TEST_P(MigrationsTest, ConcurrentStartsApplyEachMigrationOnce) {
  std::vector<std::thread> threads;
  std::vector<Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto db = OpenDb();
      if (!db.ok()) {
        results[i] = db.status();
        return;
      }
      results[i] = ApplyMigrations(**db, OrbitMigrations()).status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  auto db = Open();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->Query("SELECT COUNT(*) FROM schema_migrations").value()[0][0].AsInt64(),
            static_cast<std::int64_t>(OrbitMigrations().size()));
}

TEST_P(MigrationsTest, OrbitSchemaEnforcesRegistryConstraints) {
  auto db = Open();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ApplyMigrations(*db, OrbitMigrations()).ok());
  const std::string sha(64, 'a');
  ASSERT_TRUE(db->Execute("INSERT INTO blobs (sha256, size_bytes, created_at_ms) VALUES (?, ?, ?)",
                          {sha, 10, 1})
                  .ok());
  auto model = db->Query(
      "INSERT INTO registered_models (name, created_at_ms, updated_at_ms) VALUES (?, ?, ?) "
      "RETURNING id",
      {"cellseg", 1, 1});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::int64_t id = (*model)[0][0].AsInt64();
  const char* insert_version =
      "INSERT INTO model_versions (model_id, version, blob_sha256, created_at_ms) "
      "VALUES (?, ?, ?, ?)";
  ASSERT_TRUE(db->Execute(insert_version, {id, 1, sha, 1}).ok());
  EXPECT_EQ(db->Execute(insert_version, {id, 1, sha, 2}).status().code(),
            StatusCode::kAlreadyExists);  // UNIQUE (model, version)
  EXPECT_EQ(db->Execute(insert_version, {id, 2, std::string(64, 'b'), 2}).status().code(),
            StatusCode::kFailedPrecondition);  // the blob must be tracked first
  EXPECT_EQ(db->Execute("INSERT INTO model_aliases (model_id, alias, version, moved_at_ms) "
                        "VALUES (?, ?, ?, ?)",
                        {id, "production", 9, 1})
                .status()
                .code(),
            StatusCode::kFailedPrecondition);  // an alias points at an existing version
  auto referenced = ReferencedBlobs(*db);
  ASSERT_TRUE(referenced.ok()) << referenced.status().ToString();
  EXPECT_EQ(*referenced, (std::set<std::string>{sha}));
}

ORBIT_INSTANTIATE_BACKENDS(MigrationsTest);

}  // namespace
}  // namespace orbit::store
