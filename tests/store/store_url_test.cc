#include "store/store_url.h"

#include <gtest/gtest.h>

namespace orbit::store {
namespace {

TEST(StoreUrlTest, DefaultsToSqliteUnderHomeDotOrbit) {
  auto location = ResolveStoreLocation("", "", "/home/ada");
  ASSERT_TRUE(location.ok()) << location.status().ToString();
  EXPECT_EQ(location->data_dir, "/home/ada/.orbit");
  EXPECT_EQ(location->blob_dir, "/home/ada/.orbit/blobs");
  EXPECT_EQ(location->database_url, "sqlite:///home/ada/.orbit/orbit.db");
}

TEST(StoreUrlTest, ExpandsTildeAndKeepsGivenDatabase) {
  auto location = ResolveStoreLocation("~/state/", "postgresql://orbit@db:5432/orbit", "/h");
  ASSERT_TRUE(location.ok()) << location.status().ToString();
  EXPECT_EQ(location->data_dir, "/h/state");
  EXPECT_EQ(location->database_url, "postgresql://orbit@db:5432/orbit");
}

TEST(StoreUrlTest, MakesRelativeDataDirAbsolute) {
  auto location = ResolveStoreLocation("rel/dir", "", "/h");
  ASSERT_TRUE(location.ok());
  EXPECT_TRUE(location->data_dir.is_absolute());
  EXPECT_EQ(location->database_url, "sqlite://" + (location->data_dir / "orbit.db").string());
}

TEST(StoreUrlTest, RefusesTildeWithoutHome) {
  auto location = ResolveStoreLocation("", "", "");
  ASSERT_FALSE(location.ok());
  EXPECT_NE(location.status().message().find("HOME is not set"), std::string::npos);
}

TEST(StoreUrlTest, ParsesEverySupportedForm) {
  EXPECT_EQ(ParseDatabaseUrl("sqlite:///var/orbit/o.db")->target, "/var/orbit/o.db");
  EXPECT_EQ(ParseDatabaseUrl("sqlite://:memory:")->target, ":memory:");
  auto pg = ParseDatabaseUrl("postgres://orbit:hunter2@db/orbit");
  ASSERT_TRUE(pg.ok());
  EXPECT_EQ(pg->dialect, Dialect::kPostgres);
  EXPECT_EQ(pg->display, "postgres://orbit:***@db/orbit");
  auto conninfo = ParseDatabaseUrl("host=db dbname=orbit password=hunter2");
  ASSERT_TRUE(conninfo.ok());
  EXPECT_EQ(conninfo->dialect, Dialect::kPostgres);
  EXPECT_EQ(conninfo->display, "host=db dbname=orbit password=***");
}

TEST(StoreUrlTest, RejectsBadUrlsSayingWhatWasExpected) {
  for (const char* bad :
       {"", "sqlite://relative.db", "sqlite:///", "mysql://db/orbit", "orbit.db"}) {
    auto parsed = ParseDatabaseUrl(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(parsed.status().message().find("sqlite:"), std::string::npos)
        << parsed.status().message();
  }
  auto location = ResolveStoreLocation("/d", "mysql://x:pw@db/orbit", "/h");
  ASSERT_FALSE(location.ok());
  EXPECT_NE(location.status().message().find("scheme 'mysql'"), std::string::npos);
  EXPECT_EQ(location.status().message().find("pw@"), std::string::npos);
}

}  // namespace
}  // namespace orbit::store
