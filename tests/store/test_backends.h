// Test support: a fresh database on each back end, so the same cases run on SQLite and on the
// PostgreSQL server that tests/store/with_postgres.sh starts (ORBIT_TEST_POSTGRES_URL).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include "store/database.h"

namespace orbit::store::testing {

enum class Backend { kSqlite, kPostgres };

inline void PrintTo(Backend backend, std::ostream* os) {
  *os << (backend == Backend::kSqlite ? "sqlite" : "postgres");
}

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "sqlite" : "postgres";
}

// A private directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "orbit-store-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Base fixture: url() names an empty database of the back end under test.
class BackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      url_ = "sqlite://" + (dir_.path() / "orbit.db").string();
      return;
    }
    const char* url = std::getenv("ORBIT_TEST_POSTGRES_URL");
    if (url == nullptr || *url == '\0') {
      FAIL() << "ORBIT_TEST_POSTGRES_URL is not set: the PostgreSQL cases run through "
                "tests/store/with_postgres.sh (ctest -R store_postgres), which starts a server";
    }
    url_ = url;
    // Each case starts from an empty schema.
    auto db = Database::Open(url_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->ExecuteScript("DROP SCHEMA public CASCADE; CREATE SCHEMA public;").ok());
  }

  Result<std::unique_ptr<Database>> OpenDb(DatabaseOptions options = {}) {
    return Database::Open(url_, options);
  }

  const std::string& url() const { return url_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string url_;
};

#define ORBIT_INSTANTIATE_BACKENDS(Suite)                                                  \
  INSTANTIATE_TEST_SUITE_P(Sqlite, Suite,                                                  \
                           ::testing::Values(::orbit::store::testing::Backend::kSqlite),   \
                           ::orbit::store::testing::BackendName);                          \
  INSTANTIATE_TEST_SUITE_P(Postgres, Suite,                                                \
                           ::testing::Values(::orbit::store::testing::Backend::kPostgres), \
                           ::orbit::store::testing::BackendName)

}  // namespace orbit::store::testing
