#include "repository/model_repository.h"

#include <gtest/gtest.h>

#include <fstream>

namespace orbit::repository {
namespace {
namespace fs = std::filesystem;

TEST(VersionPolicyTest, ParsesEveryForm) {
  auto latest = ParseVersionPolicy("latest:3");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(latest->latest_count, 3);
  EXPECT_EQ(ParseVersionPolicy("latest")->latest_count, 1);
  EXPECT_EQ(ParseVersionPolicy("all")->kind, VersionPolicy::Kind::kAll);
  auto specific = ParseVersionPolicy("specific:3,1,3");
  ASSERT_TRUE(specific.ok());
  EXPECT_EQ(specific->versions, (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(specific->ToString(), "specific [1, 3]");
}

TEST(VersionPolicyTest, RejectsMalformedPolicies) {
  for (const char* text :
       {"latest:0", "latest:x", "specific:", "specific:1,,2", "specific:-1", "newest:1", ""}) {
    auto r = ParseVersionPolicy(text);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
  }
  EXPECT_NE(ParseVersionPolicy("newest:1").status().message().find("unknown kind 'newest'"),
            std::string::npos);
}

TEST(VersionPolicyTest, SelectsLatestAllAndSpecificVersions) {
  const std::vector<std::int64_t> on_disk = {1, 2, 5, 9};
  EXPECT_EQ(SelectVersions(on_disk, *ParseVersionPolicy("latest:2")),
            (std::vector<std::int64_t>{5, 9}));
  EXPECT_EQ(SelectVersions(on_disk, *ParseVersionPolicy("latest:10")), on_disk);
  EXPECT_EQ(SelectVersions(on_disk, *ParseVersionPolicy("all")), on_disk);
  EXPECT_EQ(SelectVersions(on_disk, *ParseVersionPolicy("specific:2,3,9")),
            (std::vector<std::int64_t>{2, 9}));
  EXPECT_TRUE(SelectVersions({}, VersionPolicy{}).empty());
}

TEST(ScanRepositoryTest, FindsModelsAndNumericVersionsWithModelFiles) {
  const fs::path root = fs::temp_directory_path() / ("orbit_scan_" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto touch = [&](const fs::path& p) {
    fs::create_directories((root / p).parent_path());
    std::ofstream(root / p) << "x";
  };
  touch("cellseg/orbit.yaml");
  touch("cellseg/1/model.onnx");
  touch("cellseg/10/model.onnx");
  touch("cellseg/2/notes.txt");        // no model.onnx: not a version
  touch("cellseg/latest/model.onnx");  // not numeric: not a version
  touch("empty/readme.md");
  touch(".partial/1/model.onnx");  // hidden: skipped
  auto models = ScanRepository(root);
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ(models->at("cellseg").versions, (std::vector<std::int64_t>{1, 10}));
  EXPECT_TRUE(models->at("cellseg").has_recipe);
  EXPECT_TRUE(models->at("empty").versions.empty());
  fs::remove_all(root);
  EXPECT_EQ(ScanRepository(root).status().code(), StatusCode::kNotFound);
}

TEST(ModelStateTest, AllowsOnlyTheLifecycleTransitions) {
  using S = ModelState;
  const S all[] = {S::kUnavailable, S::kLoading, S::kReady, S::kUnloading};
  int legal = 0;
  for (S from : all) {
    for (S to : all) {
      if (ValidateTransition(from, to).ok()) ++legal;
    }
  }
  EXPECT_EQ(legal, 5);
  EXPECT_TRUE(ValidateTransition(S::kLoading, S::kUnavailable).ok());  // failed load
  const Status illegal = ValidateTransition(S::kReady, S::kLoading);
  EXPECT_EQ(illegal.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(illegal.message(), "illegal model state transition READY -> LOADING");
}

}  // namespace
}  // namespace orbit::repository
